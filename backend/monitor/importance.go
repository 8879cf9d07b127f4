package monitor

import (
	"fmt"
	"math"
	"sort"

	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/explanation"
)

// Importances gives the stored explanation of the model version a
// deployment serves (backend/explanation): its mean |SHAP| per column is
// what "drift that matters" weights drifted columns by.
type Importances interface {
	Deployed(deployment string) (explanation.Global, bool, error)
}

// Importance ranks a report's columns by how much the deployed model leans
// on them, and says how much of that weight sits on drifted columns.
type Importance struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	// Source says where the weights come from ("TreeSHAP (path-dependent)
	// mean |SHAP| over 1000 validation rows of credit v1").
	Source string `json:"source"`
	// Columns are the model's input columns the report tested, most
	// important first.
	Columns []ImportantColumn `json:"columns"`
	// WeightedShare is the importance-weighted drift share: the sum of the
	// drifted columns' mean |SHAP| over the sum of every tested input
	// column's (0–1). A drifted column the model ignores adds nothing; the
	// one it leans on most adds the most.
	WeightedShare float64 `json:"weightedShare"`
	// Untested lists model inputs the window did not let drift test
	// (absent, or too few values); they take no part in the share.
	Untested []string `json:"untested,omitempty"`
}

// ImportantColumn is one input column's weight and drift verdict.
type ImportantColumn struct {
	Column string `json:"column"`
	// Weight is the column's share of the model's importance among the
	// tested columns (they sum to 1); MeanAbs is its mean |SHAP|.
	Weight  float64 `json:"weight"`
	MeanAbs float64 `json:"meanAbs"`
	Drift   bool    `json:"drift"`
}

// weigh computes a report's Importance from an explanation; nil when no
// input column of the model was tested or the model's importance is all
// zero (nothing to weight by).
func weigh(r *Report, g explanation.Global) *Importance {
	if r.Drift == nil {
		return nil
	}
	verdicts := map[string]bool{}
	for _, v := range r.Drift.Columns {
		if v.Status == drift.StatusOK {
			verdicts[v.Column] = v.Drift
		}
	}
	imp := &Importance{Model: g.Model, Version: g.Version,
		Source: fmt.Sprintf("%s mean |SHAP| over %d %s of %s", g.Method, g.Rows, map[bool]string{true: "validation rows", false: "rows"}[g.Validation], g.Dataset)}
	total, drifted := 0.0, 0.0
	for _, c := range g.Columns {
		d, tested := verdicts[c.Name]
		if !tested || math.IsNaN(c.MeanAbs) {
			imp.Untested = append(imp.Untested, c.Name)
			continue
		}
		imp.Columns = append(imp.Columns, ImportantColumn{Column: c.Name, MeanAbs: c.MeanAbs, Drift: d})
		total += c.MeanAbs
		if d {
			drifted += c.MeanAbs
		}
	}
	if len(imp.Columns) == 0 || total <= 0 {
		return nil
	}
	for i := range imp.Columns {
		imp.Columns[i].Weight = imp.Columns[i].MeanAbs / total
	}
	sort.SliceStable(imp.Columns, func(a, b int) bool { return imp.Columns[a].MeanAbs > imp.Columns[b].MeanAbs })
	imp.WeightedShare = drifted / total
	return imp
}
