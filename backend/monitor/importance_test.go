package monitor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/explanation"
	"github.com/tern-studio/tern/backend/store"
)

// fakeImportances serves one explanation per deployment.
type fakeImportances map[string]explanation.Global

func (f fakeImportances) Deployed(d string) (explanation.Global, bool, error) {
	g, ok := f[d]
	return g, ok, nil
}

// Drift that matters: x and noise drift, color does not. When the model
// leans on color, two drifted columns of three carry little weight; when it
// leans on x, the same drift carries most of it. The weighted share is the
// drifted columns' mean |SHAP| over every tested input's, the columns are
// ranked by importance, and an importance_weighted_drift rule fires on it.
func TestImportanceWeightedDrift(t *testing.T) {
	st := store.MustOpen(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tables := fakeTables{"train": {
		{Name: "x", Kind: drift.Numeric, Num: normal(1, 3000, 0)},
		{Name: "noise", Kind: drift.Numeric, Num: normal(2, 3000, 0)},
		{Name: "color", Kind: drift.Categorical, Cat: repeat([]string{"red", "blue", "green"}, 1000)},
		{Name: "customer_id", Kind: drift.Categorical, Skip: "left out: an ID column — every new row brings new values, so it drifts by construction"},
		{Name: "churn", Kind: drift.Numeric, Num: normal(3, 3000, 0), Role: drift.RoleTarget},
	}}
	xs, ns := normal(9, 600, 3), normal(10, 600, 3)
	var recs []LogRecord
	for i := range 600 {
		recs = append(recs, LogRecord{Time: now.Add(-time.Duration(i) * time.Second), LatencyMs: 2, Status: 200,
			Request:  []byte(fmt.Sprintf(`{"dataframe_records":[{"x":%g,"noise":%g,"color":%q}]}`, xs[i], ns[i], []string{"red", "blue", "green"}[i%3])),
			Response: []byte(`{"predictions":[1]}`)})
	}
	imps := fakeImportances{
		"leans-on-color": {Model: "credit", Version: 2, Dataset: "credit v1", Rows: 900, Validation: true, Method: "TreeSHAP (path-dependent)",
			Columns: []explanation.Column{{Name: "color", MeanAbs: 0.8}, {Name: "x", MeanAbs: 0.15}, {Name: "noise", MeanAbs: 0.05}, {Name: "unseen", MeanAbs: 0.3},
				// A model that leaned on an ID (and, absurdly, on the label):
				// drift leaves both out, so the weights do too.
				{Name: "customer_id", MeanAbs: 0.5}, {Name: "churn", MeanAbs: 0.2}}},
		"leans-on-x": {Model: "credit", Version: 3, Dataset: "credit v1", Rows: 900, Method: "TreeSHAP (path-dependent)",
			Columns: []explanation.Column{{Name: "x", MeanAbs: 0.9}, {Name: "color", MeanAbs: 0.1}, {Name: "noise", MeanAbs: 0}}},
	}
	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: tables, Logs: fakeLog{recs}, Clock: core.NewManualClock(now), Importances: imps})
	rule := Rule{Name: "drift that matters", Kind: RuleImportanceDrift, Threshold: 0.5}

	run := func(dep string) *Report {
		m, err := svc.CreateMonitor(t.Context(), Monitor{Name: dep, Kind: KindDeployment, Deployment: dep, RefVersion: "train", Window: Window{LastN: 500}, Rules: []Rule{rule}})
		require.NoError(t, err)
		r, err := svc.RunMonitor(t.Context(), m.ID)
		require.NoError(t, err)
		return r
	}

	r := run("leans-on-color")
	require.NotNil(t, r.Importance)
	assert.Equal(t, 2, r.Drift.Drifted, "x and noise drift; color does not")
	imp := r.Importance
	assert.Equal(t, []NotWeighted{
		{Column: "customer_id", Reason: "an ID column — every new row brings new values, so it drifts by construction", Share: 0.25},
		{Column: "unseen", Reason: "not in this window's data", Share: 0.15},
		{Column: "churn", Reason: "the target: its drift is target drift, reported apart", Share: 0.1},
	}, imp.NotWeighted, "inputs drift left out, the window lacks, and the target take no part, with drift's reasons")
	assert.InDelta(t, 0.5, imp.Covered, 1e-12, "the tested inputs carry 1.0 of 2.0")
	require.Len(t, imp.Columns, 3)
	assert.Equal(t, []string{"color", "x", "noise"}, []string{imp.Columns[0].Column, imp.Columns[1].Column, imp.Columns[2].Column})
	assert.InDelta(t, 0.8, imp.Columns[0].Weight, 1e-12)
	assert.False(t, imp.Columns[0].Drift)
	assert.True(t, imp.Columns[1].Drift)
	assert.InDelta(t, 0.2, imp.WeightedShare, 1e-12, "(0.15 + 0.05) / 1.0")
	assert.Contains(t, imp.Source, "900 validation rows of credit v1")
	assert.Empty(t, r.Alerts, "20% is below the rule's 50%")
	page, err := HTML(r)
	require.NoError(t, err)
	assert.Contains(t, string(page), "The tested columns carry 50.0% of the model's importance")
	assert.Contains(t, string(page), "customer_id (25.0% of the importance): an ID column")
	pdf, err := PDF(r)
	require.NoError(t, err)
	assert.True(t, len(pdf) > 1000 && string(pdf[:5]) == "%PDF-")

	r = run("leans-on-x")
	require.NotNil(t, r.Importance)
	assert.InDelta(t, 0.9, r.Importance.WeightedShare, 1e-12)
	require.Len(t, r.Alerts, 1)
	assert.Equal(t, RuleImportanceDrift, r.Alerts[0].Kind)
	assert.InDelta(t, 0.9, r.Alerts[0].Value, 1e-12)
	assert.Equal(t, "90% of credit v3's importance sits on drifted columns (alert above 50%): x (90%), noise (0%)", r.Alerts[0].Message)

	html, err := HTML(r)
	require.NoError(t, err)
	assert.Contains(t, string(html), "<strong>90.0%</strong> of credit v3's importance sits on drifted columns")
	assert.NotContains(t, string(html), "not-weighted", "every input of v3 was tested")
	assert.InDelta(t, 1, r.Importance.Covered, 1e-12)
	pdf, err = PDF(r)
	require.NoError(t, err)
	assert.True(t, len(pdf) > 1000 && string(pdf[:5]) == "%PDF-")

	// No explanation of the deployed version: a note, no weights, no alert.
	r = run("unexplained")
	assert.Nil(t, r.Importance)
	assert.Empty(t, r.Alerts)
	assert.Contains(t, r.Notes, "Drift is not weighted by importance: the deployed version has no explanation yet (compute one on its model version page).")

	assert.Error(t, Rule{Name: "bad", Kind: RuleImportanceDrift, Threshold: 1.5}.Validate())
}
