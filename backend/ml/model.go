package ml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// Tasks.
const (
	Classification = "classification"
	Regression     = "regression"
)

// Algorithms.
const (
	AlgoLogistic = "logistic"
	AlgoLinear   = "linear"
	AlgoGBDT     = "gbdt"
)

// FormatName and FormatVersion identify model.json; DecodeModel refuses
// others. The directory around it (MLmodel, input example) is
// backend/modelfmt's.
const (
	FormatName    = "tern-model"
	FormatVersion = 1
)

// Model is a trained model: its preprocessing and estimator, ready to score.
type Model struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	Task      string `json:"task"`
	Algorithm string `json:"algorithm"`
	Target    string `json:"target"`
	// Classes are the class labels (classification), index = probability
	// column; NumericClasses says the target column was numeric, so labels
	// are returned as numbers.
	Classes        []string      `json:"classes,omitempty"`
	NumericClasses bool          `json:"numeric_classes,omitempty"`
	Params         Params        `json:"params"`
	Prep           *Preprocessor `json:"preprocessing"`
	Linear         *Linear       `json:"linear,omitempty"`
	GBDT           *GBDT         `json:"gbdt,omitempty"`
	// CreatedAt is when the model was fitted. It is written to MLmodel's
	// utc_time_created only, never to model.json, so the model file is a
	// function of the data, the parameters and the seed alone: a re-run
	// gives a bit-identical file.
	CreatedAt time.Time `json:"-"`
}

// InputNames lists the input columns the model needs, in order.
func (m *Model) InputNames() []string {
	names := make([]string, len(m.Prep.Features))
	for i, f := range m.Prep.Features {
		names[i] = f.Name
	}
	return names
}

// Prediction is the model's answer for one row. For classification Label is
// the predicted class (a number when the target was numeric, else a string),
// Probabilities follow Model.Classes, and Value is the probability of the
// positive class (Classes[1]) for binary problems or of the predicted class
// otherwise. For regression Value is the prediction.
type Prediction struct {
	Label         any       `json:"label,omitempty"`
	Value         float64   `json:"value"`
	Probabilities []float64 `json:"probabilities,omitempty"`
}

// PredictRows scores records (one map per row, keyed by column name).
func (m *Model) PredictRows(rows []map[string]any) ([]Prediction, error) {
	return m.PredictFrame(FrameFromRecords(m.InputNames(), rows))
}

// PredictFrame scores every row of f. Columns are matched by name; extra
// columns are ignored; a missing column or a non-number in a numeric column
// is an Invalid error naming the row and column.
func (m *Model) PredictFrame(f *Frame) ([]Prediction, error) {
	X, err := m.Prep.Transform(f)
	if err != nil {
		return nil, err
	}
	n, p := len(f.Rows), m.Prep.Width()
	out := make([]Prediction, n)
	if m.Task == Regression {
		vals := m.predictValues(X, n, p)
		for i := range out {
			out[i].Value = vals[i]
		}
		return out, nil
	}
	k := len(m.Classes)
	probs := m.predictProba(X, n, p)
	for i := range out {
		pr := probs[i*k : (i+1)*k]
		best := 0
		for c := range pr {
			if pr[c] > pr[best] {
				best = c
			}
		}
		out[i].Probabilities = append([]float64(nil), pr...)
		out[i].Label = m.label(best)
		if k == 2 {
			out[i].Value = pr[1]
		} else {
			out[i].Value = pr[best]
		}
	}
	return out, nil
}

func (m *Model) label(c int) any {
	if m.NumericClasses {
		if v, err := strconv.ParseFloat(m.Classes[c], 64); err == nil {
			return v
		}
	}
	return m.Classes[c]
}

// predictProba returns n×len(Classes) probabilities, row-major.
func (m *Model) predictProba(X []float64, n, p int) []float64 {
	if m.GBDT != nil {
		return m.GBDT.proba(X, n, p)
	}
	return m.Linear.proba(X, n, p)
}

// predictValues returns n regression predictions.
func (m *Model) predictValues(X []float64, n, p int) []float64 {
	if m.GBDT != nil {
		return m.GBDT.raw(X, n, p)[:n]
	}
	return m.Linear.values(X, n, p)
}

// validate checks that a decoded model is internally consistent, so that
// scoring can never index out of range on a damaged or foreign file.
func (m *Model) validate() error {
	if m.Format != FormatName || m.Version != FormatVersion {
		return core.Errorf(core.Invalid, "Unsupported model format/version %q v%d: this Tern reads %s v%d.", m.Format, m.Version, FormatName, FormatVersion)
	}
	bad := func(why string) error {
		return core.Errorf(core.Invalid, "The model file is damaged: %s.", why)
	}
	if m.Prep == nil || len(m.Prep.Features) == 0 {
		return bad("it has no input features")
	}
	for _, f := range m.Prep.Features {
		if f.Kind != Numeric && f.Kind != Categorical {
			return bad(fmt.Sprintf("feature %q has unknown kind %q", f.Name, f.Kind))
		}
		if f.Kind == Numeric && (f.Std <= 0 || f.Std != f.Std) {
			return bad(fmt.Sprintf("feature %q has a non-positive scale", f.Name))
		}
	}
	width := m.Prep.Width()
	outputs := 1
	switch m.Task {
	case Classification:
		if len(m.Classes) < 2 {
			return bad("a classifier needs at least two classes")
		}
		outputs = len(m.Classes)
		if outputs == 2 {
			outputs = 1 // binary models keep one score column
		}
	case Regression:
	default:
		return bad(fmt.Sprintf("unknown task %q", m.Task))
	}
	switch {
	case m.GBDT != nil && m.Linear == nil:
		return m.GBDT.validate(width, outputs)
	case m.Linear != nil && m.GBDT == nil:
		return m.Linear.validate(width, outputs)
	}
	return bad("it must hold exactly one estimator")
}

// Example returns the first rows of f as the model's input example: its
// input columns in order, each value typed as the model reads it (numbers
// for numeric features, strings otherwise, nil when missing).
func (m *Model) Example(f *Frame) *Frame {
	ex := &Frame{Columns: m.InputNames()}
	for _, row := range f.Rows {
		r := make([]any, len(ex.Columns))
		for j, c := range ex.Columns {
			if k := f.Column(c); k >= 0 && k < len(row) {
				r[j] = typedExample(row[k], m.Prep.Features[j].Kind)
			}
		}
		ex.Rows = append(ex.Rows, r)
	}
	return ex
}

func typedExample(v any, kind string) any {
	if isMissing(v) {
		return nil
	}
	if kind == Numeric {
		if x, ok := asFloat(v); ok {
			return x
		}
	}
	return asString(v)
}

// DecodeModel parses and validates model.json bytes.
func DecodeModel(body []byte) (*Model, error) {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, core.Wrap(err, core.Invalid, "Unsupported model format/version: model.json is not a Tern model (%v).", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
