package modelserver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// sklearnModel trains the shipped scikit-learn template (templates/sklearn
// train.py, unmodified) with python on a small mixed table and returns
// the model directory and the rows it can score.
func sklearnModel(t *testing.T, python string, regress bool) (string, [][]any) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 9))
	var csv strings.Builder
	csv.WriteString("x1,x2,c,y\n")
	var rows [][]any
	for i := 0; i < 400; i++ {
		x1, x2 := rng.NormFloat64(), rng.NormFloat64()
		c := []string{"a", "b", "c"}[rng.IntN(3)]
		s := x1 + 0.5*x2
		if c == "a" {
			s += 1
		}
		y := "0"
		if regress {
			y = fmt.Sprint(3*s + 0.1*rng.NormFloat64())
		} else if s+0.3*rng.NormFloat64() > 0 {
			y = "1"
		}
		fmt.Fprintf(&csv, "%v,%v,%s,%s\n", x1, x2, c, y)
		if i < 25 {
			rows = append(rows, []any{x1, x2, c})
		}
	}
	data := filepath.Join(dir, "data.csv")
	require.NoError(t, os.WriteFile(data, []byte(csv.String()), 0o644))
	cmd := exec.Command(python, filepath.Join(testenv.RepoRoot(), "backend", "runner", "templates", "sklearn", "train.py"))
	cmd.Env = append(os.Environ(), "TERN_DATA="+data, `TERN_PARAMS={"target":"y","max_iter":30}`, "TERN_OUTPUTS="+filepath.Join(dir, "out"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return filepath.Join(dir, "out", "model"), rows
}

// startWorker runs backend/deployment/pyworker.py on the model's pickle
// and waits for it to answer.
func startWorker(t *testing.T, python, modelDir string) (*Loaded, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "w.sock")
	cmd := exec.Command(python, filepath.Join(testenv.RepoRoot(), "backend", "deployment", "pyworker.py"), filepath.Join(modelDir, "model.pkl"), sock)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loaded, err := LoadWorker(ctx, modelDir, "churn", "2", sock)
	require.NoError(t, err)
	return loaded, sock
}

// sklearnReference is what scikit-learn itself answers for rows, in the
// same Python: predict, and predict_proba for a classifier.
func sklearnReference(t *testing.T, python, modelDir string, rows [][]any, proba bool) ([]any, [][]float64) {
	t.Helper()
	in, _ := json.Marshal(rows)
	script := `import json, pickle, sys
import pandas as pd
m = pickle.load(open(sys.argv[1], "rb"))
X = pd.DataFrame(json.loads(sys.stdin.read()), columns=["x1", "x2", "c"])
out = {"predict": m.predict(X).tolist()}
if sys.argv[2] == "1":
    out["proba"] = m.predict_proba(X).tolist()
print(json.dumps(out))`
	cmd := exec.Command(python, "-c", script, filepath.Join(modelDir, "model.pkl"), map[bool]string{true: "1", false: "0"}[proba])
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	require.NoError(t, err)
	var ref struct {
		Predict []any       `json:"predict"`
		Proba   [][]float64 `json:"proba"`
	}
	require.NoError(t, json.Unmarshal(out, &ref))
	return ref.Predict, ref.Proba
}

// TestPythonWorkerMatchesSklearn serves a pickled scikit-learn classifier
// and regressor through the Python worker: the answers equal scikit-learn's
// own predict and predict_proba, in both protocols, and the requests the
// native server refuses are refused the same way before reaching Python.
func TestPythonWorkerMatchesSklearn(t *testing.T) {
	python := testenv.Python(t, "sklearn", "pandas")
	t.Run("classifier", func(t *testing.T) {
		dir, rows := sklearnModel(t, python, false)
		loaded, _ := startWorker(t, python, dir)
		srv, err := NewServer(loaded.Model, ServerOptions{})
		require.NoError(t, err)
		ts := httptest.NewServer(srv)
		defer ts.Close()
		labels, proba := sklearnReference(t, python, dir, rows, true)

		body, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": []string{"x1", "x2", "c"}, "data": rows}})
		code, resp := post(t, ts.URL+"/invocations", "application/json", string(body))
		require.Equal(t, 200, code, resp)
		var got struct{ Predictions []any }
		require.NoError(t, json.Unmarshal([]byte(resp), &got))
		assert.Equal(t, labels, got.Predictions)

		body, _ = json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": []string{"x1", "x2", "c"}, "data": rows}, "params": map[string]any{"predict_method": "predict_proba"}})
		code, resp = post(t, ts.URL+"/invocations", "application/json", string(body))
		require.Equal(t, 200, code, resp)
		var gotP struct{ Predictions [][]float64 }
		require.NoError(t, json.Unmarshal([]byte(resp), &gotP))
		require.Len(t, gotP.Predictions, len(proba))
		for i := range proba {
			for k := range proba[i] {
				assert.InDelta(t, proba[i][k], gotP.Predictions[i][k], 1e-9)
			}
		}

		inputs := []map[string]any{
			{"name": "x1", "datatype": "FP64", "shape": []int{len(rows)}, "data": column(rows, 0)},
			{"name": "x2", "datatype": "FP64", "shape": []int{len(rows)}, "data": column(rows, 1)},
			{"name": "c", "datatype": "BYTES", "shape": []int{len(rows)}, "data": column(rows, 2)},
		}
		body, _ = json.Marshal(map[string]any{"inputs": inputs})
		code, resp = post(t, ts.URL+"/v2/models/churn/infer", "application/json", string(body))
		require.Equal(t, 200, code, resp)
		var v2 struct {
			Outputs []struct {
				Name     string
				Datatype string
				Data     []any
			}
		}
		require.NoError(t, json.Unmarshal([]byte(resp), &v2))
		require.Len(t, v2.Outputs, 2, resp)
		assert.Equal(t, "predict", v2.Outputs[0].Name)
		assert.Equal(t, "INT64", v2.Outputs[0].Datatype)
		assert.Equal(t, labels, v2.Outputs[0].Data)
		assert.Equal(t, "probabilities", v2.Outputs[1].Name)
		for i, p := range v2.Outputs[1].Data {
			assert.InDelta(t, proba[i/2][i%2], p.(float64), 1e-9)
		}

		checkRefusals(t, ts.URL, []refusal{
			{name: "missing", path: "/invocations", body: `{"dataframe_records":[{"x1":1,"x2":2}]}`, want: []string{`missing column "c" (string)`}},
			{name: "extra", path: "/invocations", body: `{"dataframe_records":[{"x1":1,"x2":2,"c":"a","zz":1}]}`, want: []string{`zz`}},
			{name: "wrong type", path: "/invocations", body: `{"dataframe_records":[{"x1":"high","x2":2,"c":"a"}]}`, want: []string{`"x1"`}},
			{name: "empty", path: "/invocations", body: `{"dataframe_records":[]}`, want: []string{"no rows"}},
			{name: "v2 missing", path: "/v2/models/churn/infer", body: `{"inputs":[{"name":"x1","datatype":"FP64","shape":[1],"data":[1]}]}`, want: []string{"x2", "c"}},
		})
	})
	t.Run("regressor", func(t *testing.T) {
		dir, rows := sklearnModel(t, python, true)
		loaded, _ := startWorker(t, python, dir)
		srv, err := NewServer(loaded.Model, ServerOptions{})
		require.NoError(t, err)
		ts := httptest.NewServer(srv)
		defer ts.Close()
		want, _ := sklearnReference(t, python, dir, rows, false)
		var csv strings.Builder
		csv.WriteString("c,x2,x1\n") // any column order: the header names them
		for _, r := range rows {
			fmt.Fprintf(&csv, "%s,%v,%v\n", r[2], r[1], r[0])
		}
		code, resp := post(t, ts.URL+"/invocations", "text/csv", csv.String())
		require.Equal(t, 200, code, resp)
		var got struct{ Predictions []float64 }
		require.NoError(t, json.Unmarshal([]byte(resp), &got))
		require.Len(t, got.Predictions, len(want))
		for i := range want {
			assert.InDelta(t, want[i].(float64), got.Predictions[i], 1e-9)
			assert.False(t, math.IsNaN(got.Predictions[i]))
		}
		code, resp = post(t, ts.URL+"/invocations", "application/json", `{"inputs":[[1,2,"a"]],"params":{"predict_method":"predict_proba"}}`)
		assert.Equal(t, 400, code, resp)
		assert.Contains(t, resp, "no class probabilities")
	})
}

func column(rows [][]any, c int) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[c]
	}
	return out
}

// FuzzWorkerInfo feeds arbitrary worker descriptions to the front: a
// misbehaving worker (its pickle runs any code) gets a sentence, never a
// panic, and a classifier it accepts labels every class index.
func FuzzWorkerInfo(f *testing.F) {
	f.Add(`{"classifier":true,"classes":[0,1],"proba":true}`)
	f.Add(`{"classifier":true,"classes":["no","yes",2.5,true],"proba":false}`)
	f.Add(`{"classifier":false,"outputs":0}`)
	f.Add(`{"classifier":true,"classes":[{"a":1},null,1e999]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		var info workerInfo
		if json.Unmarshal([]byte(raw), &info) != nil {
			return
		}
		w := &Worker{}
		if err := w.setInfo(info); err != nil {
			return
		}
		if info.Classifier {
			out := make([]float64, w.OutputWidth())
			for k := range w.classes {
				out[0] = float64(k)
				require.Len(t, w.Labels(out, 1), 1)
			}
			require.Len(t, w.Probabilities(out, 1), w.ProbaWidth())
		} else {
			require.GreaterOrEqual(t, w.OutputWidth(), 1)
		}
	})
}
