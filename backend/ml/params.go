package ml

import (
	"math"

	"github.com/tern-studio/tern/backend/core"
)

// Params are everything a training run is told: which column to predict,
// which model, and its hyper-parameters. Zero values mean "default";
// WithDefaults fills them in one place.
type Params struct {
	Target       string   `json:"target"`
	Task         string   `json:"task,omitempty"`  // classification, regression or "" (inferred)
	Model        string   `json:"model,omitempty"` // gbdt (default), logistic, linear
	Features     []string `json:"features,omitempty"`
	TestFraction float64  `json:"test_fraction,omitempty"`
	Seed         uint64   `json:"seed,omitempty"`
	// Refit, after the held-out evaluation, fits the model again on every
	// labelled row, so the model that is deployed has seen them all; the
	// evaluation stays the split model's.
	Refit bool `json:"refit,omitempty"`

	// Logistic regression: inverse regularisation strength (as scikit-learn).
	C float64 `json:"C,omitempty"`
	// Linear regression: L2 penalty (as scikit-learn's Ridge).
	Alpha float64 `json:"alpha,omitempty"`
	// Iterations: L-BFGS steps (logistic) or boosting rounds (gbdt).
	MaxIter int `json:"max_iter,omitempty"`

	// Gradient boosting (defaults as scikit-learn's HistGradientBoosting*).
	LearningRate       float64 `json:"learning_rate,omitempty"`
	MaxLeafNodes       int     `json:"max_leaf_nodes,omitempty"`
	MaxDepth           int     `json:"max_depth,omitempty"`
	MinSamplesLeaf     int     `json:"min_samples_leaf,omitempty"`
	L2Regularization   float64 `json:"l2_regularization,omitempty"`
	MaxBins            int     `json:"max_bins,omitempty"`
	EarlyStopping      string  `json:"early_stopping,omitempty"` // auto (on above 10 000 rows), on, off
	ValidationFraction float64 `json:"validation_fraction,omitempty"`
	NIterNoChange      int     `json:"n_iter_no_change,omitempty"`
}

// WithDefaults returns p with every unset field given its default, or an
// Invalid error naming the first field out of range.
func (p Params) WithDefaults() (Params, error) {
	if p.Model == "" {
		p.Model = AlgoGBDT
	}
	switch p.Model {
	case AlgoGBDT, AlgoLogistic, AlgoLinear:
	default:
		return p, core.Errorf(core.Invalid, "Unknown model %q: choose gbdt, logistic or linear.", p.Model)
	}
	switch p.Task {
	case "", Classification, Regression:
	default:
		return p, core.Errorf(core.Invalid, "Unknown task %q: choose classification or regression.", p.Task)
	}
	if p.Model == AlgoLogistic && p.Task == Regression {
		return p, core.Errorf(core.Invalid, "Logistic regression is a classifier; pick linear or gbdt for regression.")
	}
	if p.Model == AlgoLinear && p.Task == Classification {
		return p, core.Errorf(core.Invalid, "Linear regression predicts numbers; pick logistic or gbdt for classification.")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.TestFraction, 0.2)
	if p.Seed == 0 {
		p.Seed = 42
	}
	def(&p.C, 1)
	def(&p.Alpha, 1)
	if p.Model == AlgoLogistic {
		defi(&p.MaxIter, 100)
	} else {
		defi(&p.MaxIter, 100)
	}
	def(&p.LearningRate, 0.1)
	defi(&p.MaxLeafNodes, 31)
	defi(&p.MinSamplesLeaf, 20)
	defi(&p.MaxBins, 255)
	if p.EarlyStopping == "" {
		p.EarlyStopping = "auto"
	}
	def(&p.ValidationFraction, 0.1)
	defi(&p.NIterNoChange, 10)
	checks := []struct {
		ok    bool
		field string
		why   string
	}{
		{p.Target != "", "target", "name the column to predict"},
		{p.TestFraction > 0 && p.TestFraction < 0.9, "test_fraction", "must be between 0 and 0.9"},
		{p.C > 0 && !math.IsInf(p.C, 0), "C", "must be a positive number"},
		{p.Alpha >= 0 && !math.IsInf(p.Alpha, 0), "alpha", "must be zero or positive"},
		{p.MaxIter > 0 && p.MaxIter <= 10000, "max_iter", "must be between 1 and 10000"},
		{p.LearningRate > 0 && p.LearningRate <= 1, "learning_rate", "must be in (0, 1]"},
		{p.MaxLeafNodes >= 2 && p.MaxLeafNodes <= 4096, "max_leaf_nodes", "must be between 2 and 4096"},
		{p.MaxDepth >= 0 && p.MaxDepth <= 64, "max_depth", "must be between 0 (unlimited) and 64"},
		{p.MinSamplesLeaf >= 1, "min_samples_leaf", "must be at least 1"},
		{p.L2Regularization >= 0, "l2_regularization", "must be zero or positive"},
		{p.MaxBins >= 2 && p.MaxBins <= 255, "max_bins", "must be between 2 and 255"},
		{p.EarlyStopping == "auto" || p.EarlyStopping == "on" || p.EarlyStopping == "off", "early_stopping", "must be auto, on or off"},
		{p.ValidationFraction > 0 && p.ValidationFraction < 0.9, "validation_fraction", "must be between 0 and 0.9"},
		{p.NIterNoChange >= 1, "n_iter_no_change", "must be at least 1"},
	}
	for _, c := range checks {
		if !c.ok {
			return p, core.Errorf(core.Invalid, "Parameter %s %s.", c.field, c.why)
		}
	}
	return p, nil
}

// ParamSpec describes one hyper-parameter for a generated form.
type ParamSpec struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Type    string   `json:"type"` // number, integer, choice
	Default any      `json:"default"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Choices []string `json:"choices,omitempty"`
	Help    string   `json:"help"`
}

// ModelSpec is one built-in model and its parameters.
type ModelSpec struct {
	Name   string      `json:"name"`
	Label  string      `json:"label"`
	Tasks  []string    `json:"tasks"`
	Params []ParamSpec `json:"params"`
}

func f64(v float64) *float64 { return &v }

// Models lists the built-in models with their parameter schemas; the UI
// renders its form from this.
func Models() []ModelSpec {
	common := []ParamSpec{
		{Name: "test_fraction", Label: "Test fraction", Type: "number", Default: 0.2, Min: f64(0.05), Max: f64(0.5), Help: "Share of rows held out to evaluate the model."},
		{Name: "seed", Label: "Random seed", Type: "integer", Default: 42, Min: f64(1), Help: "Same seed, same split, same model."},
	}
	return []ModelSpec{
		{Name: AlgoGBDT, Label: "Gradient-boosted trees", Tasks: []string{Classification, Regression}, Params: append([]ParamSpec{
			{Name: "learning_rate", Label: "Learning rate", Type: "number", Default: 0.1, Min: f64(0.001), Max: f64(1), Help: "Shrinks each tree's contribution."},
			{Name: "max_iter", Label: "Boosting rounds", Type: "integer", Default: 100, Min: f64(1), Max: f64(10000), Help: "Upper bound on trees (per class)."},
			{Name: "max_leaf_nodes", Label: "Leaves per tree", Type: "integer", Default: 31, Min: f64(2), Max: f64(4096), Help: "Tree size."},
			{Name: "max_depth", Label: "Max depth", Type: "integer", Default: 0, Min: f64(0), Max: f64(64), Help: "0 means unlimited."},
			{Name: "min_samples_leaf", Label: "Min rows per leaf", Type: "integer", Default: 20, Min: f64(1), Help: "Larger is smoother."},
			{Name: "l2_regularization", Label: "L2 regularisation", Type: "number", Default: 0.0, Min: f64(0), Help: "Penalty on leaf values."},
			{Name: "max_bins", Label: "Bins per feature", Type: "integer", Default: 255, Min: f64(2), Max: f64(255), Help: "Histogram resolution of numeric features."},
			{Name: "early_stopping", Label: "Early stopping", Type: "choice", Default: "auto", Choices: []string{"auto", "on", "off"}, Help: "Stop when the validation loss stops improving (auto: above 10 000 rows)."},
			{Name: "validation_fraction", Label: "Validation fraction", Type: "number", Default: 0.1, Min: f64(0.05), Max: f64(0.5), Help: "Share of training rows used for early stopping."},
			{Name: "n_iter_no_change", Label: "Patience", Type: "integer", Default: 10, Min: f64(1), Help: "Rounds without improvement before stopping."},
		}, common...)},
		{Name: AlgoLogistic, Label: "Logistic regression", Tasks: []string{Classification}, Params: append([]ParamSpec{
			{Name: "C", Label: "C (inverse regularisation)", Type: "number", Default: 1.0, Min: f64(1e-6), Help: "Smaller is a stronger L2 penalty."},
			{Name: "max_iter", Label: "Max iterations", Type: "integer", Default: 100, Min: f64(1), Max: f64(10000), Help: "L-BFGS iterations."},
		}, common...)},
		{Name: AlgoLinear, Label: "Linear regression (ridge)", Tasks: []string{Regression}, Params: append([]ParamSpec{
			{Name: "alpha", Label: "Alpha (L2 penalty)", Type: "number", Default: 1.0, Min: f64(0), Help: "0 is ordinary least squares."},
		}, common...)},
	}
}
