package modelserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Loaded is a model directory read for serving.
type Loaded struct {
	Model  Model
	Flavor string
	// Example is the saved input example as an MLflow request body, if any.
	Example json.RawMessage
}

// LoadDir reads a model directory (see modelfmt.Load) and readies it for
// serving as name/version.
func LoadDir(dir, name, version string) (*Loaded, error) {
	m, err := modelfmt.Load(dir)
	if err != nil {
		return nil, err
	}
	var model Model
	switch {
	case m.ML != nil:
		model = FromML(m.ML, name, version)
	case m.Labels:
		model = Model{Name: name, Version: version, Signature: m.Signature, Predictor: xgbClassifier{rowPredictor{g: m.GBDT, ens: &lazyEnsemble{}}}}
	default:
		model = Model{Name: name, Version: version, Signature: m.Signature, Predictor: GBDTPredictor(m.GBDT)}
	}
	return &Loaded{Model: model, Flavor: m.Flavor, Example: m.Example}, nil
}

// GBDTPredictor serves an XGBoost or LightGBM model.
func GBDTPredictor(g *gbdt.Model) Predictor { return rowPredictor{g: g, ens: &lazyEnsemble{}} }

type rowPredictor struct {
	g   *gbdt.Model
	ens *lazyEnsemble
}

func (p rowPredictor) NumFeatures() int { return p.g.Features }
func (p rowPredictor) OutputWidth() int { return p.g.Outputs }
func (p rowPredictor) Predict(b *Batch, out []float64) error {
	if b.NCols != p.g.Features {
		return bad("The request has %d columns but the model reads %d.", b.NCols, p.g.Features)
	}
	nf, w := p.g.Features, p.g.Outputs
	for r := 0; r < b.NRows; r++ {
		p.g.PredictRow(b.X[r*nf:(r+1)*nf], out[r*w:(r+1)*w])
	}
	return nil
}

// xgbClassifier answers labels the way xgboost.XGBClassifier.predict does
// (XGBoost 3.x): the most probable class for softprob (first on ties, as
// numpy's argmax), the class index for multi:softmax, and 1 when the
// probability is above 0.5 (else 0) for a single output. XGBoost's
// scikit-learn classes are 0..n-1, so the index is the label. The V2
// protocol still gets the scores as "probabilities".
type xgbClassifier struct{ rowPredictor }

func (p xgbClassifier) LabelType() string { return "INT64" }

func (p xgbClassifier) ProbaWidth() int {
	switch {
	case p.g.Outputs > 1:
		return p.g.Outputs
	case p.g.Objective == "multi:softmax":
		return 0
	}
	return 2
}

// Probabilities answers as XGBClassifier.predict_proba: the softprob
// columns, or [1-p, p] for a single binary output.
func (p xgbClassifier) Probabilities(out []float64, nrows int) []float64 {
	if p.g.Outputs > 1 {
		return out
	}
	probs := make([]float64, 2*nrows)
	for r := 0; r < nrows; r++ {
		probs[2*r], probs[2*r+1] = 1-out[r], out[r]
	}
	return probs
}

func (p xgbClassifier) Labels(out []float64, nrows int) []any {
	w := p.g.Outputs
	labels := make([]any, nrows)
	for r := range labels {
		row := out[r*w : (r+1)*w]
		switch {
		case w > 1:
			best := 0
			for k := 1; k < w; k++ {
				if row[k] > row[best] {
					best = k
				}
			}
			labels[r] = best
		case p.g.Objective == "multi:softmax":
			labels[r] = int(row[0])
		case row[0] > 0.5:
			labels[r] = 1
		default:
			labels[r] = 0
		}
	}
	return labels
}

// LoadWorker readies a pickled scikit-learn model directory for serving
// through its Python worker at socket: the signature comes from the
// MLmodel file, the predictions from the worker (see Worker). It waits up
// to five minutes for the worker to load the model.
func LoadWorker(ctx context.Context, dir, name, version, socket string) (*Loaded, error) {
	m, err := modelfmt.Inspect(dir)
	if err != nil {
		return nil, err
	}
	if _, err := m.PythonPickle(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	w, err := DialWorker(ctx, socket, m.Signature)
	if err != nil {
		return nil, err
	}
	return &Loaded{Model: Model{Name: name, Version: version, Signature: m.Signature, Predictor: w.Predictor()}, Flavor: m.Flavor, Example: m.Example}, nil
}
