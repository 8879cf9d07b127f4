// Package fairness computes group fairness figures of a model's predictions:
// for each protected column (and, when asked, each pair of them) the rows of
// every group, its selection rate, accuracy, true and false positive rates,
// precision and base rate (classifiers) or MAE and RMSE (regressors), and
// the disparities fairlearn defines between the groups: demographic parity,
// equalized odds and equal opportunity, each as a difference and a ratio.
//
// The figures follow fairlearn 0.15's definitions exactly (MetricFrame and
// its metric functions, checked against pip fairlearn in the tests):
// rates whose denominator is empty are 0, as scikit-learn's normalised
// confusion matrix makes them; a pair of columns has a group for every
// combination of their values, and a combination with no rows takes no part
// in a disparity, as fairlearn's NaN does. Two choices are Tern's own and
// are documented where they apply: a missing protected value is a group of
// its own, "(missing)" (fairlearn refuses missing values), and groups with
// fewer rows than the minimum group size are shown as "too few rows" and
// left out of the disparities, so that three rows cannot decide a verdict.
//
// Frame is the pure computation; Service.Assess is what a screen or a
// pipeline gate calls: the figures of model version V on dataset version D
// for protected columns P, with a worded verdict against the user's limits.
package fairness
