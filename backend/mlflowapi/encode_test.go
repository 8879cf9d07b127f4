package mlflowapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/tracking"
)

func TestHandEncodingMatchesEncodingJSON(t *testing.T) {
	runs := []runJSON{
		toRunJSON(tracking.Run{
			RunInfo: tracking.RunInfo{ID: "r1", ExperimentID: "0", Name: "a \"quoted\" <name> & \x01 \u2028 é", Status: tracking.StatusCrashed, StartTime: 5, EndTime: 9, UserID: "u", ArtifactURI: "mlflow-artifacts:/0/r1/artifacts", LifecycleStage: "active"},
			Params:  map[string]string{"lr": "0.1", "bad": "\xff\xfe"},
			Tags:    map[string]string{"t": "line\nbreak\ttab\\"},
			Metrics: map[string]tracking.Point{"nan": {Value: tracking.Float(math.NaN())}, "inf": {Value: tracking.Float(math.Inf(1))}, "ninf": {Value: tracking.Float(math.Inf(-1))}, "nz": {Value: tracking.Float(math.Copysign(0, -1))}, "big": {Value: 1e308, Step: -3, Timestamp: 7}, "small": {Value: 5e-324}, "x": {Value: 0.1}},
		}),
		toRunJSON(tracking.Run{RunInfo: tracking.RunInfo{ID: "r2", Status: tracking.StatusRunning}}),
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	require.NoError(t, enc.Encode(map[string]any{"runs": runs, "next_page_token": "tok"}))
	got := searchRunsJSON(runs, "tok")
	// same bytes modulo key order of the top-level map (encoding/json sorts it)
	var a, b any
	require.NoError(t, json.Unmarshal(want.Bytes(), &a))
	require.NoError(t, json.Unmarshal(got, &b), string(got))
	assert.Equal(t, a, b)
	// and each run encodes byte for byte the same, but for how invalid UTF-8
	// comes out: both write U+FFFD, this encoder and encoding/json before
	// Go 1.27 as the escape \ufffd, encoding/json since then as the raw
	// character; the two mean the same.
	for _, r := range runs {
		w, err := json.Marshal(r)
		require.NoError(t, err)
		assert.Equal(t, strings.ReplaceAll(string(w), "\uFFFD", `\ufffd`), string(appendRun(nil, r)))
	}
	assert.Equal(t, "{}\n", string(searchRunsJSON(nil, "")))
}

// benchRuns is a search-runs page: 1000 runs of 100 metrics each.
func benchRuns() []runJSON {
	r := tracking.Run{RunInfo: tracking.RunInfo{ID: "06h1ej903q1mbcgwq4zs3q3s98", ExperimentID: "1", Name: "brisk-tern-12", Status: tracking.StatusFinished}, Params: map[string]string{"lr": "0.1"}, Tags: map[string]string{}, Metrics: map[string]tracking.Point{}}
	for i := 0; i < 100; i++ {
		r.Metrics["metric_"+string(rune('a'+i%26))+string(rune('a'+i/26))] = tracking.Point{Value: tracking.Float(float64(i) / 7), Step: 1, Timestamp: 1700000000000}
	}
	runs := make([]runJSON, 1000)
	for i := range runs {
		runs[i] = toRunJSON(r)
	}
	return runs
}

func BenchmarkSearchRunsEncode(b *testing.B) {
	runs := benchRuns()
	b.ReportAllocs()
	for b.Loop() {
		_ = searchRunsJSON(runs, "x")
	}
}

func BenchmarkSearchRunsEncodeStdlib(b *testing.B) {
	runs := benchRuns()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = json.Marshal(map[string]any{"runs": runs})
	}
}
