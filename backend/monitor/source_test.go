package monitor

import (
	"context"
	"fmt"
	"math"
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
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
)

func TestReadCSV(t *testing.T) {
	cols, err := ReadCSV(strings.NewReader("age,city,score\n31,Oslo,0.5\n,Lima,NA\n45,\"Pune, IN\",1e3\n"))
	require.NoError(t, err)
	require.Len(t, cols, 3)
	assert.Equal(t, drift.Numeric, cols[0].Kind)
	assert.Equal(t, 31.0, cols[0].Num[0])
	assert.True(t, math.IsNaN(cols[0].Num[1]))
	assert.Equal(t, drift.Categorical, cols[1].Kind)
	assert.Equal(t, "Pune, IN", cols[1].Cat[2])
	assert.True(t, math.IsNaN(cols[2].Num[1]))
	assert.Equal(t, 1000.0, cols[2].Num[2])

	for _, bad := range []string{"", "a,b\n1\n", "a,b\n\"1,2\n"} {
		_, err := ReadCSV(strings.NewReader(bad))
		require.Error(t, err, "%q", bad)
		assert.Equal(t, core.Invalid, core.ErrorCode(err))
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, body string
		rows       int
		first      map[string]any
	}{
		{"dataframe_split", `{"dataframe_split":{"columns":["a","b"],"data":[[1,"x"],[2,"y"]]}}`, 2, map[string]any{"a": 1.0, "b": "x"}},
		{"dataframe_records", `{"dataframe_records":[{"a":1,"b":"x"}]}`, 1, map[string]any{"a": 1.0, "b": "x"}},
		{"instances", `{"instances":[{"a":3}]}`, 1, map[string]any{"a": 3.0}},
		{"inputs arrays", `{"inputs":[[1,2]]}`, 1, map[string]any{"f0": 1.0, "f1": 2.0}},
		{"inputs columnar", `{"inputs":{"a":[1,2]}}`, 2, map[string]any{"a": 1.0}},
		{"v2 named tensors", `{"inputs":[{"name":"a","shape":[2],"datatype":"FP64","data":[1,2]},{"name":"b","shape":[2,1],"datatype":"BYTES","data":[["x"],["y"]]}]}`, 2, map[string]any{"a": 1.0, "b": "x"}},
		{"v2 one matrix", `{"inputs":[{"name":"input-0","shape":[2,2],"datatype":"FP64","data":[[1,2],[3,4]]}]}`, 2, map[string]any{"f0": 1.0, "f1": 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := ParseRequest([]byte(tt.body))
			require.NoError(t, err)
			require.Len(t, rows, tt.rows)
			assert.Equal(t, tt.first, rows[0])
		})
	}
	for _, bad := range []string{``, `[]`, `{"x":1}`, `{"dataframe_split":5}`, `{"inputs":7}`} {
		_, err := ParseRequest([]byte(bad))
		assert.Error(t, err, bad)
	}
	p, err := ParseResponse([]byte(`{"predictions":[0.2,[0.9,0.1],{"label":"cat"}]}`))
	require.NoError(t, err)
	assert.Equal(t, []any{0.2, 0.9, "cat"}, p)
	p, err = ParseResponse([]byte(`{"model_name":"m","outputs":[{"name":"predict","shape":[2],"datatype":"FP64","data":[0.1,0.7]}]}`))
	require.NoError(t, err)
	assert.Equal(t, []any{0.1, 0.7}, p)
	p, err = ParseResponse([]byte(`[1,0]`))
	require.NoError(t, err)
	assert.Len(t, p, 2)
}

type fakeLog struct{ recs []LogRecord }

func (f fakeLog) Recent(_ context.Context, _ string, limit int) ([]LogRecord, error) {
	return f.recs[:min(limit, len(f.recs))], nil
}

// TestPredictionLogSource: requests become feature columns, responses a
// prediction column, and windows select by count and by time.
func TestPredictionLogSource(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	refCols := []drift.Column{
		{Name: "x", Kind: drift.Numeric, Num: normal(1, 2000, 0)},
		{Name: "color", Kind: drift.Categorical, Cat: repeat([]string{"red", "blue"}, 1000)},
		{Name: PredictionColumn, Kind: drift.Numeric, Num: normal(2, 2000, 0.5)},
	}
	ref := drift.BuildProfile(refCols, drift.ProfileOptions{})
	var recs []LogRecord
	xs := normal(3, 600, 3) // strongly shifted traffic
	for i := 0; i < 600; i++ {
		status := 200
		if i%50 == 0 {
			status = 500
		}
		recs = append(recs, LogRecord{
			Time: now.Add(-time.Duration(i) * time.Second), LatencyMs: float64(i % 20), Status: status,
			Request:  []byte(fmt.Sprintf(`{"dataframe_split":{"columns":["x","color"],"data":[[%g,"red"]]}}`, xs[i])),
			Response: []byte(fmt.Sprintf(`{"predictions":[%g]}`, 0.5+xs[i]/10)),
		})
	}
	src := PredictionLog{Log: fakeLog{recs}, Deployment: "d1", Ref: ref, Clock: core.NewManualClock(now)}

	s, err := src.Current(t.Context(), Window{LastN: 500})
	require.NoError(t, err)
	assert.Equal(t, 500, s.Ops.Requests)
	assert.Equal(t, 10, s.Ops.Errors)
	assert.Equal(t, 490, s.Rows, "failed requests are not features")
	assert.InDelta(t, 0.02, s.Ops.ErrorRate, 1e-9)
	assert.InDelta(t, 18, s.Ops.LatencyP95Ms, 1)
	require.Len(t, s.Columns, 3)

	s, err = src.Current(t.Context(), Window{Last: 100 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 101, s.Ops.Requests)

	rep, err := Build(t.Context(), src, BuildOptions{Window: Window{LastN: 500}})
	require.NoError(t, err)
	byName := map[string]drift.Verdict{}
	for _, v := range rep.Drift.Columns {
		byName[v.Column] = v
	}
	assert.True(t, byName["x"].Drift, "shifted feature")
	assert.True(t, byName["color"].Drift, "all red now")
	assert.True(t, byName[PredictionColumn].Drift, "prediction drift")

	_, err = PredictionLog{Log: fakeLog{}, Deployment: "d"}.Reference(t.Context())
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
}

func normal(seed uint64, n int, mean float64) []float64 {
	v := sampleColumns(seed, n, 0)[0].Num
	for i := range v {
		v[i] = (v[i]-40)/12 + mean
	}
	return v
}

func repeat(vals []string, times int) []string {
	var out []string
	for i := 0; i < times; i++ {
		out = append(out, vals...)
	}
	return out
}

// A window with no usable traffic gives an honest report, never a panic or
// a false alert: columns are "insufficient data", ops still count.
func TestEmptyAndBrokenWindows(t *testing.T) {
	ref := drift.BuildProfile([]drift.Column{{Name: "x", Kind: drift.Numeric, Num: normal(1, 500, 0)}}, drift.ProfileOptions{})
	now := time.Now()
	broken := []LogRecord{
		{Time: now, Status: 200, Request: []byte(`not json`), Response: []byte(`{}`)},
		{Time: now, Status: 200, Request: []byte(`{"dataframe_split":{"columns":["x"],"data":[["abc"]]}}`)},
		{Time: now, Status: 503, Request: []byte(`{"instances":[{"x":1}]}`)},
	}
	rules := []Rule{{Name: "share", Kind: RuleDriftShare}, {Name: "errors", Kind: RuleErrorRate, Threshold: 0.5}}
	for name, recs := range map[string][]LogRecord{"empty": nil, "broken": broken} {
		t.Run(name, func(t *testing.T) {
			rep, err := Build(t.Context(), PredictionLog{Log: fakeLog{recs}, Deployment: "d", Ref: ref}, BuildOptions{Window: Window{LastN: 100}})
			require.NoError(t, err)
			assert.False(t, rep.Drift.Drift)
			assert.Equal(t, 0, rep.Drift.Evaluated)
			assert.Equal(t, drift.StatusInsufficient, rep.Drift.Columns[0].Status)
			alerts := Evaluate(rules, rep, seqIDs())
			if name == "broken" {
				require.Len(t, alerts, 0, "1 of 3 failed: 33%% is below 50%%")
				assert.Equal(t, 3, rep.Ops.Requests)
				assert.Equal(t, 1, rep.Ops.Errors)
			} else {
				assert.Empty(t, alerts)
			}
			_, err = HTML(rep)
			require.NoError(t, err)
			_, err = PDF(rep)
			require.NoError(t, err)
		})
	}
}

// TestReadCSVLikeTheImport: a comparison file is read by the dataset's own
// reader: ';' and Windows-1252 are detected, "-" is a missing value, and a
// column of digits with a word later in the file is categorical.
func TestReadCSVLikeTheImport(t *testing.T) {
	cols, err := ReadCSV(strings.NewReader("ville;prix;code\nOrl\xe9ans;1.5;7\nN\xeemes;-;x\n"))
	require.NoError(t, err)
	require.Len(t, cols, 3)
	assert.Equal(t, []string{"Orléans", "Nîmes"}, cols[0].Cat)
	assert.Equal(t, drift.Numeric, cols[1].Kind)
	assert.Equal(t, 1.5, cols[1].Num[0])
	assert.True(t, math.IsNaN(cols[1].Num[1]))
	assert.Equal(t, drift.Categorical, cols[2].Kind)
}

// TestDatasetTablesReadTheVersion: a reference read from a dataset version
// goes through the version's own reader and settings (Windows-1252, ';',
// its missing-value tokens) and leaves out IDs and datetimes.
func TestDatasetTablesReadTheVersion(t *testing.T) {
	st := store.MustOpen(t)
	blobs, err := blob.Open(filepath.Join(st.Dir, "blobs"), st)
	require.NoError(t, err)
	ds := dataset.NewService(st, blobs, core.NewBus(), st.Dir)
	data := "id;ville;prix;jour\n1;Orl\xe9ans;1.5;2024-01-02\n2;N\xeemes;manquant;2024-01-03\n3;Orl\xe9ans;2;2024-01-04\n"
	v, err := ds.ImportReader(t.Context(), strings.NewReader(data), "ventes.csv", 0,
		dataset.Options{Options: table.Options{NullTokens: []string{"", "manquant"}}})
	require.NoError(t, err)
	cols, err := DatasetTables{Datasets: ds}.ReadColumns(t.Context(), v.ID)
	require.NoError(t, err)
	require.Len(t, cols, 4)
	assert.Contains(t, cols[0].Skip, "an ID column", "the id is left out, with its reason")
	assert.Nil(t, cols[0].Cat)
	assert.Contains(t, cols[3].Skip, "a date or time", "so is the date")
	assert.Equal(t, []string{"Orléans", "Nîmes", "Orléans"}, cols[1].Cat)
	assert.Equal(t, drift.Numeric, cols[2].Kind)
	assert.Equal(t, 1.5, cols[2].Num[0])
	assert.True(t, math.IsNaN(cols[2].Num[1]))
}
