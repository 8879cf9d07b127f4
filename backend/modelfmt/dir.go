package modelfmt

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
)

// Model is a model directory read and decoded: exactly one of ML and GBDT
// is set, by Flavor.
type Model struct {
	MLmodel *MLmodel
	Flavor  string
	// Signature is what the model takes; built-in models take every
	// column they were trained on, null values imputed.
	Signature Signature
	// Example is the saved input example as a JSON body, if any.
	Example json.RawMessage
	ML      *ml.Model
	GBDT    *gbdt.Model
	// Labels says an xgboost model was saved from a scikit-learn
	// classifier, whose predict answers class labels, not probabilities.
	Labels bool
	// Pickle says the model is pickled Python (see Inspect): described,
	// never loaded; ML and GBDT are nil.
	Pickle bool
}

var defaultData = map[string]string{FlavorXGBoost: "model.xgb", FlavorLightGBM: "model.lgb"}

// Load reads a model directory of any flavor Tern serves (tern, xgboost,
// lightgbm) and checks the model against its signature. A directory that
// is not such a model is an Invalid error saying "unsupported model
// format/version"; a damaged file never panics.
func Load(dir string) (*Model, error) {
	root, mm, err := open(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	flavor, err := mm.Flavor()
	if err != nil {
		return nil, err
	}
	out := &Model{MLmodel: mm, Flavor: flavor}
	if flavor == FlavorTern {
		if out.ML, err = readTern(root, mm); err != nil {
			return nil, err
		}
		out.Signature = SignatureOf(out.ML)
	} else {
		file := defaultData[flavor]
		if d := mm.flavorString(flavor, "data"); d != "" {
			file = d
		}
		body, err := readFile(root, path.Clean(file), maxModelBytes)
		if err != nil {
			return nil, err
		}
		if flavor == FlavorXGBoost {
			out.GBDT, err = gbdt.ReadXGBoost(body)
		} else {
			out.GBDT, err = gbdt.ReadLightGBM(body)
		}
		if err != nil {
			return nil, err
		}
		cols, err := mm.InputSignature()
		if err != nil {
			return nil, err
		}
		out.Signature = Signature{Inputs: cols}
		if len(cols) == 0 {
			out.Signature = DefaultSignature(out.GBDT.FeatureNames, out.GBDT.Features)
		}
		if len(out.Signature.Inputs) != out.GBDT.Features {
			return nil, core.Errorf(core.Invalid, "The signature names %d inputs but the %s model reads %d features.", len(out.Signature.Inputs), flavor, out.GBDT.Features)
		}
		out.Labels = flavor == FlavorXGBoost && xgbClassifierClass(mm.flavorString(flavor, "model_class"))
	}
	if err := out.Signature.Validate(); err != nil {
		return nil, err
	}
	if mm.InputExample != nil && mm.InputExample.ArtifactPath != "" {
		if ex, err := readFile(root, path.Clean(mm.InputExample.ArtifactPath), maxExampleBytes); err == nil && json.Valid(ex) {
			out.Example = ex
		}
	}
	return out, nil
}

// LoadML reads a directory holding one of Tern's built-in models.
func LoadML(dir string) (*ml.Model, error) {
	root, mm, err := open(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return readTern(root, mm)
}

func readTern(root *os.Root, mm *MLmodel) (*ml.Model, error) {
	if _, ok := mm.Flavors[FlavorTern]; !ok {
		return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the MLmodel file has no %q flavor (it has %s).", FlavorTern, flavorList(mm.Flavors))
	}
	body, err := readFile(root, TernModelFile, maxModelBytes)
	if err != nil {
		return nil, err
	}
	return ml.DecodeModel(body)
}

func flavorList(f map[string]map[string]any) string {
	var names []string
	for k := range f {
		names = append(names, strconv.Quote(k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// xgbClassifierClass reports whether MLflow's xgboost flavor saved a
// scikit-learn classifier (model_class xgboost.sklearn.XGBClassifier or
// XGBRFClassifier). MLflow's pyfunc calls that class's predict, which
// answers class labels; a plain Booster (the default model_class) answers
// what Booster.predict does: probabilities.
func xgbClassifierClass(class string) bool {
	i := strings.LastIndexByte(class, '.')
	base := class[i+1:]
	return strings.HasPrefix(class, "xgboost.") && (base == "XGBClassifier" || base == "XGBRFClassifier")
}

// SaveML writes a built-in model's directory atomically: everything goes
// to a temporary directory beside dir, which is renamed into place at the
// end. example is a few input rows saved as input_example.json (may be
// nil).
func SaveML(dir string, m *ml.Model, example *ml.Frame) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return core.Wrap(err, core.Internal, "Cannot create the folder for the model.")
	}
	tmp, err := os.MkdirTemp(parent, ".model-*")
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot create the folder for the model.")
	}
	defer os.RemoveAll(tmp)
	body, err := json.Marshal(m)
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot encode the model.")
	}
	if err := os.WriteFile(filepath.Join(tmp, TernModelFile), body, 0o644); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the model file.")
	}
	var ex []byte
	if example != nil {
		ex, _ = json.Marshal(m.Example(example))
	}
	sig := SignatureOf(m)
	mm := &MLmodel{
		ArtifactPath: "model",
		Flavors: map[string]map[string]any{
			FlavorTern: {
				"format_version": ml.FormatVersion, "model_file": TernModelFile,
				"task": m.Task, "algorithm": m.Algorithm, "target": m.Target,
			},
			FlavorPyFunc: pyfuncFlavor(),
		},
		// Built-in models keep MLflow's plain {name, type} columns, which
		// MLflow reads as required, as Tern does.
		Signature: &SignatureText{Inputs: quoted(plainSchema(sig.Inputs)), Outputs: quoted(plainSchema(sig.Outputs)), Params: paramsSchema(m.Task)},
		Created:   quoted(created(m.CreatedAt).Format("2006-01-02 15:04:05.000000")),
	}
	if err := writePyfunc(tmp); err != nil {
		return err
	}
	if err := writeDir(tmp, mm, ex); err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return core.Wrap(err, core.Internal, "Cannot move the model into place.")
	}
	return nil
}

// WriteImported writes the MLmodel descriptor (and the input example, if
// any) of an XGBoost or LightGBM file already saved in dir as dataFile,
// with the signature and the python_function flavor as MLflow writes them.
func WriteImported(dir, flavor, dataFile string, sig Signature, example json.RawMessage) error {
	settings := map[string]any{"data": dataFile}
	if flavor == FlavorXGBoost {
		format := "json"
		if strings.HasSuffix(dataFile, ".ubj") {
			format = "ubj"
		}
		settings["model_format"] = format
	}
	st := &SignatureText{Inputs: quoted(MLflowSchema(sig.Inputs))}
	if len(sig.Outputs) > 0 {
		st.Outputs = quoted(MLflowSchema(sig.Outputs))
	}
	mm := &MLmodel{ArtifactPath: "model", Flavors: map[string]map[string]any{flavor: settings, FlavorPyFunc: nativePyfunc(flavor, dataFile)}, Signature: st}
	if err := writeEnv(dir, flavor); err != nil {
		return err
	}
	return writeDir(dir, mm, example)
}

// writeDir writes the descriptor and the input example into dir. It is
// the one writer of MLmodel files.
func writeDir(dir string, mm *MLmodel, example []byte) error {
	if len(example) > 0 {
		// Tern's examples are JSON in pandas' split orientation (an MLflow
		// request body, or a built-in model's frame).
		mm.InputExample = &ExampleInfo{ArtifactPath: InputExampleFile, Type: "dataframe", Orient: "split"}
		if err := os.WriteFile(filepath.Join(dir, InputExampleFile), example, 0o644); err != nil {
			return core.Wrap(err, core.Internal, "Cannot write the input example.")
		}
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

// created is a model's fitting time, or now for a model that does not
// carry one (loaded back from model.json, which holds no time).
func created(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t.UTC()
}
