package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/store"
)

type fakeTables map[string][]drift.Column

func (f fakeTables) ReadColumns(_ context.Context, id string) ([]drift.Column, error) {
	c, ok := f[id]
	if !ok {
		return nil, core.Errorf(core.NotFound, "no version %s", id)
	}
	return c, nil
}

// drifted traffic: requests whose x is shifted by 3 sd and all "red".
func traffic(n int, shift float64, now time.Time) []LogRecord {
	xs := normal(9, n, shift)
	var recs []LogRecord
	for i := 0; i < n; i++ {
		recs = append(recs, LogRecord{
			Time: now.Add(-time.Duration(i) * time.Second), LatencyMs: 2, Status: 200,
			Request:  []byte(fmt.Sprintf(`{"dataframe_records":[{"x":%g,"color":"red"}]}`, xs[i])),
			Response: []byte(fmt.Sprintf(`{"predictions":[%g]}`, xs[i]/10)),
		})
	}
	return recs
}

func TestServiceMonitorAlertsAndWebhook(t *testing.T) {
	st := store.MustOpen(t)
	bus := core.NewBus()
	events, stop := bus.Subscribe(16)
	defer stop()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

	hook := make(chan WebhookPayload, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p WebhookPayload
		assert.NoError(t, json.Unmarshal(b, &p))
		hook <- p
	}))
	defer srv.Close()

	tables := fakeTables{"train-v1": {
		{Name: "x", Kind: drift.Numeric, Num: normal(1, 3000, 0)},
		{Name: "color", Kind: drift.Categorical, Cat: repeat([]string{"red", "blue", "green"}, 1000)},
	}}
	dir := t.TempDir()
	svc := NewService(Config{Store: st, Bus: bus, DataDir: dir, Tables: tables, Logs: fakeLog{traffic(800, 3, now)}, Client: srv.Client(), Clock: core.NewManualClock(now)})

	m, err := svc.CreateMonitor(t.Context(), Monitor{
		Name: "churn model", Kind: KindDeployment, Deployment: "churn", RefVersion: "train-v1",
		Window: Window{LastN: 500},
		Rules:  []Rule{{Name: "half the columns", Kind: RuleDriftShare, Threshold: 0.5, Webhook: srv.URL}, {Name: "slow", Kind: RuleLatencyP95, Threshold: 100}},
	})
	require.NoError(t, err)
	require.NotEmpty(t, m.ProfileID, "the reference is frozen at creation")
	files, _ := filepath.Glob(filepath.Join(dir, "monitor", "profiles", "*.json"))
	assert.Len(t, files, 1)
	delete(tables, "train-v1") // later runs never read the reference data again

	rep, err := svc.RunMonitor(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, 500, rep.Rows)
	assert.True(t, rep.Drift.Drift)
	require.Len(t, rep.Alerts, 1, "drift share fires, latency does not")
	a := rep.Alerts[0]
	assert.Equal(t, rep.ID, a.ReportID)

	select {
	case p := <-hook:
		assert.Equal(t, rep.ID, p.Alert.ReportID)
		assert.Equal(t, "half the columns", p.Alert.Rule)
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called")
	}
	svc.Wait()

	var sawAlert bool
	deadline := time.After(2 * time.Second)
	for !sawAlert {
		select {
		case ev := <-events:
			if ev.Topic == "monitor.alert" {
				sawAlert = true
			}
		case <-deadline:
			t.Fatal("no monitor.alert event")
		}
	}

	alerts, err := svc.Alerts(10)
	require.NoError(t, err)
	require.Len(t, alerts, 1)
	assert.Equal(t, "delivered (HTTP 200)", alerts[0].Delivery)

	reps, err := svc.Reports(10)
	require.NoError(t, err)
	require.Len(t, reps, 1)
	assert.Equal(t, 1, reps[0].Alerts)
	back, err := svc.Report(rep.ID)
	require.NoError(t, err)
	html, err := HTML(back)
	require.NoError(t, err)
	assert.Contains(t, string(html), "Dataset drift detected")
	assert.Contains(t, string(html), "half the columns")

	got, err := svc.Monitor(m.ID)
	require.NoError(t, err)
	assert.Equal(t, rep.ID, got.LastReport)

	// Prediction drift: the training data held no model outputs, so the
	// first window's predictions became their baseline; the next run
	// compares against it.
	assert.NotEmpty(t, got.PredictionProfileID)
	require.NotEmpty(t, rep.Notes)
	rep2, err := svc.RunMonitor(t.Context(), m.ID)
	require.NoError(t, err)
	var pred *drift.Verdict
	for i, v := range rep2.Drift.Columns {
		if v.Column == PredictionColumn {
			pred = &rep2.Drift.Columns[i]
		}
	}
	require.NotNil(t, pred, "prediction drift is measured from the second run on")
	assert.Equal(t, drift.StatusOK, pred.Status)
	assert.False(t, pred.Drift, "same traffic, same predictions")

	_, err = svc.Report("nope")
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func TestServiceValidation(t *testing.T) {
	st := store.MustOpen(t)
	svc := NewService(Config{Store: st, DataDir: t.TempDir()})
	for _, m := range []Monitor{
		{Kind: KindVersions, RefVersion: "a", CurVersion: "b"},
		{Name: "x", Kind: "other"},
		{Name: "x", Kind: KindVersions, RefVersion: "a"},
		{Name: "x", Kind: KindDeployment},
		{Name: "x", Kind: KindDeployment, Deployment: "d", RefVersion: "v"}, // no datasets wired
		{Name: "x", Kind: KindVersions, RefVersion: "a", CurVersion: "b", Rules: []Rule{{Name: "r", Kind: "bad"}}},
	} {
		_, err := svc.CreateMonitor(t.Context(), m)
		assert.Error(t, err, "%+v", m)
	}
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "v", Kind: KindVersions, RefVersion: "a", CurVersion: "b"})
	require.NoError(t, err)
	_, err = svc.RunMonitor(t.Context(), m.ID)
	assert.Equal(t, core.Unavailable, core.ErrorCode(err), "no dataset reader wired")
	_, err = svc.Profile("../../etc/passwd")
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	require.NoError(t, svc.DeleteMonitor(m.ID))
	ms, err := svc.Monitors()
	require.NoError(t, err)
	assert.Empty(t, ms)
}

func TestServiceVersionsAndSchedule(t *testing.T) {
	st := store.MustOpen(t)
	tables := fakeTables{"v1": sampleColumns(1, 2000, 0)[:4], "v2": sampleColumns(2, 2000, 1)[:4]}
	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: tables})
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "versions", Kind: KindVersions, RefVersion: "v1", CurVersion: "v2", Every: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { svc.Start(ctx, 20*time.Millisecond); close(done) }()
	require.Eventually(t, func() bool {
		r, _ := svc.Reports(0)
		return len(r) >= 1
	}, 10*time.Second, 20*time.Millisecond)
	cancel()
	<-done
	got, err := svc.Monitor(m.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, got.LastReport)
}

func TestCompareFiles(t *testing.T) {
	svc := NewService(Config{Store: store.MustOpen(t), DataDir: t.TempDir()})
	dir := t.TempDir()
	write := func(name string, shift float64) string {
		var b strings.Builder
		b.WriteString("x,color\n")
		for i, x := range normal(uint64(len(name)), 400, shift) {
			fmt.Fprintf(&b, "%g,%s\n", x, []string{"red", "blue"}[i%2])
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
		return p
	}
	ref, cur := write("ref.csv", 0), write("current.csv", 3)
	r, err := svc.CompareFiles(t.Context(), ref, cur)
	require.NoError(t, err)
	assert.Equal(t, "Drift of a file", r.Title)
	assert.True(t, r.Drift.Drift, "x moved by 3 sd")
	stored, err := svc.Report(r.ID)
	require.NoError(t, err)
	assert.Equal(t, r.ID, stored.ID)

	_, err = svc.CompareFiles(t.Context(), filepath.Join(dir, "missing.csv"), cur)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "missing.csv cannot be opened")
}
