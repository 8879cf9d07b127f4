package registry

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Archiving keeps everything (record, files, aliases elsewhere) and can be
// undone; an archived version takes no alias and one an alias names is not
// archived; each change is one audit record, a no-op none.
func TestArchiveAndUnarchive(t *testing.T) {
	s, _ := newService(t)
	log, err := audit.Open(s.st)
	require.NoError(t, err)
	defer log.Close()
	for _, f := range []string{"xgb_binary.json", "lgb_binary.txt"} {
		_, err := s.ImportFile("fraud", gbdtFile(t, f), modelfmt.Signature{}, nil, Meta{})
		require.NoError(t, err)
	}
	_, err = s.SetAliases("fraud", map[string]int{"champion": 2})
	require.NoError(t, err)

	_, err = s.ArchiveVersion("fraud", 2, true)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "@champion names it")

	v1, err := s.ArchiveVersion("fraud", 1, true)
	require.NoError(t, err)
	assert.NotZero(t, v1.Archived)
	_, err = s.ArchiveVersion("fraud", 1, true) // already archived: nothing to record
	require.NoError(t, err)
	_, err = s.SetAliases("fraud", map[string]int{"challenger": 1})
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "archived")
	_, err = os.Stat(s.Dir(v1))
	assert.NoError(t, err, "an archived version keeps its files")
	vs, err := s.Versions("fraud")
	require.NoError(t, err)
	assert.Len(t, vs, 2, "the registry still lists it, marked")

	m, err := s.ArchiveModel("fraud", true)
	require.NoError(t, err)
	assert.NotZero(t, m.Archived)
	m, err = s.ArchiveModel("fraud", false)
	require.NoError(t, err)
	assert.Zero(t, m.Archived)
	assert.Equal(t, map[string]int{"champion": 2}, m.Aliases, "aliases survive an archive")
	v1, err = s.ArchiveVersion("fraud", 1, false)
	require.NoError(t, err)
	assert.Zero(t, v1.Archived)
	_, err = s.SetAliases("fraud", map[string]int{"challenger": 1})
	require.NoError(t, err)

	_, err = s.ArchiveModel("nope", true)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	recs, err := log.List(audit.Query{Object: "fraud"})
	require.NoError(t, err)
	var acts []string
	for _, r := range recs {
		acts = append([]string{r.Action}, acts...)
	}
	assert.Equal(t, []string{"model_version.register", "model_version.register", "model.alias",
		"model_version.archive", "model.archive", "model.unarchive", "model_version.unarchive", "model.alias"}, acts)
}
