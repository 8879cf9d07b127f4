package deployment

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

func TestTryItAndBatchScoring(t *testing.T) {
	f := newFixture(t)
	svc := f.service(NewProcessLauncher())
	t.Cleanup(svc.Close)
	ctx := context.Background()
	d, err := svc.Deploy(ctx, "fraud", "1", Options{})
	require.NoError(t, err)

	res, err := svc.Predict(ctx, d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	require.NoError(t, err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, "v1", res.Backend)
	res, err = svc.Predict(ctx, d.ID, "", `{"instances":[[1,2]]}`)
	require.NoError(t, err)
	assert.Equal(t, 400, res.Status, "a bad payload is the caller's 400, not an error of the call")

	events, stop := svc.cfg.Bus.Subscribe(100)
	defer stop()
	dir := t.TempDir()
	in := filepath.Join(dir, "rows.csv")
	var b strings.Builder
	b.WriteString("a,b,c,d,e,f\n")
	for i := 0; i < 1203; i++ {
		b.WriteString("1,2,3,4,5,6\n")
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	p, err := svc.ScoreCSV(ctx, d.ID, in, "")
	require.NoError(t, err)
	assert.True(t, p.Done)
	assert.Equal(t, 1203, p.Rows)
	assert.Equal(t, filepath.Join(dir, "rows.scored.csv"), p.Output)
	out, err := os.Open(p.Output)
	require.NoError(t, err)
	rows, err := csv.NewReader(out).ReadAll()
	out.Close()
	require.NoError(t, err)
	require.Len(t, rows, 1204)
	assert.Equal(t, "prediction", rows[0][6])
	assert.Equal(t, rows[1][6], rows[1203][6])
	var done bool
	for !done {
		select {
		case ev := <-events:
			if ev.Topic == TopicBatchProgress {
				done = ev.Data.(BatchProgress).Done
			}
		case <-time.After(time.Second):
			t.Fatal("no final progress event")
		}
	}

	// A ragged file fails with the row range, and leaves no output behind.
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("a,b,c,d,e,f\n1,2,3,4,5,x\n"), 0o644))
	_, err = svc.ScoreCSV(ctx, d.ID, bad, filepath.Join(dir, "bad.out.csv"))
	assert.ErrorContains(t, err, "Rows 1–1 were refused")
	assert.NoFileExists(t, filepath.Join(dir, "bad.out.csv"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 3, "rows.csv, rows.scored.csv, bad.csv: no temp file left")

	scored, err := svc.ScoreCSVText(ctx, d.ID, "a,b,c,d,e,f\n1,2,3,4,5,6\n")
	require.NoError(t, err)
	assert.Equal(t, "a,b,c,d,e,f,prediction\n1,2,3,4,5,6,"+rows[1][6]+"\n", scored)
	_, err = svc.ScoreCSVText(ctx, d.ID, "")
	assert.Equal(t, core.Invalid, core.ErrorCode(err), "no header row")

	_, err = svc.Stop(ctx, d.ID)
	require.NoError(t, err)
	_, err = svc.Predict(ctx, d.ID, "", `{"instances":[[1,2,3,4,5,6]]}`)
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	_, err = svc.ScoreCSVText(ctx, d.ID, "a,b,c,d,e,f\n1,2,3,4,5,6\n")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
}
