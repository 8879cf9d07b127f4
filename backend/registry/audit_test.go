package registry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Each registry change leaves one record saying what moved; a refused
// change leaves none.
func TestRegistryChangesAreAudited(t *testing.T) {
	s, _ := newService(t)
	log, err := audit.Open(s.st)
	require.NoError(t, err)
	defer log.Close()

	_, err = s.ImportFile("fraud", gbdtFile(t, "xgb_binary.json"), modelfmt.Signature{}, nil, Meta{})
	require.NoError(t, err)
	_, err = s.ImportFile("fraud", gbdtFile(t, "lgb_binary.txt"), modelfmt.Signature{}, nil, Meta{})
	require.NoError(t, err)
	_, err = s.SetAliases("fraud", map[string]int{"champion": 1, "challenger": 2})
	require.NoError(t, err)
	_, err = s.Promote("fraud")
	require.NoError(t, err)
	_, err = s.SetAliases("fraud", map[string]int{"Bad Alias": 1})
	require.Error(t, err)
	desc := "fraud scorer"
	_, err = s.SetModelTag("fraud", "team", &desc)
	require.NoError(t, err)
	require.NoError(t, s.DeleteVersion("fraud", 1))

	recs, err := log.List(audit.Query{Object: "fraud"})
	require.NoError(t, err)
	var acts []string
	for _, r := range recs {
		acts = append(acts, r.Action)
	}
	assert.Equal(t, []string{"model_version.delete", "model.update", "model.promote", "model.alias",
		"model_version.register", "model_version.register"}, acts)
	promote := recs[2]
	assert.Equal(t, "@challenger→v2, @champion→v1", promote.Before)
	assert.Equal(t, "@champion→v2", promote.After)
	assert.Equal(t, "fraud v2", promote.Objects[1].Name)
	assert.Equal(t, "team=fraud scorer", recs[1].After)
	res, err := log.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK, res.Message)
}
