package monitor

import (
	"fmt"
	"io"
	"math"
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
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels([]byte("\xef\xbb\xbfnote,request_id,label\nx,a-1,1.0\n,b-2, cat \n\ny,c-3,-0\n"))
	require.NoError(t, err)
	assert.Equal(t, []Label{{"a-1", 0, "1"}, {"b-2", 0, "cat"}, {"c-3", 0, "0"}}, got)

	got, err = ParseLabels([]byte(`{"request_id":"a","label":1}
{"request_id":"b","label":true}

{"request_id":"c","label":"2.50","extra":[1]}
`))
	require.NoError(t, err)
	assert.Equal(t, []Label{{"a", 0, "1"}, {"b", 0, "true"}, {"c", 0, "2.5"}}, got)

	// Rows of a batch request: the same ID on several rows.
	got, err = ParseLabels([]byte("request_id,row,label\na,0,1\na,1,0\nb,,1\n"))
	require.NoError(t, err)
	assert.Equal(t, []Label{{"a", 0, "1"}, {"a", 1, "0"}, {"b", 0, "1"}}, got)
	got, err = ParseLabels([]byte(`{"request_id":"a","row":3,"label":1}` + "\n"))
	require.NoError(t, err)
	assert.Equal(t, []Label{{"a", 3, "1"}}, got)
}

func TestParseLabelsErrorsNameTheRow(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"empty":           {"", "empty"},
		"header only":     {"request_id,label\n", "no labels"},
		"header lacks id": {"id,label\na,1\n", "Row 1 (the header) must name the columns request_id and label"},
		"missing id csv":  {"request_id,label\na,1\n ,0\n", "Row 3: request_id is empty"},
		"short row":       {"request_id,label\na,1\nb\n", `Row 3: the label of "b" is empty`},
		"nan":             {"request_id,label\na,1\nb,NaN\n", `Row 3: the label of "b" is not a finite number`},
		"inf":             {"request_id,label\na,+Inf\n", `Row 2: the label of "a" is not a finite number`},
		"out of range":    {"request_id,label\na,1e999\n", "Row 2: the label of \"a\" is out of range"},
		"duplicate csv":   {"request_id,label\na,1\nb,0\na,0\n", `Row 4: request ID "a" was already labelled on row 2`},
		"bad id":          {"request_id,label\n\"a\tb\",1\n", "Row 2: request_id"},
		"long id":         {"request_id,label\n" + strings.Repeat("z", 129) + ",1\n", "Row 2: request_id"},
		"bad quote":       {"request_id,label\na,1\n\"b,1\n", "Row 3 cannot be read as CSV"},
		"json not object": {"{\"request_id\":\"a\",\"label\":1}\n[1]\n", "Row 2 is not a JSON object"},
		"json missing id": {"{\"request_id\":\"a\",\"label\":1}\n{\"label\":1}\n", "Row 2 has no request_id"},
		"json numeric id": {"{\"request_id\":7,\"label\":1}\n", "Row 1: request_id must be a string"},
		"json no label":   {"{\"request_id\":\"a\"}\n", "Row 1 has no label"},
		"json null label": {"{\"request_id\":\"a\",\"label\":null}\n", `Row 1: the label of "a" is missing`},
		"json list label": {"{\"request_id\":\"a\",\"label\":[1]}\n", "must be a number, a boolean or text"},
		"bad row csv":     {"request_id,row,label\na,-1,1\n", `Row 2: row "-1" must be a whole number`},
		"bad row json":    {"{\"request_id\":\"a\",\"row\":1.5,\"label\":1}\n", "Row 1: row must be a whole number"},
		"duplicate row":   {"request_id,row,label\na,1,1\na,0,1\na,1,0\n", `Row 4: request ID "a" row 1 was already labelled on row 2`},
		"json duplicate":  {"{\"request_id\":\"a\",\"label\":1}\n\n{\"request_id\":\"a\",\"label\":0}\n", `Row 3: request ID "a" was already labelled on row 1`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseLabels([]byte(tc.in))
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			assert.Contains(t, core.ErrorMessage(err), tc.want)
		})
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add([]byte("request_id,label\na,1\nb,0\n"))
	f.Add([]byte("{\"request_id\":\"a\",\"label\":1}\n"))
	f.Add([]byte("request_id,label\na,1\na,1\n"))
	f.Add([]byte("label,request_id\n\"x\"\"y\",z\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := ParseLabels(data)
		if err != nil {
			assert.Equal(t, core.Invalid, core.ErrorCode(err), "%v", err)
			return
		}
		require.NotEmpty(t, labels)
		seen := map[Label]bool{}
		for _, l := range labels {
			assert.True(t, core.ValidRequestID(l.RequestID), "%q", l.RequestID)
			assert.GreaterOrEqual(t, l.Row, 0)
			key := Label{RequestID: l.RequestID, Row: l.Row}
			assert.False(t, seen[key], "duplicate %q row %d accepted", l.RequestID, l.Row)
			seen[key] = true
			again, err := canonicalLabel(l.Value)
			require.NoError(t, err, "canonical %q", l.Value)
			assert.Equal(t, l.Value, again, "canonical form is stable")
		}
	})
}

func TestReadPrediction(t *testing.T) {
	for in, want := range map[string]prediction{
		`{"predictions":[1]}`:                             {label: "1", num: 1, isNum: true},
		`[2.5]`:                                           {label: "2.5", num: 2.5, isNum: true},
		`{"predictions":["cat"]}`:                         {label: "cat"},
		`{"predictions":[[0.2,0.8]]}`:                     {label: "1", num: 1, isNum: true, score: 0.8, hasScore: true, probs: true},
		`{"predictions":[[0.2,0.5,0.3]]}`:                 {label: "1", num: 1, isNum: true, probs: true},
		`{"predictions":[{"label":0,"probability":0.3}]}`: {label: "0", isNum: true, score: 0.3, hasScore: true},
		`{"outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.9,0.1]}]}`: {label: "0", isNum: true, score: 0.1, hasScore: true, probs: true},
		`{"outputs":[{"name":"p","shape":[1],"datatype":"FP32","data":[3]}]}`:         {label: "3", num: 3, isNum: true},
	} {
		got, ok := readPrediction([]byte(in), 0)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{`{"error":"x"}`, `not json`, `{"predictions":[null]}`, `{"predictions":[]}`} {
		_, ok := readPrediction([]byte(in), 0)
		assert.False(t, ok, in)
	}
	// Batches: the labelled row of the answer.
	p, ok := readPrediction([]byte(`{"predictions":[1,0,"x"]}`), 2)
	assert.True(t, ok)
	assert.Equal(t, "x", p.label)
	_, ok = readPrediction([]byte(`{"predictions":[1,0]}`), 2)
	assert.False(t, ok, "a row the answer lacks")
	p, ok = readPrediction([]byte(`{"outputs":[{"name":"p","shape":[2,2],"datatype":"FP32","data":[[0.9,0.1],[0.3,0.7]]}]}`), 1)
	assert.True(t, ok)
	assert.Equal(t, prediction{label: "1", num: 1, isNum: true, score: 0.7, hasScore: true, probs: true}, p)
}

func pairsOf(ys []string, preds []string, scores []float64) []joined {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var out []joined
	for i := range ys {
		j := joined{at: t0.Add(time.Duration(i) * time.Second), y: ys[i]}
		j.yNum, j.yIsN = parseNum(ys[i])
		j.p.label = preds[i]
		j.p.num, j.p.isNum = parseNum(preds[i])
		if scores != nil {
			j.p.score, j.p.hasScore = scores[i], true
		}
		out = append(out, j)
	}
	return out
}

func parseNum(s string) (float64, bool) {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return f, err == nil
}

// Reference values computed by hand (and agreeing with scikit-learn's
// accuracy_score, precision_recall_fscore_support and roc_auc_score).
func TestClassificationMetrics(t *testing.T) {
	// y = 1 1 1 0 0 0 1 0 ; pred = 1 0 1 0 1 0 1 0 -> TP 3, FN 1, FP 1, TN 3
	ys := []string{"1", "1", "1", "0", "0", "0", "1", "0"}
	ps := []string{"1", "0", "1", "0", "1", "0", "1", "0"}
	// scores with a tie across classes (0.6 on a positive and a negative)
	sc := []float64{0.9, 0.4, 0.6, 0.2, 0.6, 0.1, 0.8, 0.3}
	perf := computePerformance(pairsOf(ys, ps, sc), time.Hour, "")
	require.Equal(t, TaskClassification, perf.Task)
	assert.Equal(t, "1", perf.Positive)
	m := perf.Overall.Metrics
	assert.InDelta(t, 0.75, m[MetricAccuracy], 1e-12)
	assert.InDelta(t, 0.75, m[MetricPrecision], 1e-12)
	assert.InDelta(t, 0.75, m[MetricRecall], 1e-12)
	assert.InDelta(t, 0.75, m[MetricF1], 1e-12)
	// pairs (pos,neg) won: 0.9,0.8 beat all 4; 0.6 beats 3 and ties 1; 0.4 beats 3 -> (4+4+3.5+3)/16
	assert.InDelta(t, 14.5/16, m[MetricROCAUC], 1e-12)

	// Multi-class: macro averages; no scores, no ROC-AUC.
	perf = computePerformance(pairsOf([]string{"a", "b", "c", "a"}, []string{"a", "b", "a", "a"}, nil), time.Hour, "")
	m = perf.Overall.Metrics
	assert.InDelta(t, 0.75, m[MetricAccuracy], 1e-12)
	// precision: a 2/3, b 1, c undefined -> (2/3+1)/2; recall: a 1, b 1, c 0 -> 2/3
	assert.InDelta(t, (2.0/3+1)/2, m[MetricPrecision], 1e-12)
	assert.InDelta(t, 2.0/3, m[MetricRecall], 1e-12)
	assert.InDelta(t, (0.8+1+0)/3, m[MetricF1], 1e-12)
	assert.NotContains(t, m, MetricROCAUC)

	// 0/1 labels against probabilities: scores, cut at 0.5.
	perf = computePerformance(pairsOf([]string{"1", "0", "1", "0"}, []string{"0.9", "0.2", "0.3", "0.1"}, nil), time.Hour, "")
	assert.Equal(t, TaskClassification, perf.Task)
	assert.InDelta(t, 0.75, perf.Overall.Metrics[MetricAccuracy], 1e-12)
	assert.InDelta(t, 1.0, perf.Overall.Metrics[MetricROCAUC], 1e-12)
}

func TestRegressionMetrics(t *testing.T) {
	perf := computePerformance(pairsOf([]string{"3", "-0.5", "2", "7"}, []string{"2.5", "0.0", "2", "8"}, nil), time.Hour, "")
	require.Equal(t, TaskRegression, perf.Task)
	m := perf.Overall.Metrics
	// scikit-learn doc example: MSE 0.375, MAE 0.5, R² 0.9486081370449679
	assert.InDelta(t, math.Sqrt(0.375), m[MetricRMSE], 1e-12)
	assert.InDelta(t, 0.5, m[MetricMAE], 1e-12)
	assert.InDelta(t, 0.9486081370449679, m[MetricR2], 1e-12)
	assert.NotContains(t, m, MetricAccuracy)
}

func TestRealisedRuleValidation(t *testing.T) {
	ok := Rule{Name: "acc", Kind: RuleRealised, Metric: MetricAccuracy, Threshold: 0.8}
	require.NoError(t, ok.Validate())
	for _, r := range []Rule{
		{Name: "m", Kind: RuleRealised, Metric: "speed", Threshold: 0.5},
		{Name: "m", Kind: RuleRealised, Metric: MetricAccuracy, Threshold: 1.5},
		{Name: "m", Kind: RuleRealised, Metric: MetricRMSE, Threshold: -1},
		{Name: "m", Kind: RuleRealised, Metric: MetricF1, Threshold: math.NaN()},
	} {
		assert.Error(t, r.Validate(), "%+v", r)
	}
	require.NoError(t, Rule{Name: "r2", Kind: RuleRealised, Metric: MetricR2, Threshold: -0.5}.Validate())
}

// The whole path: a real router logs predictions with request IDs into
// real Badger, labels for two windows arrive in two files, realised
// accuracy drops in the second window and the rule fires.
func TestRealisedPerformanceThroughRouter(t *testing.T) {
	st := store.MustOpen(t)
	// The model answers class 1 for x > 0.
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			return
		}
		b, _ := io.ReadAll(r.Body)
		var x float64
		fmt.Sscanf(string(b), `{"instances":[[%g]]}`, &x)
		w.Header().Set("Content-Type", "application/json")
		if x > 0 {
			io.WriteString(w, `{"predictions":[1]}`)
		} else {
			io.WriteString(w, `{"predictions":[0]}`)
		}
	}))
	defer model.Close()
	// One hand-moved clock stamps the router's log records and the
	// monitor's reports, so the two phases fall in two windows without
	// waiting for the wall clock to cross a boundary.
	const width = time.Hour
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := core.NewManualClock(t0)
	plog := predlog.New(st, predlog.Options{FlushEvery: 5 * time.Millisecond})
	router, err := router.New("dep1", []router.Backend{{ID: "v1", URL: model.URL}},
		router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}}, router.Options{Log: plog, HealthInterval: -1, Clock: clock})
	require.NoError(t, err)
	front := httptest.NewServer(router)
	defer front.Close()

	send := func(x float64) string {
		resp, err := http.Post(front.URL+"/invocations", "application/json", strings.NewReader(fmt.Sprintf(`{"instances":[[%g]]}`, x)))
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		id := resp.Header.Get(core.RequestIDHeader)
		require.NotEmpty(t, id)
		return id
	}
	xs := normal(3, 40, 0)
	// phase serves xs from start on, a second apart, and labels every
	// wrongEvery-th prediction wrong, one line per request.
	phase := func(start time.Time, wrongEvery int, line func(id string, truth int) string) string {
		clock.Set(start)
		var b strings.Builder
		for i, x := range xs {
			id := send(x)
			clock.Advance(time.Second)
			truth := 0
			if x > 0 {
				truth = 1
			}
			if i%wrongEvery == 0 {
				truth = 1 - truth
			}
			b.WriteString(line(id, truth))
		}
		return b.String()
	}
	file1 := "request_id,label\n" + phase(t0.Add(time.Minute), 10, func(id string, truth int) string { // 90% right
		return fmt.Sprintf("%s,%d\n", id, truth)
	})
	file2 := phase(t0.Add(width+time.Minute), 2, func(id string, truth int) string { // the world changed: 50% right
		return fmt.Sprintf(`{"request_id":%q,"label":%d}`+"\n", id, truth)
	})
	for i := range 3 {
		file2 += fmt.Sprintf(`{"request_id":"never-served-%d","label":1}`+"\n", i)
	}
	router.Close()
	plog.Close()

	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Logs: ServingLog{Store: st}, Clock: clock})
	prof, err := svc.FreezeProfile([]drift.Column{{Name: "f0", Kind: drift.Numeric, Num: normal(4, 500, 0)}})
	require.NoError(t, err)
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "churn", Kind: KindDeployment, Deployment: "dep1", ProfileID: prof,
		Rules: []Rule{{Name: "accuracy floor", Kind: RuleRealised, Metric: MetricAccuracy, Threshold: 0.8}}})
	require.NoError(t, err)

	_, err = svc.Performance(m.ID)
	assert.Equal(t, core.NotFound, core.ErrorCode(err))

	res, err := svc.IngestLabels(t.Context(), m.ID, []byte(file1), LabelOptions{Window: width})
	require.NoError(t, err)
	require.Empty(t, res.RunError)
	assert.Equal(t, 40, res.Added)
	require.NotNil(t, res.Performance)
	assert.Equal(t, 40, res.Performance.Matched)
	assert.Equal(t, 0, res.Performance.Unmatched)
	require.Len(t, res.Performance.Windows, 1)
	assert.InDelta(t, 0.9, res.Performance.Windows[0].Metrics[MetricAccuracy], 1e-12)
	assert.Empty(t, res.Alerts, "90% is above the floor")

	// A malformed file keeps nothing, not even its good rows.
	bad := strings.Replace(file2, `"label":1}`, `"label":"NaN"}`, 1)
	_, err = svc.IngestLabels(t.Context(), m.ID, []byte(bad), LabelOptions{})
	require.Error(t, err)
	assert.Contains(t, core.ErrorMessage(err), "is not a finite number")
	labels, err := svc.labelsOf("dep1")
	require.NoError(t, err)
	assert.Len(t, labels, 40)

	res, err = svc.IngestLabels(t.Context(), m.ID, []byte(file2), LabelOptions{})
	require.NoError(t, err)
	p := res.Performance
	assert.Equal(t, 83, p.Labels)
	assert.Equal(t, 80, p.Matched)
	assert.Equal(t, 3, p.Unmatched)
	assert.Equal(t, width, p.Window, "the window width is kept on the monitor")
	require.Len(t, p.Windows, 2)
	assert.Equal(t, 40, p.Windows[0].N)
	assert.Equal(t, 40, p.Windows[1].N)
	assert.InDelta(t, 0.9, p.Windows[0].Metrics[MetricAccuracy], 1e-12)
	assert.InDelta(t, 0.5, p.Windows[1].Metrics[MetricAccuracy], 1e-12)
	assert.InDelta(t, 0.7, p.Overall.Metrics[MetricAccuracy], 1e-12)
	require.Len(t, res.Alerts, 1)
	assert.Equal(t, RuleRealised, res.Alerts[0].Kind)
	assert.InDelta(t, 0.5, res.Alerts[0].Value, 1e-12)
	assert.Contains(t, res.Alerts[0].Message, "realised accuracy 0.5 on 40 labelled predictions")
	assert.Equal(t, res.ReportID, res.Alerts[0].ReportID)

	// Stored: the monitor's performance and the report that carries it.
	stored, err := svc.Performance(m.ID)
	require.NoError(t, err)
	assert.Equal(t, p.Windows, stored.Windows)
	rep, err := svc.Report(res.ReportID)
	require.NoError(t, err)
	require.NotNil(t, rep.Performance)
	html, err := HTML(rep)
	require.NoError(t, err)
	for _, want := range []string{"Realised performance", "labels unmatched", "<svg", "Realised accuracy"} {
		assert.Contains(t, string(html), want)
	}
	// Aggregates only: no request ID reaches the report.
	for _, line := range strings.Split(file2, "\n")[:3] {
		if id, _, ok := strings.Cut(strings.TrimPrefix(line, `{"request_id":"`), `"`); ok {
			assert.NotContains(t, string(html), id)
		}
	}
	pdf, err := PDF(rep)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(pdf), "%PDF-"))
	if out := os.Getenv("TERN_WRITE_PDF"); out != "" {
		require.NoError(t, os.WriteFile(out, pdf, 0o644))
	}
	svg, err := PerformanceSVG(stored, MetricAccuracy, 480, 220)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
}

func TestIngestLabelsRefusals(t *testing.T) {
	st := store.MustOpen(t)
	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: fakeTables{"a": nil, "b": nil}})
	_, err := svc.IngestLabels(t.Context(), "nope", []byte("request_id,label\na,1\n"), LabelOptions{})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "v", Kind: KindVersions, RefVersion: "a", CurVersion: "b"})
	require.NoError(t, err)
	_, err = svc.IngestLabels(t.Context(), m.ID, []byte("request_id,label\na,1\n"), LabelOptions{})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "dataset versions")
}

// The realised-metric chart is drawn the same way every time: a gap for a
// window without the metric, accuracy on a 0–1 axis.
func TestPerformanceChartGolden(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	p := &Performance{Task: TaskClassification, Window: time.Hour, Windows: []PerfWindow{
		{From: t0, N: 40, Metrics: map[string]float64{MetricAccuracy: 0.9}},
		{From: t0.Add(time.Hour), N: 38, Metrics: map[string]float64{MetricAccuracy: 0.85}},
		{From: t0.Add(2 * time.Hour), N: 0, Metrics: map[string]float64{}},
		{From: t0.Add(3 * time.Hour), N: 41, Metrics: map[string]float64{MetricAccuracy: 0.5}},
	}}
	svg, err := PerformanceSVG(p, MetricAccuracy, 480, 220)
	require.NoError(t, err)
	golden(t, "realised-accuracy.svg", svg)
}

func TestIngestLabelsFile(t *testing.T) {
	st := store.MustOpen(t)
	svc := NewService(Config{Store: st, DataDir: t.TempDir(), Tables: fakeTables{"a": nil, "b": nil}})
	m, err := svc.CreateMonitor(t.Context(), Monitor{Name: "v", Kind: KindVersions, RefVersion: "a", CurVersion: "b"})
	require.NoError(t, err)
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing.csv"), dir} {
		_, err = svc.IngestLabelsFile(t.Context(), m.ID, p, LabelOptions{})
		assert.Equal(t, core.NotFound, core.ErrorCode(err), p)
		assert.Contains(t, core.ErrorMessage(err), "cannot be opened")
	}
	huge := filepath.Join(dir, "huge.csv")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(MaxLabelBytes+1)) // sparse: no disk used
	f.Close()
	_, err = svc.IngestLabelsFile(t.Context(), m.ID, huge, LabelOptions{})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "larger than 256 MB; split it")

	ok := filepath.Join(dir, "labels.csv")
	require.NoError(t, os.WriteFile(ok, []byte("request_id,label\na,1\n"), 0o644))
	_, err = svc.IngestLabelsFile(t.Context(), m.ID, ok, LabelOptions{})
	assert.Contains(t, core.ErrorMessage(err), "dataset versions", "the file reached IngestLabels")
}
