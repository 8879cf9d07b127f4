package modelfmt

import (
	"encoding/json"
	"path"
	"sort"
	"strings"
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
