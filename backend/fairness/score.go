package fairness

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// scoreChunk is how many rows are scored between progress reports and
// cancellation checks.
const scoreChunk = 5000

// scored is a model's answer for every row of a frame.
type scored struct {
	regression bool
	// labels are the predicted labels as text (classifiers); classes the
	// labels the model knows, index = column of probs (width per row).
	labels  []string
	classes []string
	probs   []float64
	width   int
	values  []float64 // regressors
}

// positiveScore is the predicted probability of class pos for row i, and
// whether the model gives one.
func (s *scored) positiveScore(i int, pos string) (float64, bool) {
	for k, c := range s.classes {
		if c == pos && s.width > 0 {
			if s.width == 1 { // one probability: of class 1
				if k == 1 {
					return s.probs[i], true
				}
				return 1 - s.probs[i], true
			}
			return s.probs[i*s.width+k], true
		}
	}
	return 0, false
}

// text is a raw frame value as a label or group name; "" is missing.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// number is a raw frame value as a number; ok is false when missing or
// not a number.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil && !math.IsNaN(f)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// score runs the model on every row of f, as its server would, reporting
// rows done to progress and stopping when ctx ends.
func score(ctx context.Context, m *modelfmt.Model, f *ml.Frame, progress func(done int)) (*scored, error) {
	if m.ML != nil {
		return scoreML(ctx, m.ML, f, progress)
	}
	if m.GBDT == nil {
		return nil, core.Errorf(core.Invalid, "This model version cannot be run by Tern (a pickled Python model), so it has no fairness figures.")
	}
	return scoreGBDT(ctx, m, f, progress)
}

func scoreML(ctx context.Context, m *ml.Model, f *ml.Frame, progress func(int)) (*scored, error) {
	n := f.Len()
	s := &scored{regression: m.Task == ml.Regression, classes: m.Classes}
	if s.regression {
		s.values = make([]float64, 0, n)
	} else {
		s.width = len(m.Classes)
		s.labels, s.probs = make([]string, 0, n), make([]float64, 0, n*s.width)
	}
	for a := 0; a < n; a += scoreChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b := min(a+scoreChunk, n)
		preds, err := m.PredictFrame(&ml.Frame{Columns: f.Columns, Rows: f.Rows[a:b], Kinds: f.Kinds})
		if err != nil {
			return nil, err
		}
		for _, p := range preds {
			if s.regression {
				s.values = append(s.values, p.Value)
				continue
			}
			s.labels = append(s.labels, text(p.Label))
			s.probs = append(s.probs, p.Probabilities...)
		}
		progress(b)
	}
	return s, nil
}

// gbdtTask says how an XGBoost or LightGBM objective answers: classes
// (binary with one probability, or one probability per class) or numbers.
func gbdtTask(m *modelfmt.Model) (classes int) {
	g := m.GBDT
	switch g.Objective {
	case "binary:logistic", "binary:hinge", "binary", "cross_entropy", "xentropy":
		return 2
	case "multi:softprob", "multi:softmax", "multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr":
		return max(g.Outputs, 2)
	}
	if m.Labels {
		return max(g.Outputs, 2)
	}
	return 0
}

func scoreGBDT(ctx context.Context, m *modelfmt.Model, f *ml.Frame, progress func(int)) (*scored, error) {
	g, n := m.GBDT, f.Len()
	cols := make([]int, len(m.Signature.Inputs))
	for i, in := range m.Signature.Inputs {
		if cols[i] = f.Column(in.Name); cols[i] < 0 {
			return nil, core.Errorf(core.Invalid, "The dataset version has no column %q, which the model reads.", in.Name)
		}
	}
	k := gbdtTask(m)
	s := &scored{regression: k == 0, width: g.Outputs}
	for c := 0; c < k; c++ {
		s.classes = append(s.classes, strconv.Itoa(c))
	}
	x, out := make([]float64, g.Features), make([]float64, g.Outputs)
	for r := 0; r < n; r++ {
		if r%scoreChunk == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if r > 0 {
				progress(r)
			}
		}
		for i, c := range cols {
			v := f.Rows[r][c]
			x[i] = math.NaN()
			if v == nil {
				continue
			}
			fv, ok := number(v)
			if !ok {
				return nil, core.Errorf(core.Invalid, "Row %d: column %q holds %q, not a number the model can read.", r+1, m.Signature.Inputs[i].Name, text(v))
			}
			x[i] = fv
		}
		g.PredictRow(x, out)
		switch {
		case s.regression:
			s.values = append(s.values, out[0])
		case g.Outputs > 1:
			best := 0
			for c := 1; c < g.Outputs; c++ {
				if out[c] > out[best] {
					best = c
				}
			}
			s.labels = append(s.labels, strconv.Itoa(best))
			s.probs = append(s.probs, out...)
		case g.Objective == "multi:softmax":
			s.labels = append(s.labels, strconv.Itoa(int(out[0])))
			s.width = 0
		default: // one probability of class 1, as XGBClassifier.predict reads it
			s.labels = append(s.labels, strconv.Itoa(b2i(out[0] > 0.5)))
			s.probs = append(s.probs, out[0])
		}
	}
	if g.Objective == "binary:hinge" {
		s.width = 0 // hinge answers 0/1, not a probability
	}
	progress(n)
	return s, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
