package tracking

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Logging goes through the group commit, which writes many callers'
// batches in one transaction; each batch still carries its own record,
// attributed to the caller that sent it.
func TestTrackingChangesAreAudited(t *testing.T) {
	st := store.MustOpen(t)
	s, err := NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	log, err := audit.Open(st)
	require.NoError(t, err)
	defer log.Close()

	r, err := s.CreateRun(RunSpec{Name: "first"})
	require.NoError(t, err)
	func() {
		defer audit.Bind(audit.Actor{Face: audit.Job, Who: r.ID})()
		require.NoError(t, s.LogBatch(r.ID, Batch{Metrics: []Metric{{Key: "loss", Value: 1, Step: 1}, {Key: "loss", Value: 0.5, Step: 2}}, Params: []Param{{"lr", "0.1"}}}))
	}()
	require.NoError(t, s.EndRun(r.ID, StatusFinished))
	require.NoError(t, s.SoftDelete(r.ID))
	require.Error(t, s.LogMetrics(r.ID, []Metric{{Key: "loss", Value: 1}}), "a deleted run takes no metrics, and leaves no record")
	require.NoError(t, s.Restore(r.ID))
	_, err = s.DeleteRun(r.ID)
	require.NoError(t, err)

	recs, err := log.List(audit.Query{Object: r.ID})
	require.NoError(t, err)
	var acts []string
	for _, rec := range recs {
		acts = append(acts, rec.Action)
	}
	assert.Equal(t, []string{"run.purge", "run.restore", "run.trash", "run.status", "run.log", "run.create"}, acts)
	assert.Equal(t, audit.Actor{Face: audit.Job, Who: r.ID}, recs[4].Actor)
	assert.Equal(t, "2 metric points, 1 params, 0 tags", recs[4].After)
	assert.Equal(t, "status RUNNING", recs[3].Before)
	assert.Equal(t, "status FINISHED", recs[3].After)
}
