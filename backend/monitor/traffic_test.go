package monitor

import (
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

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
)

// TestTrafficBecomesADatasetVersion: inputs served through the router and
// labelled later become the next version of the training dataset — its
// columns in its order, the target holding the label, only the labelled
// rows of successful requests in the range — with lineage back to the
// deployment, the model version that answered and the label file.
func TestTrafficBecomesADatasetVersion(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	train, err := ds.ImportReader(t.Context(), strings.NewReader("age,city,churn\n31,Lyon,0\n45,Nice,1\n52,Lyon,1\n28,Nice,0\n"), "customers.csv", 0, dataset.Options{})
	require.NoError(t, err)
	train, err = ds.EditSchema(t.Context(), train.ID, []dataset.ColumnEdit{{Name: "churn", Role: table.Target}})
	require.NoError(t, err)

	// The model answers 1 for age > 40 and fails on a request that asks
	// for "fail" as a city.
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			return
		}
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), "fail") {
			http.Error(w, `{"error_code":"BAD_REQUEST","message":"no"}`, 400)
			return
		}
		recs, err := ParseRequest(b)
		require.NoError(t, err)
		var preds []string
		for _, r := range recs {
			preds = append(preds, map[bool]string{true: "1", false: "0"}[r["age"].(float64) > 40])
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"predictions":[%s]}`, strings.Join(preds, ","))
	}))
	defer model.Close()
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	clock := core.NewManualClock(t0)
	plog := predlog.New(st, predlog.Options{FlushEvery: 5 * time.Millisecond})
	rt, err := router.New("dep1", []router.Backend{{ID: "v1", URL: model.URL}},
		router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}}, router.Options{Log: plog, HealthInterval: -1, Clock: clock})
	require.NoError(t, err)
	front := httptest.NewServer(rt)
	defer front.Close()
	send := func(body string, want int) string {
		resp, err := http.Post(front.URL+"/invocations", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode)
		clock.Advance(time.Minute)
		return resp.Header.Get(core.RequestIDHeader)
	}
	early := send(`{"dataframe_records":[{"age":33,"city":"Lyon"}]}`, 200) // before the range
	clock.Set(t0.Add(time.Hour))
	two := send(`{"dataframe_split":{"columns":["city","age"],"data":[["Nice",61],["Lyon",22.5]]}}`, 200)
	one := send(`{"instances":[{"age":47,"city":"Paris, \"centre\""}]}`, 200)
	failed := send(`{"instances":[{"age":50,"city":"fail"}]}`, 400)
	unlabelled := send(`{"instances":[{"age":70,"city":"Nice"}]}`, 200)
	require.NotEmpty(t, unlabelled)
	rt.Close()
	plog.Close()

	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: DatasetTables{Datasets: ds}, Datasets: ds, Logs: ServingLog{Store: st}, Clock: clock})
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "churn", Kind: KindDeployment, Deployment: "dep1", RefVersion: train.ID})
	require.NoError(t, err)

	_, err = svc.TrafficDataset(t.Context(), m.ID, TrafficOptions{})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "no labels yet")

	labels := fmt.Sprintf("request_id,row,label\n%s,0,0\n%s,0,1\n%s,1,0\n%s,0,1\n%s,0,1\n%s,3,1\nnever-served,0,1\n", early, two, two, one, failed, one)
	lf := filepath.Join(t.TempDir(), "labels-december.csv")
	require.NoError(t, os.WriteFile(lf, []byte(labels), 0o600))
	_, err = svc.IngestLabelsFile(t.Context(), m.ID, lf, LabelOptions{})
	require.NoError(t, err)

	// A range with nothing in it writes nothing and says why.
	before, err := ds.Versions(train.DatasetID)
	require.NoError(t, err)
	_, err = svc.TrafficDataset(t.Context(), m.ID, TrafficOptions{From: t0.Add(5 * time.Hour)})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "request outside the time range")
	_, err = svc.TrafficDataset(t.Context(), m.ID, TrafficOptions{From: t0.Add(time.Hour), To: t0})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "ends")
	after, err := ds.Versions(train.DatasetID)
	require.NoError(t, err)
	assert.Len(t, after, len(before), "a refusal writes no version")

	res, err := svc.TrafficDataset(t.Context(), m.ID, TrafficOptions{From: t0.Add(30 * time.Minute)})
	require.NoError(t, err)
	v := res.Version
	assert.Equal(t, "customers", v.Dataset)
	assert.Equal(t, 2, v.Number, "the next version of the training dataset")
	assert.Equal(t, int64(3), v.Rows)
	assert.Equal(t, map[string]int{
		skipOutOfRange: 1, skipFailed: 1, skipNoRow: 1, skipUnmatched: 1,
	}, res.Skipped)
	var names []string
	for _, c := range v.Schema {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"age", "city", "churn"}, names)
	assert.Equal(t, "churn", v.TargetColumn(), "the target role carries over")
	assert.Regexp(t, `^churn labelled 2026-12-05 \d{4}\.csv$`, v.SourceName, "the source says what it is")
	path, err := ds.VersionFile(v.ID)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "age,city,churn\n61,Nice,1\n22.5,Lyon,0\n47,\"Paris, \"\"centre\"\"\",1\n", string(b))

	o := v.Origin
	require.NotNil(t, o)
	assert.Equal(t, "traffic", o.Kind)
	assert.Equal(t, "dep1", o.Deployment)
	assert.Equal(t, []string{"v1"}, o.Backends)
	assert.Equal(t, 2, o.Requests)
	assert.Equal(t, 3, o.Rows)
	require.Len(t, o.Labels, 1)
	assert.Equal(t, "labels-december.csv", o.Labels[0].Name)
	assert.Equal(t, 7, o.Labels[0].Labels)
	assert.Len(t, o.Labels[0].SHA256, 64)
	stored, err := ds.Version(v.ID)
	require.NoError(t, err)
	assert.Equal(t, o, stored.Origin, "the lineage is stored with the version")
}

// TestReportsLeaveOutIDsAndCountTheTargetApart: comparing two dataset
// versions, the ID and the date are not compared (each with its reason,
// in the verdicts and the notes), and a target whose distribution moved is
// target drift — named, but not counted in the data-drift share.
func TestReportsLeaveOutIDsAndCountTheTargetApart(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	version := func(name string, churnEvery int, idFrom int) dataset.Version {
		var b strings.Builder
		b.WriteString("customer_id,age,signup,churn\n")
		for i := range 400 {
			churn := 0
			if i%churnEvery == 0 {
				churn = 1
			}
			fmt.Fprintf(&b, "%d,%d,2024-%02d-01,%d\n", idFrom+i, 20+i%40, 1+i%12, churn)
		}
		v, err := ds.ImportReader(t.Context(), strings.NewReader(b.String()), name, 0, dataset.Options{Name: "customers"})
		require.NoError(t, err)
		return v
	}
	v1 := version("jan.csv", 10, 0)
	v1, err = ds.EditSchema(t.Context(), v1.ID, []dataset.ColumnEdit{{Name: "churn", Role: table.Target}})
	require.NoError(t, err)
	v2 := version("feb.csv", 2, 10_000) // same ages, new IDs and half the customers churn
	require.Equal(t, "churn", v2.TargetColumn(), "the role carries over")

	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: DatasetTables{Datasets: ds}})
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "versions", Kind: KindVersions, RefVersion: v1.ID, CurVersion: v2.ID})
	require.NoError(t, err)
	rep, err := svc.RunMonitor(t.Context(), m.ID)
	require.NoError(t, err)
	r := rep.Drift
	byName := map[string]drift.Verdict{}
	for _, v := range r.Columns {
		byName[v.Column] = v
	}
	assert.Equal(t, drift.StatusSkipped, byName["customer_id"].Status)
	assert.Contains(t, byName["customer_id"].Reason, "an ID column")
	assert.Equal(t, drift.StatusSkipped, byName["signup"].Status)
	assert.Equal(t, drift.RoleTarget, byName["churn"].Role)
	assert.True(t, byName["churn"].Drift, "the label's share moved from 10% to 50%")
	assert.True(t, r.TargetDrift)
	assert.Equal(t, 1, r.Evaluated, "only age counts")
	assert.Equal(t, 0, r.Drifted)
	assert.False(t, r.Drift, "no data drift: the target is apart")
	require.Len(t, rep.Notes, 2)
	assert.Equal(t, "Not compared: customer_id (an ID column — every new row brings new values, so it drifts by construction); signup (a date or time — new data is later by construction).", rep.Notes[0])
	assert.Equal(t, "The target churn drifted: it is target (label) drift, not counted in the share of drifted columns.", rep.Notes[1])

	// Asked to, the target counts.
	m2, err := svc.CreateMonitor(t.Context(), Monitor{Name: "versions, target counted", Kind: KindVersions, RefVersion: v1.ID, CurVersion: v2.ID,
		Drift: drift.Options{CountTarget: true}})
	require.NoError(t, err)
	rep, err = svc.RunMonitor(t.Context(), m2.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Drift.Evaluated)
	assert.Equal(t, 1, rep.Drift.Drifted)
	assert.Contains(t, rep.Notes[1], "counted in the share of drifted columns, as this monitor asks")
}
