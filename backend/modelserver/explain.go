package modelserver

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
)

// Explainer is a Predictor that can say why it answered: the exact SHAP
// values of a batch's rows per input column, in margin space. A caller
// asks for them with MLflow's params {"explain": true} or the V2
// parameters {"explain": true}.
type Explainer interface {
	// Explainable is how many outputs an explanation has (a binary
	// classifier explains one margin), or why the model cannot explain (in
	// words the caller reads in a 400).
	Explainable() (int, error)
	// Explain gives b's contributions and names what each of the
	// explanation's outputs is ("yes", "prediction", "2").
	Explain(ctx context.Context, b *Batch) (*explain.Explanation, []string, error)
}

// treeMethod names the algorithm every endpoint explanation uses.
const treeMethod = "TreeSHAP (path-dependent)"

// lazyEnsemble builds a model's ensemble on the first explained request
// and keeps it: building it walks every tree, which would cost more than
// explaining one row.
type lazyEnsemble struct {
	once sync.Once
	e    *explain.Ensemble
	err  error
}

func (l *lazyEnsemble) get(build func() (*explain.Ensemble, error)) (*explain.Ensemble, error) {
	l.once.Do(func() { l.e, l.err = build() })
	return l.e, l.err
}

// shap runs TreeSHAP on one goroutine: the server already answers
// requests in parallel, and one row is microseconds.
func shap(ctx context.Context, e *explain.Ensemble, X []float64, n int) (*explain.Explanation, error) {
	x, err := e.SHAP(ctx, X, n, 1)
	if err != nil && ctx.Err() == nil {
		return nil, &RequestError{Status: 500, Msg: "The model's trees could not be explained: " + errMessage(err)}
	}
	return x, err
}

func (p *mlPredictor) Explainable() (int, error) {
	if p.m.GBDT == nil {
		return 0, bad("This %s model gives no explanations at the endpoint: linear SHAP needs the training rows as its background, and a serving container does not have them. Explain its predictions from the deployment's page in Tern instead.", algorithmName(p.m.Algorithm))
	}
	e, err := p.ens.get(p.m.TreeEnsemble)
	if err != nil {
		return 0, bad("%s", errMessage(err))
	}
	return e.Outputs(), nil
}

func (p *mlPredictor) Explain(ctx context.Context, b *Batch) (*explain.Explanation, []string, error) {
	if _, err := p.Explainable(); err != nil {
		return nil, nil, err
	}
	X, err := p.m.Prep.Transform(p.frame(b))
	if err != nil {
		return nil, nil, bad("%s", errMessage(err))
	}
	e, _ := p.ens.get(p.m.TreeEnsemble)
	x, err := shap(ctx, e, X, b.NRows)
	if err != nil {
		return nil, nil, err
	}
	return x, mlOutputs(p.m, x.Outputs), nil
}

func algorithmName(a string) string {
	switch a {
	case ml.AlgoLogistic:
		return "logistic regression"
	case ml.AlgoLinear:
		return "linear regression"
	}
	return a
}

// mlOutputs names a built-in model's explained outputs: a binary
// classifier's single margin is the log-odds of its second class.
func mlOutputs(m *ml.Model, outputs int) []string {
	switch {
	case len(m.Classes) == 0:
		return []string{"prediction"}
	case outputs == 1 && len(m.Classes) == 2:
		return []string{m.Classes[1]}
	}
	return m.Classes[:min(outputs, len(m.Classes))]
}

func (p rowPredictor) Explainable() (int, error) {
	e, err := p.ens.get(p.g.Ensemble)
	if err != nil {
		return 0, bad("%s", errMessage(err))
	}
	return e.Outputs(), nil
}

func (p rowPredictor) Explain(ctx context.Context, b *Batch) (*explain.Explanation, []string, error) {
	if _, err := p.Explainable(); err != nil {
		return nil, nil, err
	}
	if b.NCols != p.g.Features {
		return nil, nil, bad("The request has %d columns but the model reads %d.", b.NCols, p.g.Features)
	}
	e, _ := p.ens.get(p.g.Ensemble)
	x, err := shap(ctx, e, b.X, b.NRows)
	if err != nil {
		return nil, nil, err
	}
	return x, gbdtOutputs(p.g, x), nil
}

// gbdtOutputs names an XGBoost or LightGBM model's outputs: class indices
// for several, class 1 for a binary model's one margin, else the
// prediction.
func gbdtOutputs(g *gbdt.Model, x *explain.Explanation) []string {
	if x.Outputs > 1 {
		out := make([]string, x.Outputs)
		for i := range out {
			out[i] = strconv.Itoa(i)
		}
		return out
	}
	if x.Link == explain.LinkLogit {
		return []string{"1"}
	}
	return []string{"prediction"}
}

// explainBatch asks the model for b's contributions; a model that cannot
// explain is a 400 in words.
func (s *Server) explainBatch(ctx context.Context, b *Batch) (*explain.Explanation, []string, *RequestError) {
	ex, ok := s.model.Predictor.(Explainer)
	if !ok {
		return nil, nil, bad("This model gives no explanations: Tern explains tree ensembles (its gradient-boosted trees, XGBoost and LightGBM) at the endpoint.")
	}
	x, outs, err := ex.Explain(ctx, b)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return nil, nil, re
		}
		return nil, nil, &RequestError{Status: 503, Msg: "The explanation was stopped: the request was cancelled."}
	}
	return x, outs, nil
}

// explainable is how many outputs the model's explanations have; 0 when
// it gives none.
func (s *Server) explainable() int {
	ex, ok := s.model.Predictor.(Explainer)
	if !ok {
		return 0
	}
	n, err := ex.Explainable()
	if err != nil {
		return 0
	}
	return n
}

// appendContributions writes the MLflow answer's "contributions" object:
// the method, the link from margin to output, what each output is, the
// columns in signature order, the base value per output, and per row the
// contributions ([rows][columns] for one output, [rows][outputs][columns]
// for several), so base + Σ row = the row's margin.
func (s *Server) appendContributions(buf []byte, x *explain.Explanation, outs []string) []byte {
	buf = append(buf, `{"method":`...)
	buf = appendString(buf, treeMethod)
	buf = append(buf, `,"link":`...)
	buf = appendString(buf, x.Link)
	buf = append(buf, `,"outputs":`...)
	buf = appendStrings(buf, outs)
	buf = append(buf, `,"columns":`...)
	cols := make([]string, len(s.model.Signature.Inputs))
	for i, c := range s.model.Signature.Inputs {
		cols[i] = c.Name
	}
	buf = appendStrings(buf, cols)
	buf = append(buf, `,"base":`...)
	buf = appendFloats(buf, x.Base)
	buf = append(buf, `,"values":[`...)
	for r := 0; r < x.Rows; r++ {
		if r > 0 {
			buf = append(buf, ',')
		}
		if x.Outputs == 1 {
			buf = appendFloats(buf, x.Row(r, 0))
			continue
		}
		buf = append(buf, '[')
		for o := 0; o < x.Outputs; o++ {
			if o > 0 {
				buf = append(buf, ',')
			}
			buf = appendFloats(buf, x.Row(r, o))
		}
		buf = append(buf, ']')
	}
	return append(buf, "]}"...)
}

// appendV2Contributions writes the V2 "contributions" output tensor: per
// row (and output) the columns' contributions in signature order followed
// by the base value, as XGBoost's pred_contribs lays them out, so the sum
// of a row's last axis is its margin. Its parameters name the link, the
// method and the outputs.
func (s *Server) appendV2Contributions(buf []byte, x *explain.Explanation, outs []string) []byte {
	buf = append(buf, `{"name":"contributions","datatype":"FP64","shape":[`...)
	buf = strconv.AppendInt(buf, int64(x.Rows), 10)
	if x.Outputs > 1 {
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(x.Outputs), 10)
	}
	buf = append(buf, ',')
	buf = strconv.AppendInt(buf, int64(x.Features+1), 10)
	buf = append(buf, `],"parameters":{"link":`...)
	buf = appendString(buf, x.Link)
	buf = append(buf, `,"method":`...)
	buf = appendString(buf, treeMethod)
	buf = append(buf, `,"outputs":`...)
	buf = appendString(buf, strings.Join(outs, ","))
	buf = append(buf, `,"last_column":"base value"},"data":[`...)
	for r := 0; r < x.Rows; r++ {
		for o := 0; o < x.Outputs; o++ {
			if r > 0 || o > 0 {
				buf = append(buf, ',')
			}
			for _, v := range x.Row(r, o) {
				buf = appendFloat(buf, v)
				buf = append(buf, ',')
			}
			buf = appendFloat(buf, x.Base[o])
		}
	}
	return append(buf, "]}"...)
}

func appendFloats(buf []byte, fs []float64) []byte {
	buf = append(buf, '[')
	for i, f := range fs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendFloat(buf, f)
	}
	return append(buf, ']')
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, s)
	}
	return append(buf, ']')
}

// appendString writes s as a JSON string (column and class names may hold
// anything).
func appendString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
