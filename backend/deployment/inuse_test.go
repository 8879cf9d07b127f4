package deployment

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

// The registry refuses to delete or archive what a deployment uses — a
// version it serves, or the version an alias it follows names — in words
// that name the deployment, and changes nothing; once the deployment lets
// go, the same calls go through.
func TestRegistryRefusesWhatADeploymentUses(t *testing.T) {
	f := newFixture(t)
	svc := f.service(NewProcessLauncher())
	f.reg.DeploymentsOf, f.reg.FollowersOf = svc.DeploymentsOf, svc.FollowersOf
	ctx := t.Context()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{Name: "fraud-api"})
	require.NoError(t, err)

	refused := func(err error, words ...string) {
		t.Helper()
		require.Error(t, err)
		assert.Equal(t, core.Conflict, core.ErrorCode(err))
		for _, w := range words {
			assert.Contains(t, core.ErrorMessage(err), w)
		}
	}
	refused(f.reg.DeleteVersion("fraud", 1), "Cannot delete version 1 of \"fraud\": deployment fraud-api serves fraud v1; move it to another version or delete it first.")
	_, err = f.reg.ArchiveVersion("fraud", 1, true)
	refused(err, "archive version 1", "fraud-api")
	refused(f.reg.DeleteModel("fraud"), "fraud-api")
	_, err = f.reg.ArchiveModel("fraud", true)
	refused(err, "fraud-api")
	v1, err := f.reg.Version("fraud", "1")
	require.NoError(t, err)
	assert.Zero(t, v1.Archived, "a refusal changes nothing")

	// v2 is not served, but @champion names it and the deployment follows
	// @champion: the follower would put traffic on it.
	_, err = f.reg.SetAliases("fraud", map[string]int{"champion": 2})
	require.NoError(t, err)
	_, err = svc.SetFollow(d.ID, &Follow{Alias: "champion", Strategy: StrategySwitch})
	require.NoError(t, err)
	assert.Equal(t, []string{"fraud-api"}, svc.FollowersOf("fraud", "champion"))
	// The service is not started, so its follower does not act: v2 is in
	// use through the alias alone.
	assert.Empty(t, svc.DeploymentsOf("fraud", 2))
	refused(f.reg.DeleteVersion("fraud", 2), "fraud v2 holds @champion, which deployment fraud-api follows")
	_, err = f.reg.ArchiveVersion("fraud", 2, true)
	refused(err, "version 2", "fraud-api")

	// Once stopped following and serving only v1, v2 (no alias) can go.
	_, err = svc.SetFollow(d.ID, nil)
	require.NoError(t, err)
	_, err = f.reg.SetAliases("fraud", map[string]int{"champion": 0})
	require.NoError(t, err)
	_, err = f.reg.ArchiveVersion("fraud", 2, true)
	require.NoError(t, err)
	_, err = f.reg.ArchiveVersion("fraud", 2, false)
	require.NoError(t, err)
	require.NoError(t, f.reg.DeleteVersion("fraud", 2))
}
