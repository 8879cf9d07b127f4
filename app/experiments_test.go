package app

import (
	"fmt"
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

// The bound calls reach the tracking service, where comparison, charts
// and deletion are tested.
func TestExperimentsBound(t *testing.T) {
	e, svc := newExperiments(t)
	var ids []string
	for i := range 2 {
		r, err := svc.CreateRun(tracking.RunSpec{Name: fmt.Sprint("r", i)})
		require.NoError(t, err)
		require.NoError(t, svc.LogMetrics(r.ID, []tracking.Metric{{Key: "auc", Value: tracking.Float(0.8 + float64(i)/10), Step: 1}}))
		ids = append(ids, r.ID)
	}
	svg, err := e.MetricChart(ids, "auc", 400, 200)
	require.NoError(t, err)
	assert.Contains(t, svg, "<svg")
	c, err := e.Compare(ids)
	require.NoError(t, err)
	assert.Len(t, c.Runs, 2)
	_, err = e.DeleteRuns(ids)
	assert.Equal(t, core.Conflict, core.ErrorCode(err), "the runs are live")
	assert.Equal(t, core.Conflict, core.ErrorCode(e.TrashRuns(ids)), "the runs are live")
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
