// Package evaluate compares a candidate model with the current champion on
// the same held-out rows and decides whether the candidate may replace it.
// It is the pipeline's evaluate and gate steps and the model page's
// "Compare with champion".
//
// # What is compared
//
// Both models score the same rows in-process (Load): Tern's built-in models
// through their own preprocessing, imported XGBoost and LightGBM models
// through backend/gbdt, as the model server scores them. A model a user's
// image wrote is scored the same way when it is in one of those formats;
// pickled Python models (sklearn, python_function) are refused in words,
// because Tern does not run Python to serve them.
//
// Metrics are backend/ml's, the ones training reports: for classification
// roc_auc, accuracy, log_loss and f1 (ml.ScoreClassifier); for regression
// rmse, mae and r2 (ml.EvaluateRegressor). For each, the report gives the
// champion's value, the candidate's, the difference candidate − champion,
// and a confidence interval of that difference.
//
// # Which rows (the holdout)
//
// Service.Compare picks the rows from a dataset version:
//   - by default the candidate's own training dataset version, split exactly
//     as the candidate's run split it (ml.Holdout: the run's target, test
//     fraction and seed, stratified by class), so the rows are the ones the
//     candidate was tested on and never trained on;
//   - every labelled row of the version when the caller names another
//     dataset version (new data neither model trained on) or asks AllRows.
//
// The report says in words which rows they were and warns when one model
// has seen them: a champion trained on the same version with another split,
// or a candidate refit on all rows.
//
// # The interval: paired bootstrap, percentile
//
// Each replicate draws n row indices with replacement (PCG seeded by
// Options.Seed, so a comparison is repeatable) and scores both models on
// the same indices; the difference of the two metric values is one draw
// of the difference's sampling distribution. Pairing matters: both models
// err on the same hard rows, so resampling them together cancels that
// shared noise and the interval is much narrower than two separate ones.
//
// The interval is the percentile interval: the (1−c)/2 and (1+c)/2
// quantiles of the replicate differences, interpolated linearly between
// order statistics as numpy.percentile does by default. Percentile rather
// than the normal approximation because differences of bounded metrics
// (AUC near 1, accuracy) are skewed and the percentile interval follows the
// skew and stays inside the metric's range; rather than BCa because BCa's
// acceleration needs a jackknife — n more evaluations of every metric —
// and at a few hundred held-out rows and 1000 replicates the percentile
// interval's coverage is close enough for a gate. A replicate whose
// resample makes a metric undefined (AUC when the draw holds one class) is
// left out of that metric's interval; Interval.Replicates says how many
// counted.
//
// # The gate
//
// Gate checks rules against a report: bounds on the candidate's own value
// (MinCandidate, MaxCandidate) and margins the whole interval of the
// difference must clear (DiffAbove: its low end above the margin, e.g.
// AUC's above −0.005, "no worse than half a point with 95 % confidence";
// DiffBelow: its high end below, for metrics where lower is better). The
// verdict is pass only when every rule passes, with a sentence naming the
// figures.
package evaluate
