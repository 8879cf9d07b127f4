package modelfmt

import (
	"encoding/json"
	"path"
	"sort"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// Pickled Python flavors, as MLflow names them.
const (
	FlavorPyFunc  = "python_function"
	FlavorSklearn = "sklearn"
)

// Inspect describes a model directory for the registry. A directory of a
// flavor Tern serves is loaded as Load does. One whose flavors are pickled
// Python (sklearn, python_function: what `mlflow.sklearn.log_model`
// writes) is described from its MLmodel alone — flavor, signature, input
// example — and Pickle is set; the pickle is never opened, so the model
// can be registered, listed and exported but not served by Tern's own
// server. Anything else is the error Load gives.
func Inspect(dir string) (*Model, error) {
	m, err := Load(dir)
	if err == nil {
		return m, nil
	}
	root, mm, oerr := open(dir)
	if oerr != nil {
		return nil, err
	}
	defer root.Close()
	flavor := pickleFlavor(mm.Flavors)
	if flavor == "" {
		return nil, err
	}
	out := &Model{MLmodel: mm, Flavor: flavor, Pickle: true}
	// A tensor signature (or none) is kept as "no declared columns": the
	// registry shows it; only serving needs columns.
	if cols, serr := mm.InputSignature(); serr == nil && len(cols) > 0 {
		sig := Signature{Inputs: cols}
		if sig.Validate() == nil {
			out.Signature = sig
		}
	}
	if mm.InputExample != nil && mm.InputExample.ArtifactPath != "" {
		if ex, xerr := readFile(root, path.Clean(mm.InputExample.ArtifactPath), maxExampleBytes); xerr == nil && json.Valid(ex) {
			out.Example = ex
		}
	}
	return out, nil
}

// pickleFlavor names the most specific pickled Python flavor of a model
// (sklearn before the generic python_function), or "" when it has none.
func pickleFlavor(flavors map[string]map[string]any) string {
	if _, ok := flavors[FlavorSklearn]; ok {
		return FlavorSklearn
	}
	names := make([]string, 0, len(flavors))
	for k := range flavors {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if n != FlavorPyFunc && strings.Contains(n, "pickle") {
			return n
		}
	}
	if _, ok := flavors[FlavorPyFunc]; ok {
		return FlavorPyFunc
	}
	return ""
}

// PythonPickle names the pickle file Tern's Python serving container
// unpickles for this model (relative to the model directory), or says in
// words why that container cannot serve it: it serves scikit-learn models
// (the sklearn flavor, or python_function loaded by mlflow.sklearn) saved
// with pickle or cloudpickle, with a column signature the front checks
// requests against. Nothing is opened here.
func (m *Model) PythonPickle() (string, error) {
	if !m.Pickle {
		return "", core.Errorf(core.Invalid, "The model is not a pickled Python model.")
	}
	file := ""
	if _, ok := m.MLmodel.Flavors[FlavorSklearn]; ok {
		file = m.MLmodel.flavorString(FlavorSklearn, "pickled_model")
		switch f := m.MLmodel.flavorString(FlavorSklearn, "serialization_format"); f {
		case "", "pickle", "cloudpickle":
		default:
			return "", core.Errorf(core.Invalid, "The scikit-learn model is saved as %q; Tern's Python container reads pickle and cloudpickle files only.", f)
		}
	} else if lm := m.MLmodel.flavorString(FlavorPyFunc, "loader_module"); lm == "mlflow.sklearn" {
		file = m.MLmodel.flavorString(FlavorPyFunc, "model_path")
	} else {
		return "", core.Errorf(core.Invalid, "The model's flavor is %s (loader %q); Tern's Python container serves scikit-learn models only, because other Python models need MLflow and their own packages inside the image. Export the MLmodel folder and serve it with MLflow.", m.Flavor, lm)
	}
	if file == "" {
		return "", core.Errorf(core.Invalid, "The MLmodel file does not name the pickle file of the scikit-learn model.")
	}
	clean := path.Clean(file)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(clean, "\\") {
		return "", core.Errorf(core.Invalid, "The pickle path %q in the MLmodel file leaves the model folder.", file)
	}
	if len(m.Signature.Inputs) == 0 {
		return "", core.Errorf(core.Invalid, "The model has no column signature, so requests cannot be checked before they reach the pickle. Log it with a signature (mlflow.models.infer_signature) and register it again.")
	}
	return clean, nil
}
