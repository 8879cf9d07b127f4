package tracking

import (
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLogInputsLinksOnceAndIsDeletedWithTheRun(t *testing.T) {
	s := newSvc(t)
	r, err := s.CreateRun(RunSpec{Name: "r"})
	require.NoError(t, err)
	in := DatasetInput{Name: "d", Digest: "abcd1234", SourceType: "local", Source: "{}", Tags: map[string]string{"mlflow.data.context": "training"}, DatasetVersion: "v1"}
	require.NoError(t, s.LogInputs(r.ID, []DatasetInput{in}))
	got, err := s.GetRun(r.ID)
	require.NoError(t, err)
	assert.Equal(t, "v1", got.DatasetVersion, "the matched version becomes the run's lineage")

	// A second dataset matching another version does not replace it.
	require.NoError(t, s.LogInputs(r.ID, []DatasetInput{{Name: "e", Digest: "ffff0000", SourceType: "local", Source: "{}", DatasetVersion: "v2"}}))
	got, err = s.GetRun(r.ID)
	require.NoError(t, err)
	assert.Equal(t, "v1", got.DatasetVersion)

	// Too long a digest refuses the whole call.
	err = s.LogInputs(r.ID, []DatasetInput{{Name: "f", Digest: "x", SourceType: "local", Source: "{}"}, {Name: "g", Digest: string(make([]byte, 40)), SourceType: "local", Source: "{}"}})
	assert.ErrorContains(t, err, "digest of dataset input 2")
	ins, err := s.Inputs(r.ID)
	require.NoError(t, err)
	require.Len(t, ins, 2)
	assert.Equal(t, "v1", ins[0].DatasetVersion)

	// The inputs go with the run.
	require.NoError(t, s.EndRun(r.ID, StatusFinished))
	_, err = s.DeleteRun(r.ID)
	require.NoError(t, err)
	_, err = s.Inputs(r.ID)
	assert.Error(t, err)
	n := 0
	require.NoError(t, s.db.View(func(txn *badger.Txn) error {
		return scan(txn, runPrefix(kInput, r.ID), false, func(_, _ []byte) error { n++; return nil })
	}))
	assert.Zero(t, n, "no input key left behind")
}
