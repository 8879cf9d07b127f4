package mlflowapi

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/testenv"
)

// customers is a churn-like table: numbers with gaps, a skewed amount, a
// few plan names, a region column with more values than a model keeps
// (rare ones share the "other" slot), text with stray spaces, and three
// targets (a yes/no churn, a 0/1/2 segment, a spend amount).
func customers(n int, seed uint64) *ml.Frame {
	r := rand.New(rand.NewPCG(seed, 7))
	f := &ml.Frame{Columns: []string{"age", "income", "tenure_months", "plan", "region", "churned", "segment", "spend"}}
	plans := []string{"basic", "plus", "pro", "enterprise"}
	for i := 0; i < n; i++ {
		age := 18 + r.IntN(60)
		income := math.Round(math.Exp(10+0.6*r.NormFloat64())*100) / 100
		tenure := r.IntN(120)
		plan := plans[min(r.IntN(10)/3, 3)]
		region := fmt.Sprintf("R%03d", int(math.Abs(r.NormFloat64())*40))
		risk := -0.03*float64(age-40) - 0.02*float64(tenure) + map[string]float64{"basic": 0.8, "plus": 0.2, "pro": -0.3, "enterprise": -0.9}[plan] + 0.7*r.NormFloat64()
		churned := "no"
		if risk > 0 {
			churned = "yes"
		}
		segment := float64(min(int(income/25000), 2))
		spend := 0.002*income + 3*float64(tenure)/12 + map[string]float64{"basic": 5, "plus": 15, "pro": 40, "enterprise": 90}[plan] + 4*r.NormFloat64()
		row := []any{float64(age), income, float64(tenure), plan, region, churned, segment, spend}
		switch {
		case i%11 == 0:
			row[0] = nil // age not given
		case i%13 == 0:
			row[1] = nil
		case i%17 == 0:
			row[3] = nil // no plan recorded
		case i%19 == 0:
			row[3] = " plus " // stray spaces, trimmed as at training
		case i%23 == 0:
			row[4] = ""
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}

var portableFeatures = []string{"age", "income", "tenure_months", "plan", "region"}

// Must show (issue 14): every kind of built-in model, trained on data with
// categories and missing values, loads with the unmodified mlflow client's
// mlflow.pyfunc.load_model — from the registry through a models:/ URI, and
// from the folder the model version page exports — and predicts what Tern
// predicts, to 1e-9: labels, class probabilities (MLflow params
// predict_method=predict_proba) and regression values.
func TestBuiltInModelsLoadInMLflow(t *testing.T) {
	py := testenv.Python(t, "mlflow", "numpy", "pandas", "xgboost", "lightgbm")
	ts, _, reg := newRegistryServer(t)
	train := customers(1500, 1)
	score := customers(300, 2)
	// Values training never saw: a new plan, a region, a missing column value.
	score.Rows[0][3], score.Rows[1][4], score.Rows[2][2] = "platinum", "R999", nil

	kinds := []struct {
		name, target, algo string
		classifier         bool
	}{
		{"logistic-binary", "churned", ml.AlgoLogistic, true},
		{"logistic-multiclass", "segment", ml.AlgoLogistic, true},
		{"gbdt-binary", "churned", ml.AlgoGBDT, true},
		{"gbdt-multiclass", "segment", ml.AlgoGBDT, true},
		{"gbdt-regression", "spend", ml.AlgoGBDT, false},
		{"ridge", "spend", ml.AlgoLinear, false},
	}
	type jobModel struct {
		Name       string   `json:"name"`
		Export     string   `json:"export"`
		Classifier bool     `json:"classifier"`
		Columns    []string `json:"columns,omitempty"`
	}
	job := map[string]any{"columns": portableFeatures}
	var jobModels []jobModel
	models := map[string]*ml.Model{}
	for i, k := range kinds {
		m, _, err := ml.Train(t.Context(), train, ml.Params{Target: k.target, Model: k.algo, Features: portableFeatures, MaxIter: 60}, nil)
		require.NoError(t, err, k.name)
		require.Equal(t, k.classifier, m.Task == ml.Classification, k.name)
		dir := filepath.Join(t.TempDir(), "model")
		require.NoError(t, modelfmt.SaveML(dir, m, &ml.Frame{Columns: train.Columns, Rows: train.Rows[:3]}))
		if i == 0 {
			// A model saved before the export existed: no python_function
			// flavor; registering it adds one.
			stripPyfunc(t, dir)
		}
		_, err = reg.RegisterDir(k.name, dir, registry.Meta{})
		require.NoError(t, err, k.name)
		export := filepath.Join(t.TempDir(), k.name)
		require.NoError(t, reg.Export(k.name, "1", export), "the model version page's download")
		jobModels = append(jobModels, jobModel{Name: k.name, Export: export, Classifier: k.classifier})
		models[k.name] = m
	}
	job["models"] = jobModels

	// Imported models: a bare XGBoost JSON, an XGBoost UBJSON and a
	// LightGBM text file registered from files, and a LightGBM MLmodel
	// folder written without the python_function flavor (as Tern wrote
	// them before the export existed).
	var gbdtCases struct {
		X [][]*float64 `json:"x"`
	}
	require.NoError(t, json.Unmarshal([]byte(testenv.GBDTModel(t, "cases.json")), &gbdtCases))
	imported := []struct{ name, file, flavor string }{
		{"xgb-binary", "xgb_binary.json", "xgboost"},
		{"xgb-multi", "xgb_multi.ubj", "xgboost"},
		{"lgb-regression", "lgb_regression.txt", "lightgbm"},
		{"lgb-binary-old", "lgb_binary.txt", "lightgbm"},
	}
	var importedJob []jobModel
	for _, im := range imported {
		data := []byte(testenv.GBDTModel(t, im.file))
		if im.name == "lgb-binary-old" {
			dir := testenv.Dir(t, map[string]string{"MLmodel": "flavors:\n  lightgbm:\n    data: model.lgb\n", "model.lgb": string(data)})
			_, err := reg.RegisterDir(im.name, dir, registry.Meta{})
			require.NoError(t, err)
		} else {
			_, err := reg.ImportFile(im.name, data, modelfmt.Signature{}, nil, registry.Meta{})
			require.NoError(t, err)
		}
		export := filepath.Join(t.TempDir(), im.name)
		require.NoError(t, reg.Export(im.name, "1", export))
		g, err := gbdt.Read(data)
		require.NoError(t, err)
		var cols []string
		for _, c := range modelfmt.DefaultSignature(g.FeatureNames, g.Features).Inputs {
			cols = append(cols, c.Name)
		}
		importedJob = append(importedJob, jobModel{Name: im.name, Export: export, Columns: cols})
	}
	job["imported"] = importedJob
	gbdtRows := make([][]any, len(gbdtCases.X))
	for i, r := range gbdtCases.X {
		gbdtRows[i] = make([]any, len(r))
		for j, v := range r {
			if v != nil {
				gbdtRows[i][j] = *v
			}
		}
	}
	job["gbdt_rows"] = gbdtRows
	rows := make([][]any, len(score.Rows))
	for i, r := range score.Rows {
		rows[i] = r[:len(portableFeatures)]
	}
	job["rows"] = rows
	job["go_floats"] = goFloats()
	jobFile := filepath.Join(t.TempDir(), "job.json")
	b, err := json.Marshal(job)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(jobFile, b, 0o644))

	out, result := runClientScript(t, py, ts.URL, "testdata/portable_models.py", jobFile)
	var res struct {
		Models map[string]map[string]struct {
			Flavors        []string    `json:"flavors"`
			Predict        []any       `json:"predict"`
			Proba          [][]float64 `json:"proba"`
			MissingRefused string      `json:"missing_refused"`
		} `json:"models"`
		Imported map[string]map[string]struct {
			Flavors []string `json:"flavors"`
			Loader  string   `json:"loader"`
			Predict []any    `json:"predict"`
		} `json:"imported"`
		GoFloatMismatches [][]any `json:"go_float_mismatches"`
	}
	require.NoError(t, json.Unmarshal(result, &res), out)
	assert.Empty(t, res.GoFloatMismatches, "category values given as numbers are rendered as Go renders them")

	features := &ml.Frame{Columns: portableFeatures, Rows: rows}
	for _, k := range kinds {
		want, err := models[k.name].PredictFrame(features)
		require.NoError(t, err)
		for _, where := range []string{"registry", "export"} {
			got, ok := res.Models[k.name][where]
			require.True(t, ok, "%s from %s", k.name, where)
			assert.Equal(t, []string{"python_function", "tern"}, got.Flavors, k.name)
			assert.Contains(t, got.MissingRefused, "Model is missing inputs ['age']", "%s: MLflow enforces the required columns", k.name)
			require.Len(t, got.Predict, len(want), "%s from %s", k.name, where)
			worst := 0.0
			for i, w := range want {
				if !k.classifier {
					worst = math.Max(worst, math.Abs(w.Value-got.Predict[i].(float64)))
					continue
				}
				assert.Equal(t, w.Label, got.Predict[i], "%s from %s, row %d", k.name, where, i)
				require.Len(t, got.Proba[i], len(w.Probabilities))
				for c, p := range w.Probabilities {
					worst = math.Max(worst, math.Abs(p-got.Proba[i][c]))
				}
			}
			assert.LessOrEqual(t, worst, 1e-9, "%s from %s", k.name, where)
			t.Logf("%-20s %-8s largest difference from Tern: %.3g", k.name, where, worst)
		}
	}
	for _, im := range imported {
		g, err := gbdt.Read([]byte(testenv.GBDTModel(t, im.file)))
		require.NoError(t, err)
		for _, where := range []string{"registry", "export"} {
			got, ok := res.Imported[im.name][where]
			require.True(t, ok, "%s from %s", im.name, where)
			assert.ElementsMatch(t, []string{im.flavor, "python_function"}, got.Flavors, "%s keeps its own flavor", im.name)
			assert.Equal(t, "mlflow."+im.flavor, got.Loader, "MLflow's own loader, as MLflow saves %s models", im.flavor)
			require.Len(t, got.Predict, len(gbdtRows))
			worst := 0.0
			for i, row := range gbdtCases.X {
				x := make([]float64, len(row))
				for j, v := range row {
					x[j] = math.NaN()
					if v != nil {
						x[j] = *v
					}
				}
				want := make([]float64, g.Outputs)
				g.PredictRow(x, want)
				if g.Outputs == 1 {
					worst = math.Max(worst, math.Abs(want[0]-got.Predict[i].(float64)))
					continue
				}
				for c, w := range want {
					worst = math.Max(worst, math.Abs(w-got.Predict[i].([]any)[c].(float64)))
				}
			}
			// XGBoost sums in float32 (backend/gbdt matches it to 1e-7).
			assert.LessOrEqual(t, worst, 1e-6, "%s from %s", im.name, where)
			t.Logf("%-20s %-8s largest difference from Tern: %.3g", im.name, where, worst)
		}
	}
}

// stripPyfunc rewrites a saved model's MLmodel as Tern wrote it before the
// python_function export: tern flavor only, no loader, no params.
func stripPyfunc(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, modelfmt.MLmodelFile))
	require.NoError(t, err)
	mm, err := modelfmt.ParseMLmodel(b)
	require.NoError(t, err)
	delete(mm.Flavors, modelfmt.FlavorPyFunc)
	mm.Signature.Params = nil
	b, err = mm.Marshal()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, modelfmt.MLmodelFile), b, 0o644))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "code")))
	require.NotContains(t, string(b), "python_function")
}

// goFloats pairs numbers with strconv's shortest 'g' form, which the Python
// loader must reproduce for category values sent as numbers.
func goFloats() [][]any {
	xs := []float64{1, -1, 0.5, 100, 123456, 1234567, 1e6, 1e21, 0.0001, 0.00001, 2.0 / 3, 5e-324, math.MaxFloat64, 42.75}
	r := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 300; i++ {
		xs = append(xs, math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(900+r.IntN(250))<<52))
	}
	var out [][]any
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		out = append(out, []any{x, strconv.FormatFloat(x, 'g', -1, 64)})
	}
	return out
}
