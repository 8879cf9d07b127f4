package monitor

import (
	"fmt"
	"math"
	"sort"
	"strings"

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
	// Columns are the model's input columns the report tested for data
	// drift, most important first.
	Columns []ImportantColumn `json:"columns"`
	// WeightedShare is the importance-weighted drift share: the sum of the
	// drifted columns' mean |SHAP| over the sum of every tested input
	// column's (0–1). A drifted column the model ignores adds nothing; the
	// one it leans on most adds the most.
	WeightedShare float64 `json:"weightedShare"`
	// Covered is the share of the model's whole importance that sits on
	// the tested columns (0–1): below 1 when inputs the model leans on were
	// left out of the drift test (an ID, a date) or missing from the window,
	// so the weighted share speaks for that much of the model only.
	Covered float64 `json:"covered"`
	// NotWeighted are the model's inputs that take no part in the share,
	// each with why — the same reasons the drift verdicts give.
	NotWeighted []NotWeighted `json:"notWeighted,omitempty"`
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

// NotWeighted is a model input left out of the weighted share.
type NotWeighted struct {
	Column string `json:"column"`
	Reason string `json:"reason"`
	// Share is the column's part of the model's whole importance (0–1).
	Share float64 `json:"share"`
}

// weigh computes a report's Importance from an explanation; nil when no
// input column of the model was tested or the model's importance is all
// zero (nothing to weight by). It follows the drift verdicts: a column
// drift left out (ID, ignored, date, a per-column skip) or could not test
// is not weighted, and the target — whose drift is target drift, reported
// apart — is never a weighted input.
func weigh(r *Report, g explanation.Global) *Importance {
	if r.Drift == nil {
		return nil
	}
	verdicts := map[string]drift.Verdict{}
	for _, v := range r.Drift.Columns {
		verdicts[v.Column] = v
	}
	imp := &Importance{Model: g.Model, Version: g.Version,
		Source: fmt.Sprintf("%s mean |SHAP| over %d %s of %s", g.Method, g.Rows, map[bool]string{true: "validation rows", false: "rows"}[g.Validation], g.Dataset)}
	all, total, drifted := 0.0, 0.0, 0.0
	for _, c := range g.Columns {
		if math.IsNaN(c.MeanAbs) || math.IsInf(c.MeanAbs, 0) {
			imp.NotWeighted = append(imp.NotWeighted, NotWeighted{Column: c.Name, Reason: "its mean |SHAP| is not a number"})
			continue
		}
		all += c.MeanAbs
		v, seen := verdicts[c.Name]
		switch {
		case !seen:
			imp.NotWeighted = append(imp.NotWeighted, NotWeighted{Column: c.Name, Reason: "not in this window's data", Share: c.MeanAbs})
		case v.Role == drift.RoleTarget:
			imp.NotWeighted = append(imp.NotWeighted, NotWeighted{Column: c.Name, Reason: "the target: its drift is target drift, reported apart", Share: c.MeanAbs})
		case v.Status != drift.StatusOK:
			imp.NotWeighted = append(imp.NotWeighted, NotWeighted{Column: c.Name, Reason: strings.TrimPrefix(v.Reason, "left out: "), Share: c.MeanAbs})
		default:
			imp.Columns = append(imp.Columns, ImportantColumn{Column: c.Name, MeanAbs: c.MeanAbs, Drift: v.Drift})
			total += c.MeanAbs
			if v.Drift {
				drifted += c.MeanAbs
			}
		}
	}
	if len(imp.Columns) == 0 || total <= 0 {
		return nil
	}
	for i := range imp.Columns {
		imp.Columns[i].Weight = imp.Columns[i].MeanAbs / total
	}
	for i := range imp.NotWeighted {
		imp.NotWeighted[i].Share /= all
	}
	sort.SliceStable(imp.Columns, func(a, b int) bool { return imp.Columns[a].MeanAbs > imp.Columns[b].MeanAbs })
	sort.SliceStable(imp.NotWeighted, func(a, b int) bool { return imp.NotWeighted[a].Share > imp.NotWeighted[b].Share })
	imp.WeightedShare = drifted / total
	imp.Covered = total / all
	return imp
}
