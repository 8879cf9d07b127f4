package tracking

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

func TestCompareMarksDifferences(t *testing.T) {
	svc := newSvc(t)
	var ids []string
	for i, lr := range []string{"0.1", "0.01"} {
		r, err := svc.CreateRun(RunSpec{Name: "r" + lr, Params: map[string]string{"lr": lr, "model": "gbdt"}})
		require.NoError(t, err)
		require.NoError(t, svc.LogMetrics(r.ID, []Metric{{Key: "auc", Value: Float(0.8 + float64(i)/10), Step: 1}}))
		ids = append(ids, r.ID)
	}
	c, err := svc.Compare(ids)
	require.NoError(t, err)
	byCol := map[string]CompareRow{}
	for _, r := range c.Rows {
		byCol[r.Column] = r
	}
	assert.True(t, byCol["params.lr"].Differs)
	assert.False(t, byCol["params.model"].Differs)
	assert.True(t, byCol["metrics.auc"].Differs)
	assert.Equal(t, []string{"0.1", "0.01"}, byCol["params.lr"].Values)
	assert.Equal(t, "params.lr", c.Rows[0].Column, "params first")
	assert.Equal(t, []string{"auc"}, c.MetricKeys)
	assert.Contains(t, c.Parallel, "<svg")
	_, err = svc.Compare(ids[:1])
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

// Rows come params, metrics, tags, each by name; MLflow's bookkeeping tags
// are left out; a value a run lacks is "" and a non-finite metric reads as
// MLflow writes it.
func TestCompareColumnsAndCells(t *testing.T) {
	svc := newSvc(t)
	a, err := svc.CreateRun(RunSpec{Name: "a", Params: map[string]string{"z": "1"}, Tags: map[string]string{"team": "risk", "mlflow.user": "ada"}})
	require.NoError(t, err)
	b, err := svc.CreateRun(RunSpec{Name: "b", Params: map[string]string{"a": "1"}})
	require.NoError(t, err)
	require.NoError(t, svc.LogMetrics(a.ID, []Metric{{Key: "loss", Value: Float(0.5)}}))
	require.NoError(t, svc.LogMetrics(b.ID, []Metric{{Key: "loss", Value: Float(math.NaN())}}))
	c, err := svc.Compare([]string{a.ID, b.ID})
	require.NoError(t, err)
	var cols []string
	for _, r := range c.Rows {
		cols = append(cols, r.Column)
	}
	assert.Equal(t, []string{"params.a", "params.z", "metrics.loss", "tags.team"}, cols)
	assert.Equal(t, []string{"", "1"}, c.Rows[0].Values)
	assert.Equal(t, []string{"0.5", "NaN"}, c.Rows[2].Values)
	assert.Empty(t, c.Parallel, "no two numeric columns differ on every run")
}

func TestMetricChart(t *testing.T) {
	svc := newSvc(t)
	var ids []string
	for i := range 2 {
		r, err := svc.CreateRun(RunSpec{})
		require.NoError(t, err)
		require.NoError(t, svc.LogMetrics(r.ID, []Metric{{Key: "auc", Value: Float(0.8 + float64(i)/10), Step: 1}}))
		ids = append(ids, r.ID)
	}
	svg, err := svc.MetricChart(ids, "auc", 400, 200)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	for _, n := range []int{0, 11} {
		_, err = svc.MetricChart(make([]string, n), "auc", 400, 200)
		assert.Equal(t, core.Invalid, core.ErrorCode(err), n)
	}
	_, err = svc.MetricChart([]string{"nope"}, "auc", 400, 200)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}
