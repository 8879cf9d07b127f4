package app

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
)

func servingFixture(t *testing.T, ctx context.Context) (*Models, *Deployments) {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	reg, err := registry.NewService(st, bus, t.TempDir(), nil)
	require.NoError(t, err)
	svc := deployment.NewService(deployment.Config{Store: st, Registry: reg, Launcher: deployment.NewProcessLauncher(), Bus: bus})
	t.Cleanup(svc.Close)
	return NewModels(reg, svc), NewDeployments(ctx, svc, reg, nil)
}

// The bound calls reach the deployment service (where Try-it and batch
// scoring are tested) and the registry; a file imported from disk gets
// the columns Column_0…; lineage ends at the deployment.
func TestModelsAndDeploymentsBound(t *testing.T) {
	models, deps := servingFixture(t, t.Context())
	v, err := models.ImportPath("fraud", filepath.Join("..", "backend", "gbdt", "testdata", "lgb_binary.txt"))
	require.NoError(t, err)
	d, err := deps.Deploy("fraud", "1", deployment.Options{})
	require.NoError(t, err)

	res, err := deps.Predict(d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	scored, err := deps.ScoreCSVText(d.ID, "Column_0,Column_1,Column_2,Column_3,Column_4,Column_5\n1,2,3,4,5,6\n")
	require.NoError(t, err)
	assert.Contains(t, scored, "Column_5,prediction\n1,2,3,4,5,6,")

	l, err := models.Lineage("fraud", v.Version)
	require.NoError(t, err)
	assert.Equal(t, []string{"fraud"}, l.Deployments)

	_, err = deps.ExportImage("fraud", 1, filepath.Join(t.TempDir(), "x.tar"))
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
}

// A call made after the app closed finds its context cancelled.
func TestBoundCallsEndWithTheApp(t *testing.T) {
	ctx, closeApp := context.WithCancel(t.Context())
	models, deps := servingFixture(t, ctx)
	_, err := models.ImportPath("fraud", filepath.Join("..", "backend", "gbdt", "testdata", "lgb_binary.txt"))
	require.NoError(t, err)
	d, err := deps.Deploy("fraud", "1", deployment.Options{})
	require.NoError(t, err)
	closeApp()
	_, err = deps.Predict(d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
	assert.ErrorIs(t, err, context.Canceled)

	call, done := lifetime{ctx}.call()
	done()
	assert.Error(t, call.Err())
	call, done = lifetime{}.call()
	assert.NoError(t, call.Err(), "no base: the call's own")
	done()
}
