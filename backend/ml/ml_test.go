package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/testenv"
)

// synth makes a frame with two numeric features, one categorical and some
// missing values. kind: "separable", "noisy", "regression", "multiclass".
func synth(n int, kind string, seed uint64) *Frame {
	r := rand.New(rand.NewPCG(seed, 1))
	f := &Frame{Columns: []string{"x1", "x2", "colour", "y"}}
	colours := []string{"red", "green", "blue"}
	for i := 0; i < n; i++ {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		c := r.IntN(3)
		var y any
		switch kind {
		case "separable":
			y = "no"
			if x1+0.5*x2+float64(c)*0.3 > 0.2 {
				y = "yes"
			}
		case "noisy":
			y = 0.0
			if x1+1.5*r.NormFloat64() > 0.8 {
				y = 1.0
			}
		case "regression":
			y = 3*x1 - 2*x2*x2 + float64(c) + 0.1*r.NormFloat64()
		case "multiclass":
			switch {
			case x1 > 0.5:
				y = "a"
			case x2 > 0:
				y = "b"
			default:
				y = "c"
			}
		}
		var v1 any = fmt.Sprint(x1)
		if i%17 == 0 {
			v1 = nil
		}
		f.Rows = append(f.Rows, []any{v1, x2, colours[c], y})
	}
	return f
}

func TestTrainQuality(t *testing.T) {
	cases := []struct {
		kind, model, metric string
		atLeast, atMost     float64
	}{
		{"separable", AlgoGBDT, "roc_auc", 0.97, 1},
		{"separable", AlgoLogistic, "roc_auc", 0.97, 1},
		{"multiclass", AlgoGBDT, "accuracy", 0.9, 1},
		{"multiclass", AlgoLogistic, "accuracy", 0.8, 1},
		{"regression", AlgoGBDT, "r2", 0.9, 1},
		{"regression", AlgoLinear, "r2", 0.5, 0.95},
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.model, func(t *testing.T) {
			var steps int
			m, ev, err := Train(t.Context(), synth(3000, c.kind, 7), Params{Target: "y", Model: c.model}, func(k string, v float64, s int) {
				steps++
				assert.False(t, math.IsNaN(v), k)
			})
			require.NoError(t, err)
			assert.Positive(t, steps)
			assert.GreaterOrEqual(t, ev.Metrics[c.metric], c.atLeast)
			assert.LessOrEqual(t, ev.Metrics[c.metric], c.atMost)
			assert.InDelta(t, 600, ev.Rows, 3)
			assert.Len(t, m.Prep.Features, 3)
		})
	}
}

func TestNoisyBeatsMajority(t *testing.T) {
	_, ev, err := Train(t.Context(), synth(5000, "noisy", 3), Params{Target: "y"}, nil)
	require.NoError(t, err)
	assert.Greater(t, ev.Metrics["roc_auc"], 0.6)
	assert.Less(t, ev.Metrics["log_loss"], ev.Baseline["log_loss"])
}

func TestEarlyStoppingStopsBeforeMaxIter(t *testing.T) {
	m, _, err := Train(t.Context(), synth(20000, "separable", 5), Params{Target: "y", MaxIter: 1000, LearningRate: 0.5}, nil)
	require.NoError(t, err)
	assert.Less(t, len(m.GBDT.Trees), 1000)
}

func TestPredictErrors(t *testing.T) {
	m, _, err := Train(t.Context(), synth(200, "separable", 1), Params{Target: "y"}, nil)
	require.NoError(t, err)
	_, err = m.PredictFrame(&Frame{Columns: []string{"x1", "colour"}, Rows: [][]any{{1.0, "red"}}})
	require.Error(t, err)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, err.Error(), `"x2"`)
	_, err = m.PredictRows([]map[string]any{{"x1": "abc", "x2": 1.0, "colour": "red"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Row 1, column "x1"`)
	_, err = m.PredictFrame(&Frame{Columns: []string{"x1", "x2", "colour"}, Rows: [][]any{{1.0}}})
	require.Error(t, err)
}

func TestNumericClassLabels(t *testing.T) {
	m, _, err := Train(t.Context(), synth(500, "noisy", 2), Params{Target: "y"}, nil)
	require.NoError(t, err)
	assert.Equal(t, Classification, m.Task)
	assert.Equal(t, []string{"0", "1"}, m.Classes)
	preds, err := m.PredictRows([]map[string]any{{"x1": 5.0, "x2": 0.0, "colour": "red"}})
	require.NoError(t, err)
	assert.IsType(t, float64(0), preds[0].Label)
}

func TestTrainBadInput(t *testing.T) {
	f := synth(100, "separable", 1)
	cases := []struct {
		name string
		f    *Frame
		p    Params
		want string
	}{
		{"no target", f, Params{}, "target"},
		{"unknown target", f, Params{Target: "nope"}, `no column "nope"`},
		{"unknown model", f, Params{Target: "y", Model: "svm"}, "Unknown model"},
		{"bad learning rate", f, Params{Target: "y", LearningRate: -1}, "learning_rate"},
		{"too few rows", &Frame{Columns: f.Columns, Rows: f.Rows[:5]}, Params{Target: "y"}, "at least 10"},
		{"one class", &Frame{Columns: []string{"a", "y"}, Rows: repeat([]any{1.0, "x"}, 20)}, Params{Target: "y"}, "single value"},
		{"string regression", f, Params{Target: "y", Task: Regression}, "not numeric"},
		{"logistic regression task", f, Params{Target: "y", Model: AlgoLogistic, Task: Regression}, "classifier"},
		{"target as feature", f, Params{Target: "y", Features: []string{"y"}}, "cannot also be a feature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Train(t.Context(), c.f, c.p, nil)
			require.Error(t, err)
			assert.Equal(t, core.Invalid, core.ErrorCode(err))
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func repeat(row []any, n int) [][]any {
	out := make([][]any, n)
	for i := range out {
		out[i] = row
	}
	return out
}

func TestTrainCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := Train(ctx, synth(2000, "separable", 1), Params{Target: "y"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cancelled")
}

func TestMetricsKnownValues(t *testing.T) {
	// sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.75
	assert.InDelta(t, 0.75, ROCAUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}), 1e-12)
	// Ties count half.
	assert.InDelta(t, 0.5, ROCAUC([]float64{0.5, 0.5}, []bool{false, true}), 1e-12)
	ev := EvaluateClassifier([]string{"n", "p"}, []int{0, 0, 1, 1}, []float64{0.9, 0.1, 0.6, 0.4, 0.65, 0.35, 0.2, 0.8})
	assert.Equal(t, [][]int{{2, 0}, {1, 1}}, ev.Confusion.Matrix)
	assert.InDelta(t, 0.75, ev.Metrics["accuracy"], 1e-12)
	assert.InDelta(t, 1, ev.Metrics["precision"], 1e-12)
	assert.InDelta(t, 0.5, ev.Metrics["recall"], 1e-12)
	assert.Equal(t, CurvePoint{X: 1, Y: 1, Threshold: 0.1}, ev.ROC[len(ev.ROC)-1])
	reg := EvaluateRegressor([]float64{1, 2, 3}, []float64{1, 2, 4})
	assert.InDelta(t, math.Sqrt(1.0/3), reg.Metrics["rmse"], 1e-12)
	assert.InDelta(t, 1.0/3, reg.Metrics["mae"], 1e-12)
	assert.InDelta(t, 0.5, reg.Metrics["r2"], 1e-12)
}

// readString reads text through ReadFrame, as the training runtime reads
// a file.
func readString(t testing.TB, name, body string) (*Frame, error) {
	p := testenv.File(t, name, []byte(body))
	return ReadFrame(t.Context(), p, table.Options{})
}

func TestReadCSV(t *testing.T) {
	f, err := readString(t, "d.csv", "\ufeffa,b\r\n1,\"x\ny\"\r\n,3\r\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, f.Columns)
	assert.Equal(t, [][]any{{1.0, "x\ny"}, {nil, "3"}}, f.Rows)
	assert.Equal(t, []string{Numeric, Categorical}, f.Kinds)
	for name, in := range map[string]string{
		"empty":     "",
		"ragged":    "a,b\n1,2\n3\n",
		"dup":       "a,a\n1,2\n",
		"noname":    "a,\n1,2\n",
		"unclosed":  "a,b\n1,\"2\n",
		"long line": "a\n" + strings.Repeat("x", table.MaxRecordBytes+10) + "\n",
	} {
		_, err := readString(t, "d.csv", in)
		assert.Error(t, err, name)
		assert.Equal(t, core.Invalid, core.ErrorCode(err), name)
	}
}

func FuzzDecodeModel(f *testing.F) {
	m, _, err := Train(f.Context(), synth(100, "separable", 1), Params{Target: "y"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(m)
	f.Add(good)
	f.Add([]byte(`{"format":"tern-model","version":1}`))
	f.Add([]byte(`{"format":"tern-model","version":1,"task":"regression","preprocessing":{"features":[{"name":"a","kind":"numeric","std":1}]},"gbdt":{"baseline":[0],"trees":[[{"f":[0],"t":[0],"l":[0],"r":[0],"v":[0]}]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeModel(b)
		if err != nil {
			return
		}
		// A model that loads must score without panicking.
		row := map[string]any{}
		for _, c := range m.InputNames() {
			row[c] = 1.0
		}
		_, _ = m.PredictRows([]map[string]any{row})
	})
}

func FuzzReadCSV(f *testing.F) {
	f.Add("a,b\n1,2\n")
	f.Add("\ufeffa\r\n\"x\"\"y\"\r\n")
	f.Fuzz(func(t *testing.T, s string) { checkFrame(t, "d.csv", s) })
}

// checkFrame reads s as a file called name: an error or a frame with no
// ragged row, never a panic.
func checkFrame(t *testing.T, name, s string) {
	fr, err := readString(t, name, s)
	if err == nil {
		for _, r := range fr.Rows {
			if len(r) != len(fr.Columns) {
				t.Fatalf("ragged row accepted")
			}
		}
	}
}

func TestReadDataFileFormats(t *testing.T) {
	cases := map[string]struct {
		body string
		want *Frame
	}{
		"semicolon.csv": {"a;b\n1;x\n", &Frame{Columns: []string{"a", "b"}, Rows: [][]any{{1.0, "x"}}, Kinds: []string{Numeric, Categorical}}},
		"tab.tsv":       {"a\tb\n1\t\n", &Frame{Columns: []string{"a", "b"}, Rows: [][]any{{1.0, nil}}, Kinds: []string{Numeric, Categorical}}},
		"rows.jsonl":    {"{\"a\":1,\"b\":\"x\"}\n\n{\"b\":\"y\",\"c\":true}\n", &Frame{Columns: []string{"a", "b", "c"}, Rows: [][]any{{1.0, "x", nil}, {nil, "y", "true"}}, Kinds: []string{Numeric, Categorical, Categorical}}},
	}
	for name, c := range cases {
		f, err := readString(t, name, c.body)
		require.NoError(t, err, name)
		assert.Equal(t, c.want, f, name)
	}
	_, err := readString(t, "bad.jsonl", "{\"a\":1}\n[1,2]\n")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Line 2")
}

func TestTrainWithFixedTestSet(t *testing.T) {
	train := synth(2000, "separable", 1)
	test := synth(500, "separable", 2)
	// Reorder the test file's columns: they are matched by name.
	reordered := &Frame{Columns: []string{"y", "colour", "x2", "x1"}}
	for _, r := range test.Rows {
		reordered.Rows = append(reordered.Rows, []any{r[3], r[2], r[1], r[0]})
	}
	_, ev, err := TrainWithTest(t.Context(), train, reordered, Params{Target: "y"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 500, ev.Rows)
	assert.Greater(t, ev.Metrics["roc_auc"], 0.95)
	_, _, err = TrainWithTest(t.Context(), train, &Frame{Columns: []string{"x1"}, Rows: [][]any{{1.0}}}, Params{Target: "y"}, nil)
	assert.ErrorContains(t, err, "no column")
}

func TestReadParquet(t *testing.T) {
	type row struct {
		A *float64 `parquet:"a,optional"`
		B string   `parquet:"b"`
		N int64    `parquet:"n"`
		Y bool     `parquet:"y"`
	}
	one := 1.5
	p := filepath.Join(t.TempDir(), "d.parquet")
	require.NoError(t, parquet.WriteFile(p, []row{{&one, "x", 3, true}, {nil, "y", 4, false}}))
	f, err := ReadFrame(t.Context(), p, table.Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "n", "y"}, f.Columns)
	assert.Equal(t, [][]any{{1.5, "x", 3.0, "true"}, {nil, "y", 4.0, "false"}}, f.Rows)

	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o644))
	_, err = ReadFrame(t.Context(), p, table.Options{})
	require.Error(t, err)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
}

func FuzzReadParquet(f *testing.F) {
	type row struct {
		A float64 `parquet:"a"`
		B string  `parquet:"b"`
	}
	var buf strings.Builder
	w := parquet.NewGenericWriter[row](&buf)
	_, _ = w.Write([]row{{1, "x"}, {2, "y"}})
	_ = w.Close()
	f.Add([]byte(buf.String()))
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readString(t, "d.parquet", string(b))
	})
}

func FuzzReadJSONLines(f *testing.F) {
	f.Add("{\"a\":1}\n{\"b\":\"x\"}\n")
	f.Add("{\"a\":{\"n\":[1,2]}}\n\n")
	f.Fuzz(func(t *testing.T, s string) { checkFrame(t, "d.jsonl", s) })
}
