package pipeline

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/monitor"
)

func waitRuns(t *testing.T, e *Engine, pid string, n int) []Run {
	t.Helper()
	var runs []Run
	require.Eventually(t, func() bool {
		var err error
		runs, err = e.Runs(pid, 0)
		return err == nil && len(runs) >= n
	}, 10*time.Second, 5*time.Millisecond)
	return runs
}

// A new version of the dataset starts a run; an edit that re-announces an
// old version does not.
func TestDatasetTriggerFiresOnNewVersions(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	csv := filepath.Join(w.dir, "churn.csv")
	writeChurn(t, csv, 60, 1)
	v1, err := w.datasets.ImportPath(ctx, csv, dataset.Options{Name: "churn"})
	require.NoError(t, err)
	p, err := w.engine.Save(Pipeline{Name: "on new data", Triggers: []Trigger{{Kind: TriggerDataset, Dataset: "Churn"}},
		Steps: []Step{{ID: "data", Type: "data.newest", Fields: map[string]any{"dataset": "churn"}},
			{ID: "check", Type: "validate", Inputs: map[string]string{"version": "data.version"}}}})
	require.NoError(t, err)

	writeChurn(t, csv, 70, 2)
	v2, err := w.datasets.ImportPath(ctx, csv, dataset.Options{Name: "churn"})
	require.NoError(t, err)
	runs := waitRuns(t, w.engine, p.ID, 1)
	assert.Equal(t, "new version churn v2", runs[0].Firings[0].Detail)
	d := waitRun(t, w.engine, runs[0].ID)
	assert.Equal(t, v2.ID, d.Steps[0].Outputs["version"].ID, "the run read the new version")

	// Editing the schema of v1 announces it again: no run.
	_, err = w.datasets.EditSchema(ctx, v1.ID, nil)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	runs, _ = w.engine.Runs(p.ID, 0)
	assert.Len(t, runs, 1)
}

// Alerts fire the pipelines that listen for them; a storm of alerts while
// a run is active coalesces into one waiting run that lists them all.
func TestAlertTriggerAndStormCoalesce(t *testing.T) {
	r := newRig(t, 1)
	r.src.hold = make(chan struct{})
	r.src.started = make(chan string, 100)
	p := chain()
	p.Triggers = []Trigger{{Kind: TriggerAlert, Monitor: "mon1", Rule: "drift"}}
	p, err := r.e.Save(p)
	require.NoError(t, err)
	bus := r.e.cfg.Bus

	bus.Publish("monitor.alert", monitor.Alert{Rule: "latency", Monitor: "mon1"})
	bus.Publish("monitor.alert", monitor.Alert{Rule: "drift", Monitor: "other"})
	bus.Publish("monitor.alert", monitor.Alert{Rule: "Drift", Monitor: "mon1", Message: "7 of 10 columns drifted"})
	runs := waitRuns(t, r.e, p.ID, 1)
	assert.Equal(t, `alert "Drift" on monitor mon1: 7 of 10 columns drifted`, runs[0].Firings[0].Detail)
	<-r.src.started
	for i := 0; i < 50; i++ {
		bus.Publish("monitor.alert", monitor.Alert{Rule: "drift", Monitor: "mon1"})
	}
	require.Eventually(t, func() bool {
		runs, _ = r.e.Runs(p.ID, 0)
		return len(runs) == 2 && len(runs[0].Firings) == 50
	}, 10*time.Second, 5*time.Millisecond, "50 alerts: one more run, holding all 50 firings")
	assert.Equal(t, RunQueued, runs[0].State)
	close(r.src.hold)
	waitRun(t, r.e, runs[0].ID)
	runs, _ = r.e.Runs(p.ID, 0)
	assert.Len(t, runs, 2, "no runaway runs")
}

// A schedule fires when its time comes, once for times missed while
// closed, and not before.
func TestScheduleTrigger(t *testing.T) {
	clock := core.NewManualClock(time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC))
	src, work, sink := newFake(DatasetVersion), newFake(RunOutput), newFake("")
	e := New(Config{Store: openStore(t, t.TempDir()), Types: testTypes(src, work, sink), Clock: clock})
	t.Cleanup(func() { _ = e.cfg.Store.Close() })
	p := chain()
	p.Triggers = []Trigger{{Kind: TriggerSchedule, Cron: "0 3 * * *"}}
	p, err := e.Save(p)
	require.NoError(t, err)
	count := func() int { runs, _ := e.Runs(p.ID, 0); return len(runs) }

	e.checkSchedules(clock.Now()) // first sight: counting starts now
	clock.Set(time.Date(2026, 12, 4, 2, 59, 0, 0, time.UTC))
	e.checkSchedules(clock.Now())
	assert.Equal(t, 0, count())
	clock.Set(time.Date(2026, 12, 4, 3, 0, 5, 0, time.UTC))
	e.checkSchedules(clock.Now())
	assert.Equal(t, 1, count())
	e.checkSchedules(clock.Now())
	assert.Equal(t, 1, count(), "once per due time")
	clock.Set(time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC)) // closed for five days
	e.checkSchedules(clock.Now())
	runs, _ := e.Runs(p.ID, 0)
	require.Len(t, runs, 1, "nothing runs here, so the second firing joined the queued run")
	require.Len(t, runs[0].Firings, 2, "missed times fire once, not five times")
	assert.Equal(t, "schedule 0 3 * * * (due 2026-12-05 03:00 UTC)", runs[0].Firings[len(runs[0].Firings)-1].Detail)
}

func TestWebhookNeedsAWebhookTrigger(t *testing.T) {
	r := newRig(t, 1)
	p, err := r.e.Save(chain())
	require.NoError(t, err)
	_, err = r.e.FireWebhook(p.ID, "")
	assert.Equal(t, core.Conflict, core.ErrorCode(err))
	p.Triggers = []Trigger{{Kind: TriggerWebhook}}
	p, err = r.e.Save(p)
	require.NoError(t, err)
	run, err := r.e.FireWebhook(p.ID, "from CI")
	require.NoError(t, err)
	assert.Equal(t, TriggerWebhook, run.Firings[0].Kind)
	assert.Equal(t, RunSucceeded, waitRun(t, r.e, run.ID).Run.State)
}

// A watched folder: files there before are left alone; a new file is
// imported as the next version once it stops changing, and a run starts
// that reads it.
func TestFolderTriggerImportsNewFiles(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	inbox := t.TempDir()
	writeChurn(t, filepath.Join(inbox, "old.csv"), 50, 1)
	p, err := w.engine.Save(Pipeline{Name: "inbox", Triggers: []Trigger{{Kind: TriggerFolder, Folder: inbox, Dataset: "churn"}},
		Steps: []Step{{ID: "data", Type: "data.newest", Fields: map[string]any{"dataset": "churn"}}}})
	require.NoError(t, err)
	w.engine.checkFolders(ctx) // first look: old.csv was there before
	writeChurn(t, filepath.Join(inbox, "new.csv"), 60, 2)
	w.engine.checkFolders(ctx) // new.csv seen once: it may still be being written
	list, _ := w.datasets.List()
	assert.Empty(t, list, "nothing imported yet")
	w.engine.checkFolders(ctx) // unchanged since: imported
	runs := waitRuns(t, w.engine, p.ID, 1)
	assert.Equal(t, "new file new.csv imported as churn v1", runs[0].Firings[0].Detail)
	d := waitRun(t, w.engine, runs[0].ID)
	assert.Equal(t, "churn v1", d.Steps[0].Outputs["version"].Label)
	w.engine.checkFolders(ctx)
	w.engine.checkFolders(ctx)
	runs, _ = w.engine.Runs(p.ID, 0)
	assert.Len(t, runs, 1, "a file is imported once")
	list, _ = w.datasets.List()
	require.Len(t, list, 1)
	assert.Equal(t, 1, list[0].Versions, "old.csv was never imported")
}

// An import-only folder trigger imports new files as versions and starts
// nothing; it is written and read back in YAML, and refused on any other
// kind of trigger.
func TestImportOnlyFolderTrigger(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	inbox := t.TempDir()
	p, err := w.engine.Save(Pipeline{Name: "inbox", Triggers: []Trigger{{Kind: TriggerFolder, Folder: inbox, Dataset: "churn", ImportOnly: true}},
		Steps: []Step{{ID: "data", Type: "data.newest", Fields: map[string]any{"dataset": "churn"}}}})
	require.NoError(t, err)
	w.engine.checkFolders(ctx)
	writeChurn(t, filepath.Join(inbox, "new.csv"), 60, 2)
	w.engine.checkFolders(ctx)
	w.engine.checkFolders(ctx)
	list, _ := w.datasets.List()
	require.Len(t, list, 1)
	assert.Equal(t, 1, list[0].Versions, "the file became a version")
	runs, _ := w.engine.Runs(p.ID, 0)
	assert.Empty(t, runs, "and started no run")

	y, err := ExportYAML(p)
	require.NoError(t, err)
	assert.Contains(t, string(y), "import_only: true")
	back, err := ParseYAML(y, w.engine.Types())
	require.NoError(t, err)
	assert.True(t, back.Triggers[0].ImportOnly)
	_, err = ParseYAML([]byte(strings.Replace(string(y), "import_only: true", "import_only: maybe", 1)), w.engine.Types())
	assert.ErrorContains(t, err, `trigger 1's import_only must be true or false, not "maybe"`)

	p.Triggers = []Trigger{{Kind: TriggerManual, ImportOnly: true}}
	_, err = w.engine.Save(p)
	assert.ErrorContains(t, err, "only a folder trigger can import without starting a run")
}
