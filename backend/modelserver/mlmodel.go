package modelserver

import (
	"math"
	"strconv"

	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// FromML wraps one of Tern's built-in models for serving: its signature
// comes from its preprocessing, classifiers answer with labels (MLflow) and
// labels plus probabilities (V2), regressors with values.
func FromML(m *ml.Model, name, version string) Model {
	s := modelfmt.SignatureOf(m)
	var pred Predictor = &mlPredictor{m: m, names: m.InputNames()}
	if m.Task == ml.Classification {
		pred = mlClassifier{pred.(*mlPredictor)}
	}
	return Model{Name: name, Version: version, Signature: s, Predictor: pred, Classes: m.Classes}
}

type mlPredictor struct {
	m     *ml.Model
	names []string
	ens   lazyEnsemble
}

func (p *mlPredictor) NumFeatures() int { return len(p.names) }

func (p *mlPredictor) OutputWidth() int {
	if p.m.Task == ml.Classification {
		return len(p.m.Classes)
	}
	return 1
}

// frame turns a batch back into the rows the model's preprocessing reads.
func (p *mlPredictor) frame(b *Batch) *ml.Frame {
	f := &ml.Frame{Columns: p.names, Rows: make([][]any, b.NRows)}
	cells := make([]any, b.NRows*b.NCols)
	for r := range f.Rows {
		row := cells[r*b.NCols : (r+1)*b.NCols]
		for c := range row {
			if b.Text[c] != nil {
				if s := b.Text[c][r]; s != "" {
					row[c] = s
				}
				continue
			}
			if v := b.X[r*b.NCols+c]; !math.IsNaN(v) {
				row[c] = v
			}
		}
		f.Rows[r] = row
	}
	return f
}

func (p *mlPredictor) Predict(b *Batch, out []float64) error {
	preds, err := p.m.PredictFrame(p.frame(b))
	if err != nil {
		// The model's own checks (a value it cannot read) are the caller's
		// fault: a 400 that keeps the model's sentence.
		return bad("%s", errMessage(err))
	}
	w := p.OutputWidth()
	for r, pr := range preds {
		if w == 1 {
			out[r] = pr.Value
			continue
		}
		copy(out[r*w:(r+1)*w], pr.Probabilities)
	}
	return nil
}

func (p mlClassifier) LabelType() string {
	if p.m.NumericClasses {
		return "FP64"
	}
	return "BYTES"
}

func (p mlClassifier) ProbaWidth() int { return len(p.m.Classes) }

// Probabilities are the scores themselves: a built-in classifier scores
// one probability per class, in Classes order.
func (p mlClassifier) Probabilities(out []float64, _ int) []float64 { return out }

// Labels picks the most probable class per row, as a number when the
// training target was numeric.
type mlClassifier struct{ *mlPredictor }

func (p mlClassifier) Labels(out []float64, nrows int) []any {
	k := len(p.m.Classes)
	labels := make([]any, nrows)
	for r := range labels {
		best := 0
		for c := 1; c < k; c++ {
			if out[r*k+c] > out[r*k+best] {
				best = c
			}
		}
		labels[r] = p.m.Classes[best]
		if p.m.NumericClasses {
			if v, err := strconv.ParseFloat(p.m.Classes[best], 64); err == nil {
				labels[r] = v
			}
		}
	}
	return labels
}
