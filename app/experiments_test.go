package app

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

func newExperiments(t *testing.T) (*Experiments, *tracking.Service) {
	st := store.MustOpen(t)
	svc, err := tracking.NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	return NewExperiments(svc), svc
}

func TestCompareMarksDifferences(t *testing.T) {
	e, svc := newExperiments(t)
	var ids []string
	for i, lr := range []string{"0.1", "0.01"} {
		r, err := svc.CreateRun(tracking.RunSpec{Name: "r" + lr, Params: map[string]string{"lr": lr, "model": "gbdt"}})
		require.NoError(t, err)
		require.NoError(t, svc.LogMetrics(r.ID, []tracking.Metric{{Key: "auc", Value: tracking.Float(0.8 + float64(i)/10), Step: 1}}))
		ids = append(ids, r.ID)
	}
	c, err := e.Compare(ids)
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
	_, err = e.Compare(ids[:1])
	assert.Equal(t, core.Invalid, core.ErrorCode(err))

	svg, err := e.MetricChart(ids, "auc", 400, 200)
	require.NoError(t, err)
	assert.Contains(t, svg, "<svg")
}

func TestCheckQueryOffsetsAreUTF16(t *testing.T) {
	e, _ := newExperiments(t)
	ok, err := e.CheckQuery(`metrics.auc > 0.9`)
	require.NoError(t, err)
	assert.True(t, ok.OK)
	bad, err := e.CheckQuery(`tags.t = "😀" and ~`)
	require.NoError(t, err)
	assert.False(t, bad.OK)
	assert.Equal(t, 18, bad.Start, "the emoji counts as two UTF-16 units")
	assert.Equal(t, 19, bad.End)
}

func TestDeleteRunsRefusesLiveOnes(t *testing.T) {
	e, svc := newExperiments(t)
	done, _ := svc.CreateRun(tracking.RunSpec{})
	live, _ := svc.CreateRun(tracking.RunSpec{})
	require.NoError(t, svc.EndRun(done.ID, tracking.StatusFinished))
	_, err := e.DeleteRuns([]string{done.ID, live.ID})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.GetRun(done.ID)
	assert.NoError(t, err, "nothing deleted when one run is live")
	_, err = e.DeleteRuns([]string{done.ID})
	require.NoError(t, err)
}
