package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/testenv"
)

func writeData(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("a,b,colour,y\n")
	for i := 0; i < n; i++ {
		a, c := float64(i%97)/48-1, []string{"red", "green", "blue"}[i%3]
		y := "no"
		if a > 0.1 {
			y = "yes"
		}
		fmt.Fprintf(&b, "%.4f,%d,%s,%s\n", a, i%7, c, y)
	}
	p := testenv.File(t, "d.csv", []byte(b.String()))
	return p
}

// TestTrainThenPredict runs the two subcommands' bodies: train writes a
// loadable model and its evaluation artifacts; predict scores a file with
// it, through a temporary file.
func TestTrainThenPredict(t *testing.T) {
	data := writeData(t, 1000)
	dir := t.TempDir()
	params := filepath.Join(dir, "params.json")
	require.NoError(t, os.WriteFile(params, []byte(`{"target":"y"}`), 0o644))
	t.Setenv("TERN_PARAMS", "")
	out := filepath.Join(dir, "out")
	require.NoError(t, runTrain(t.Context(), data, "", "", params, out))
	for _, f := range []string{"model/MLmodel", "model/model.json", "model/input_example.json", "evaluation.json", "confusion_matrix.json", "roc_curve.json", "pr_curve.json", "roc_curve.svg", "pr_curve.svg"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
	m, err := modelfmt.LoadML(filepath.Join(out, "model"))
	require.NoError(t, err)
	assert.Equal(t, []string{"no", "yes"}, m.Classes)

	dest := filepath.Join(dir, "pred", "predictions.csv")
	require.NoError(t, runPredict(t.Context(), filepath.Join(out, "model"), data, dest))
	f, err := os.Open(dest)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, []string{"prediction", "proba_no", "proba_yes"}, rows[0])
	assert.Len(t, rows, 1001)
	entries, _ := os.ReadDir(filepath.Dir(dest))
	assert.Len(t, entries, 1, "no temporary file left behind")
}

func TestTrainAndPredictErrors(t *testing.T) {
	data := writeData(t, 50)
	dir := t.TempDir()
	t.Setenv("TERN_PARAMS", `{"target":"nope"}`)
	err := runTrain(t.Context(), data, "", "", "", filepath.Join(dir, "out"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no column "nope"`)
	assert.NoDirExists(t, filepath.Join(dir, "out", "model"), "nothing half-written")

	t.Setenv("TERN_PARAMS", `{"target":`)
	err = runTrain(t.Context(), data, "", "", "", filepath.Join(dir, "out"))
	assert.ErrorContains(t, err, "not valid JSON")

	err = runPredict(t.Context(), filepath.Join(dir, "no-model"), data, filepath.Join(dir, "p.csv"))
	assert.ErrorContains(t, err, "no model")
	assert.NoFileExists(t, filepath.Join(dir, "p.csv"))
}

// TestTrainLogsOnlyTheModelsParams runs train for each built-in model and
// reads the protocol lines it prints: the params are the run keys and the
// chosen model's schema, so a GBDT run shows neither C nor alpha.
func TestTrainLogsOnlyTheModelsParams(t *testing.T) {
	data := writeData(t, 200)
	for _, m := range ml.Models() {
		if !slices.Contains(m.Tasks, ml.Classification) {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			var buf bytes.Buffer
			saved := out
			out = &emitter{enc: json.NewEncoder(&buf)}
			t.Cleanup(func() { out = saved })
			t.Setenv("TERN_PARAMS", fmt.Sprintf(`{"target":"y","model":%q}`, m.Name))
			require.NoError(t, runTrain(t.Context(), data, "", "", "", filepath.Join(t.TempDir(), "out")))
			params := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var p struct {
					Tern  string `json:"tern"`
					Key   string `json:"key"`
					Value any    `json:"value"`
				}
				require.NoError(t, json.Unmarshal([]byte(l), &p))
				if p.Tern == "param" {
					params[p.Key] = p.Value.(string)
				}
			}
			want := []string{"model", "refit", "target", "task"}
			for _, s := range m.Params {
				want = append(want, s.Name)
			}
			slices.Sort(want)
			assert.Equal(t, want, slices.Sorted(maps.Keys(params)))
			assert.Equal(t, ml.Classification, params["task"], "the inferred task is recorded")
			if m.Name == ml.AlgoGBDT {
				assert.NotContains(t, params, "C")
				assert.NotContains(t, params, "alpha")
			}
		})
	}
}
