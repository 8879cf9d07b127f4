package app

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
)

func servingFixture(t *testing.T) (*Models, *Deployments, *core.Bus) {
	t.Helper()
	st := store.MustOpen(t)
	bus := core.NewBus()
	reg, err := registry.NewService(st, bus, t.TempDir(), nil)
	require.NoError(t, err)
	svc := deployment.NewService(deployment.Config{Store: st, Registry: reg, Launcher: deployment.NewProcessLauncher(), Bus: bus})
	t.Cleanup(svc.Close)
	return NewModels(reg, svc), NewDeployments(svc, reg, bus, nil), bus
}

func TestTryItAndBatchScoring(t *testing.T) {
	models, deps, bus := servingFixture(t)
	v, err := models.ImportPath("fraud", filepath.Join("..", "backend", "gbdt", "testdata", "lgb_binary.txt"))
	require.NoError(t, err)
	d, err := deps.Deploy("fraud", "1", deployment.Options{})
	require.NoError(t, err)

	res, err := deps.Predict(d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, "v1", res.Backend)
	res, err = deps.Predict(d.ID, "", `{"instances":[[1,2]]}`)
	require.NoError(t, err)
	assert.Equal(t, 400, res.Status, "a bad payload is the caller's 400, not an error of the call")

	events, stop := bus.Subscribe(100)
	defer stop()
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.csv")
	var b strings.Builder
	b.WriteString("Column_0,Column_1,Column_2,Column_3,Column_4,Column_5\n")
	for i := 0; i < 1203; i++ {
		b.WriteString("1,2,3,4,5,6\n")
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	p, err := deps.ScoreCSV(d.ID, in, "")
	require.NoError(t, err)
	assert.True(t, p.Done)
	assert.Equal(t, 1203, p.Rows)
	f, err := os.Open(p.Output)
	require.NoError(t, err)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	require.NoError(t, err)
	require.Len(t, rows, 1204)
	assert.Equal(t, "prediction", rows[0][6])
	assert.Equal(t, rows[1][6], rows[1203][6])
	select {
	case ev := <-events:
		assert.Contains(t, []string{"deployments.batch.progress", "deployment.changed", "registry.version"}, ev.Topic)
	case <-time.After(time.Second):
		t.Fatal("no event")
	}

	// A ragged file fails with the row range, and leaves no output behind.
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("Column_0,Column_1,Column_2,Column_3,Column_4,Column_5\n1,2,3,4,5,x\n"), 0o644))
	_, err = deps.ScoreCSV(d.ID, bad, filepath.Join(dir, "bad.out.csv"))
	assert.ErrorContains(t, err, "Rows 1–1 were refused")
	assert.NoFileExists(t, filepath.Join(dir, "bad.out.csv"))

	scored, err := deps.ScoreCSVText(d.ID, "Column_0,Column_1,Column_2,Column_3,Column_4,Column_5\n1,2,3,4,5,6\n")
	require.NoError(t, err)
	assert.Equal(t, "Column_0,Column_1,Column_2,Column_3,Column_4,Column_5,prediction\n1,2,3,4,5,6,"+rows[1][6]+"\n", scored)

	l, err := models.Lineage("fraud", v.Version)
	require.NoError(t, err)
	assert.Equal(t, []string{"fraud"}, l.Deployments)

	_, err = deps.ExportImage("fraud", 1, filepath.Join(dir, "x.tar"))
	assert.Equal(t, core.Unavailable, core.ErrorCode(err))
}
