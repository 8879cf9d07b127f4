package explanation

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Contribution is one column's part in one prediction.
type Contribution struct {
	Name string `json:"name"`
	// Value is the row's value of the column as text ("" when missing).
	Value string  `json:"value"`
	SHAP  float64 `json:"shap"`
}

// Local is why one row got its prediction: Base (the model's average
// margin) plus every Contribution is Margin, in the units Link names.
type Local struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	Method  string `json:"method"`
	Link    string `json:"link"`
	// Output says which output is explained ("log-odds of class yes").
	Output        string         `json:"output"`
	Base          float64        `json:"base"`
	Margin        float64        `json:"margin"`
	Contributions []Contribution `json:"contributions"` // largest |SHAP| first
}

// localModel is a loaded version kept for the next row: Try-it explains
// one row at a time, and reading a model (and, for linear models, the
// background rows) per click would cost more than the explanation.
type localModel struct {
	m          *modelfmt.Model
	background *ml.Frame
}

// localCache bounds the versions kept loaded.
const localCache = 8

type loaded struct {
	mu    sync.Mutex
	order []string
	byKey map[string]*localModel
}

func (l *loaded) get(k string) *localModel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byKey[k]
}

func (l *loaded) put(k string, m *localModel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byKey == nil {
		l.byKey = map[string]*localModel{}
	}
	if _, ok := l.byKey[k]; !ok {
		l.order = append(l.order, k)
	}
	l.byKey[k] = m
	for len(l.order) > localCache {
		delete(l.byKey, l.order[0])
		l.order = l.order[1:]
	}
}

func (s *Service) localModel(ctx context.Context, name string, version int) (*localModel, error) {
	k := name + "\x00" + strconv.Itoa(version)
	if lm := s.local.get(k); lm != nil {
		return lm, nil
	}
	mv, err := s.models.Version(name, strconv.Itoa(version))
	if err != nil {
		return nil, err
	}
	if mv.Pickle {
		return nil, core.Errorf(core.Invalid, "%s v%d is a pickled Python model, which Tern never loads, so it cannot explain its predictions.", mv.Model, mv.Version)
	}
	m, err := modelfmt.Load(s.models.Dir(mv))
	if err != nil {
		return nil, err
	}
	lm := &localModel{m: m}
	if m.ML != nil && m.ML.GBDT == nil {
		// Linear SHAP's expected value is over the training rows.
		if mv.DatasetVersion == "" {
			return nil, core.Errorf(core.Invalid, "%s v%d has no training data in its lineage, which a linear model's explanation needs as its background.", mv.Model, mv.Version)
		}
		dv, err := s.datasets.Version(mv.DatasetVersion)
		if err != nil {
			return nil, err
		}
		path, err := s.datasets.VersionFile(dv.ID)
		if err != nil {
			return nil, err
		}
		f, err := ml.ReadFrame(ctx, path, dv.Reading())
		if err != nil {
			return nil, err
		}
		lm.background = sampleRows(f, maxBackground)
	}
	s.local.put(k, lm)
	return lm, nil
}

// Local explains one prediction of a model version: record is one row as
// a request carries it (column → value). The contributions are exact
// SHAP values (TreeSHAP for trees, linear SHAP for linear models) of the
// output the prediction is about: the margin of a regressor or binary
// classifier, or of the most likely class.
func (s *Service) Local(ctx context.Context, name string, version int, record map[string]any) (Local, error) {
	lm, err := s.localModel(ctx, name, version)
	if err != nil {
		return Local{}, err
	}
	out := Local{Model: name, Version: version}
	var x *explain.Explanation
	var names []string
	var classes []string
	if m := lm.m.ML; m != nil {
		names, classes = m.InputNames(), m.Classes
		f := ml.FrameFromRecords(names, []map[string]any{record})
		if x, err = m.Explain(ctx, f, lm.background); err != nil {
			return Local{}, err
		}
		out.Method = "Linear SHAP (interventional, training rows as background)"
		if m.GBDT != nil {
			out.Method = "TreeSHAP (path-dependent)"
		}
	} else {
		e, err := lm.m.GBDT.Ensemble()
		if err != nil {
			return Local{}, err
		}
		X := make([]float64, len(lm.m.Signature.Inputs))
		for j, in := range lm.m.Signature.Inputs {
			names = append(names, in.Name)
			v, ok := asNumber(record[in.Name])
			if b, isBool := record[in.Name].(bool); isBool {
				v, ok = map[bool]float64{false: 0, true: 1}[b], true
			}
			if !ok {
				v = math.NaN()
			}
			X[j] = v
		}
		if x, err = e.SHAP(ctx, X, 1, 1); err != nil {
			return Local{}, err
		}
		out.Method = "TreeSHAP (path-dependent)"
	}
	outs, _ := outputs(x)
	o := outs[0]
	out.Link, out.Base = x.Link, x.Base[o]
	switch {
	case len(classes) > 0 || x.Outputs > 1:
		out.Output = fmt.Sprintf("%s of %s", linkUnit(x.Link), className(classes, x.Outputs, o))
	case x.Link == "identity" || x.Link == "":
		out.Output = "the prediction"
	default:
		out.Output = linkUnit(x.Link)
	}
	out.Margin = out.Base
	for j, v := range x.Row(0, o) {
		out.Margin += v
		out.Contributions = append(out.Contributions, Contribution{Name: names[j], Value: valueText(record[names[j]]), SHAP: v})
	}
	sort.SliceStable(out.Contributions, func(a, b int) bool {
		return math.Abs(out.Contributions[a].SHAP) > math.Abs(out.Contributions[b].SHAP)
	})
	return out, nil
}

// className names the explained output's class.
func className(classes []string, outputs, o int) string {
	switch {
	case outputs == 1 && len(classes) == 2:
		return "class " + classes[1]
	case outputs == 1:
		return "the prediction"
	case o < len(classes):
		return "class " + classes[o]
	}
	return "class " + strconv.Itoa(o)
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
