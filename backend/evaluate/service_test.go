package evaluate

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

// TestServiceComparesRegisteredVersions runs the whole path the app and
// the pipeline use: a dataset version in a real store, two versions
// registered from models trained on it, and the comparison on the
// candidate's own held-out rows.
func TestServiceComparesRegisteredVersions(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	tr, err := tracking.NewService(st, core.NewBus(), st.Dir)
	require.NoError(t, err)
	reg, err := registry.NewService(st, core.NewBus(), st.Dir, tr)
	require.NoError(t, err)

	var csv strings.Builder
	csv.WriteString("x1,x2,x3,y\n")
	for _, row := range synth(600, 4).Rows {
		fmt.Fprintf(&csv, "%v,%v,%v,%v\n", row[0], row[1], row[2], row[3])
	}
	dv, err := ds.ImportReader(t.Context(), strings.NewReader(csv.String()), "churn.csv", 0, dataset.Options{})
	require.NoError(t, err)
	path, err := ds.VersionFile(dv.ID)
	require.NoError(t, err)
	frame, err := ml.ReadFrame(t.Context(), path, dv.Reading())
	require.NoError(t, err)

	register := func(p ml.Params) (registry.Version, *ml.Evaluation) {
		m, ev, err := ml.Train(t.Context(), frame, p, nil)
		require.NoError(t, err)
		dir := filepath.Join(t.TempDir(), "model")
		require.NoError(t, modelfmt.SaveML(dir, m, nil))
		v, err := reg.RegisterDir("churn", dir, registry.Meta{DatasetVersion: dv.ID, Source: "run", Params: map[string]string{
			"target": p.Target, "model": p.Model, "seed": strconv.FormatUint(p.Seed, 10), "test_fraction": "0.25", "task": ""}})
		require.NoError(t, err)
		return v, ev
	}
	weak, _ := register(ml.Params{Target: "y", Model: ml.AlgoLogistic, Seed: 3, TestFraction: 0.25, Features: []string{"x3"}})
	_, err = reg.SetAliases("churn", map[string]int{"champion": weak.Version})
	require.NoError(t, err)
	cand, ev := register(ml.Params{Target: "y", Model: ml.AlgoLogistic, Seed: 9, TestFraction: 0.25})

	bus := core.NewBus()
	svc := &Service{Versions: reg, Datasets: ds, Bus: bus}
	rep, err := svc.Compare(t.Context(), Request{Model: "churn", Candidate: strconv.Itoa(cand.Version), Options: Options{Replicates: 200}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "churn v1", rep.Champion)
	assert.Equal(t, "churn v2", rep.Candidate)
	assert.Equal(t, ev.Rows, rep.Rows)
	assert.Equal(t, "the 25 % of churn v1 that churn v2's run held out (seed 9, stratified by class): 150 rows", rep.Holdout)
	auc, _ := rep.Metric("roc_auc")
	assert.Equal(t, ev.Metrics["roc_auc"], auc.Candidate, "the rows are the candidate's own test split")
	assert.Greater(t, auc.Interval.Low, 0.1)
	require.Len(t, rep.Notes, 1)
	assert.Contains(t, rep.Notes[0], "churn v1 was trained on the same dataset version with another split")

	rep, err = svc.Compare(t.Context(), Request{Model: "churn", Candidate: "2", AllRows: true, Options: Options{Replicates: 200}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "every labelled row of churn v1: 600 rows", rep.Holdout)

	_, err = svc.Compare(t.Context(), Request{Model: "churn", Candidate: "@champion"}, nil)
	assert.ErrorContains(t, err, "churn v1 is itself the champion (@champion); choose another version to compare with it.")
	_, err = svc.Compare(t.Context(), Request{Model: "churn", Candidate: "2", Champion: "@old"}, nil)
	assert.ErrorContains(t, err, "no alias @old")
	_, err = svc.Compare(t.Context(), Request{Model: "churn"}, nil)
	assert.ErrorContains(t, err, "Name the model and the candidate version")

	// No champion yet: the candidate's figures alone.
	_, err = reg.SetAliases("churn", map[string]int{"champion": 0})
	require.NoError(t, err)
	rep, err = svc.Compare(t.Context(), Request{Model: "churn", Candidate: "2", Options: Options{Replicates: 200}}, nil)
	require.NoError(t, err)
	assert.Equal(t, "", rep.Champion)

	// Run: progress on the bus, then a cancel mid-way stops it in words.
	_, err = reg.SetAliases("churn", map[string]int{"champion": weak.Version})
	require.NoError(t, err)
	events, stop := bus.Subscribe(4096)
	defer stop()
	rep, err = svc.Run(t.Context(), "c1", Request{Model: "churn", Candidate: "2", Options: Options{Replicates: 300}})
	require.NoError(t, err)
	var last ProgressEvent
	for len(events) > 0 {
		ev := <-events
		if ev.Topic == TopicProgress {
			last = ev.Data.(ProgressEvent)
		}
	}
	assert.Equal(t, ProgressEvent{ID: "c1", Done: 300, Total: 300}, last, "the last event is the total")

	errc := make(chan error, 1)
	go func() {
		_, err := svc.Run(t.Context(), "c2", Request{Model: "churn", Candidate: "2", Options: Options{Replicates: 100000}})
		errc <- err
	}()
	for ev := range events {
		if p, ok := ev.Data.(ProgressEvent); ok && p.ID == "c2" {
			break
		}
	}
	assert.False(t, svc.Cancel("nope"))
	assert.True(t, svc.Cancel("c2"))
	err = <-errc
	require.Error(t, err)
	assert.Contains(t, err.Error(), "The comparison was cancelled after")
	assert.Contains(t, err.Error(), "of 100000 resamples.")
	assert.False(t, svc.Cancel("c2"), "a finished comparison is forgotten")
}
