package modelfmt

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
)

// A built-in model carries MLflow's python_function flavor beside its own,
// so `mlflow.pyfunc.load_model` loads it on a machine without Tern. The
// flavor points at a small loader shipped inside the model directory
// (code/tern_pyfunc_v1.py, numpy only) that reads model.json and scores it
// the way backend/ml does, step for step.
//
// Why a loader rather than the GBDT written as XGBoost JSON or LightGBM
// text: a built-in model is its fitted preprocessing (median imputation,
// scaling, one-hot or ordinal codes with a shared slot for unseen values)
// plus the estimator, and neither format holds the preprocessing, nor the
// linear models; XGBoost also scores in float32, which moves predictions
// by ~1e-7, above the 1e-9 the export promises. The loader needs nothing
// MLflow does not already install, and model.json stays the one copy of
// the model. Imported XGBoost and LightGBM models keep their own flavors,
// with the python_function flavor MLflow itself writes beside them
// (loader mlflow.xgboost / mlflow.lightgbm), so MLflow loads them natively.
const (
	pyfuncModule = "tern_pyfunc_v1"
	pyfuncCode   = "code"
	// PredictMethodParam is the inference param choosing labels or
	// probabilities, declared in a classifier's signature so MLflow
	// passes it through.
	PredictMethodParam = "predict_method"
)

//go:embed pyfunc/tern_pyfunc_v1.py
var pyfuncSource []byte

// pyfuncFlavor is the python_function section of a built-in model's
// MLmodel.
func pyfuncFlavor() map[string]any {
	return pyfuncSection(pyfuncModule, TernModelFile, pyfuncCode)
}

// pyfuncSection is a python_function flavor as MLflow's pyfunc.add_to_model
// writes it, without python_version: Tern's loader runs on any Python 3,
// and MLflow's models are saved from no Python at all here (MLflow warns
// about the missing version and loads).
func pyfuncSection(loader, data, code string) map[string]any {
	s := map[string]any{
		"loader_module": loader,
		"data":          data,
		"env":           map[string]any{"virtualenv": "python_env.yaml", "conda": "conda.yaml"},
	}
	if code != "" {
		s["code"] = code
	}
	return s
}

// nativePyfunc is the python_function flavor MLflow itself gives an
// XGBoost or LightGBM model (loader mlflow.xgboost / mlflow.lightgbm, which
// read the flavor's own data file), so an imported model exports as
// MLflow would have saved it.
func nativePyfunc(flavor, data string) map[string]any {
	return pyfuncSection("mlflow."+flavor, data, "")
}

// paramsSchema declares predict_method for classifiers, in the JSON form
// MLflow keeps in signature.params; regressors take no params.
func paramsSchema(task string) *quoted {
	if task != ml.Classification {
		return nil
	}
	q := quoted(`[{"name": "` + PredictMethodParam + `", "type": "string", "default": "predict", "shape": null}]`)
	return &q
}

// writeEnv writes the environment files MLflow reads for a model (pip
// requirements, a python_env and a conda file, which `mlflow models serve`
// builds from); pkgs are what the model needs besides mlflow.
func writeEnv(dir string, pkgs ...string) error {
	reqs := "mlflow\n" + strings.Join(pkgs, "\n") + "\n"
	conda := "channels:\n- conda-forge\ndependencies:\n- python=3.10\n- pip\n- pip:\n  - mlflow\n"
	for _, p := range pkgs {
		conda += "  - " + p + "\n"
	}
	files := map[string]string{
		"requirements.txt": reqs,
		"python_env.yaml":  "python: \"3.10\"\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n",
		"conda.yaml":       conda + "name: mlflow-env\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return core.Wrap(err, core.Internal, "Cannot write the model's environment files.")
		}
	}
	return nil
}

// writePyfunc writes the loader of a built-in model and its environment
// files into dir.
func writePyfunc(dir string) error {
	code := filepath.Join(dir, pyfuncCode)
	if err := os.MkdirAll(code, 0o755); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the model's Python loader.")
	}
	if err := os.WriteFile(filepath.Join(code, pyfuncModule+".py"), pyfuncSource, 0o644); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the model's Python loader.")
	}
	return writeEnv(dir, "numpy", "pandas")
}

// AddPyfunc gives a model directory written before the python_function
// export existed that flavor, in place: a built-in model gets Tern's
// loader, an XGBoost or LightGBM one MLflow's own (its flavor is kept as
// it was). dir must be a copy Tern is about to publish (an export or a
// registration being staged), never a live version: the MLmodel file is
// rewritten. Directories that have the flavor, or that Tern cannot load,
// are left as they are.
func AddPyfunc(dir string) error {
	root, mm, err := open(dir)
	if err != nil {
		return err
	}
	root.Close()
	if _, has := mm.Flavors[FlavorPyFunc]; has {
		return nil
	}
	flavor, err := mm.Flavor()
	if err != nil {
		return nil
	}
	if flavor == FlavorTern {
		if err := writePyfunc(dir); err != nil {
			return err
		}
		mm.Flavors[FlavorPyFunc] = pyfuncFlavor()
		if mm.Signature != nil && mm.Signature.Params == nil {
			task, _ := mm.Flavors[FlavorTern]["task"].(string)
			mm.Signature.Params = paramsSchema(task)
		}
	} else {
		data := defaultData[flavor]
		if d := mm.flavorString(flavor, "data"); d != "" {
			data = d
		}
		if err := writeEnv(dir, flavor); err != nil {
			return err
		}
		mm.Flavors[FlavorPyFunc] = nativePyfunc(flavor, data)
	}
	b, err := mm.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, MLmodelFile), b, 0o644); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the MLmodel file.")
	}
	return nil
}
