package serving

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/gbdt"
	"github.com/tern-studio/tern/backend/ml"
)

// MLmodelFile is the descriptor at the root of an MLflow-style model
// directory.
const MLmodelFile = "MLmodel"

// Bounds for reading a model directory: the YAML descriptor is small by
// nature, so anything larger is refused before the parser sees it.
const (
	maxMLmodelBytes = 1 << 20
	maxModelBytes   = 512 << 20
)

// MLmodel is the part of an MLmodel file Tern reads.
type MLmodel struct {
	ArtifactPath string                    `yaml:"artifact_path" json:"artifactPath,omitempty"`
	Flavors      map[string]map[string]any `yaml:"flavors" json:"flavors"`
	RunID        string                    `yaml:"run_id" json:"runId,omitempty"`
	ModelUUID    string                    `yaml:"model_uuid" json:"modelUuid,omitempty"`
	MLflowVer    string                    `yaml:"mlflow_version" json:"mlflowVersion,omitempty"`
	Created      string                    `yaml:"utc_time_created" json:"created,omitempty"`
	Signature    *struct {
		Inputs  string `yaml:"inputs"`
		Outputs string `yaml:"outputs"`
	} `yaml:"signature" json:"-"`
	InputExample *struct {
		ArtifactPath string `yaml:"artifact_path"`
		Type         string `yaml:"type"`
		Orient       string `yaml:"pandas_orient"`
	} `yaml:"saved_input_example_info" json:"-"`
}

// ParseMLmodel reads an MLmodel file. The YAML is bounded in size and
// decoded only into plain fields, so tags and alias bombs cannot make it
// expensive; nothing in it is ever executed or unpickled.
func ParseMLmodel(data []byte) (*MLmodel, error) {
	if len(data) > maxMLmodelBytes {
		return nil, core.Errorf(core.Invalid, "The MLmodel file is larger than %d KB; it is not a model descriptor.", maxMLmodelBytes>>10)
	}
	var m MLmodel
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, core.Wrap(err, core.Invalid, "The MLmodel file is not valid YAML: %s.", firstLine(err.Error()))
	}
	if len(m.Flavors) == 0 {
		return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the MLmodel file lists no flavors.")
	}
	return &m, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// Signature returns the descriptor's input signature, if it has one.
func (m *MLmodel) InputSignature() ([]Column, error) {
	if m.Signature == nil || strings.TrimSpace(m.Signature.Inputs) == "" {
		return nil, nil
	}
	return ParseMLflowSchema(m.Signature.Inputs)
}

// Flavor names Tern can serve, in the order it prefers them.
var servableFlavors = []string{ml.Flavor, "xgboost", "lightgbm"}

// Flavor picks the flavor Tern will load, or says why none can be.
func (m *MLmodel) Flavor() (string, error) {
	for _, f := range servableFlavors {
		if _, ok := m.Flavors[f]; ok {
			return f, nil
		}
	}
	names := make([]string, 0, len(m.Flavors))
	for k := range m.Flavors {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "sklearn" || n == "python_function" || strings.Contains(n, "pickle") {
			return "", core.Errorf(core.Invalid, "Unsupported model format/version: the model has flavors %s, which store a Python pickle; Tern never unpickles (loading a pickle runs code). Save it as XGBoost JSON, LightGBM text, or train it in Tern.", strings.Join(names, ", "))
		}
	}
	return "", core.Errorf(core.Invalid, "Unsupported model format/version: the model has flavors %s; Tern serves tern, xgboost and lightgbm.", strings.Join(names, ", "))
}

// Loaded is a model directory read for serving.
type Loaded struct {
	Model   Model
	MLmodel *MLmodel
	Flavor  string
	// Example is the saved input example as an MLflow request body, if any.
	Example json.RawMessage
}

// LoadDir reads a model directory (MLmodel + model file) for serving as
// name/version. Files are opened through os.Root, so a descriptor naming
// "../x" cannot reach outside the directory.
func LoadDir(dir, name, version string) (*Loaded, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.NotFound, "There is no model folder at %s.", dir)
		}
		return nil, core.Wrap(err, core.Invalid, "The model folder %s cannot be opened.", dir)
	}
	defer root.Close()
	raw, err := readRoot(root, MLmodelFile, maxMLmodelBytes)
	if err != nil {
		return nil, err
	}
	mm, err := ParseMLmodel(raw)
	if err != nil {
		return nil, err
	}
	flavor, err := mm.Flavor()
	if err != nil {
		return nil, err
	}
	var model Model
	switch flavor {
	case ml.Flavor:
		m, err := ml.Load(dir)
		if err != nil {
			return nil, err
		}
		model = FromML(m, name, version)
	default:
		file := defaultData[flavor]
		if d, ok := mm.Flavors[flavor]["data"].(string); ok && d != "" {
			file = d
		}
		body, err := readRoot(root, path.Clean(file), maxModelBytes)
		if err != nil {
			return nil, err
		}
		var g *gbdt.Model
		if flavor == "xgboost" {
			g, err = gbdt.ReadXGBoost(body)
		} else {
			g, err = gbdt.ReadLightGBM(body)
		}
		if err != nil {
			return nil, err
		}
		cols, err := mm.InputSignature()
		if err != nil {
			return nil, err
		}
		sig := Signature{Inputs: cols}
		if len(cols) == 0 {
			sig = DefaultSignature(g.FeatureNames, g.Features)
		}
		if len(sig.Inputs) != g.Features {
			return nil, core.Errorf(core.Invalid, "The signature names %d inputs but the %s model reads %d features.", len(sig.Inputs), flavor, g.Features)
		}
		model = Model{Name: name, Version: version, Signature: sig, Predictor: GBDTPredictor(g)}
		if class, _ := mm.Flavors[flavor]["model_class"].(string); flavor == "xgboost" && xgbClassifierClass(class) {
			model.Predictor = xgbClassifier{rowPredictor{g: g}}
		}
	}
	if err := model.Signature.Validate(); err != nil {
		return nil, err
	}
	l := &Loaded{Model: model, MLmodel: mm, Flavor: flavor}
	if mm.InputExample != nil && mm.InputExample.ArtifactPath != "" {
		if ex, err := readRoot(root, path.Clean(mm.InputExample.ArtifactPath), 1<<20); err == nil && json.Valid(ex) {
			l.Example = ex
		}
	}
	return l, nil
}

var defaultData = map[string]string{"xgboost": "model.xgb", "lightgbm": "model.lgb"}

func readRoot(root *os.Root, name string, limit int64) ([]byte, error) {
	fh, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the model folder has no file %s.", name)
		}
		return nil, core.Wrap(err, core.Invalid, "The model file %s cannot be opened (it may point outside the model folder).", name)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "The model file %s cannot be read.", name)
	}
	if int64(len(b)) > limit {
		return nil, core.Errorf(core.Invalid, "The model file %s is larger than %d MB.", name, limit>>20)
	}
	return b, nil
}

// GBDTPredictor serves an XGBoost or LightGBM model.
func GBDTPredictor(g *gbdt.Model) Predictor { return rowPredictor{g: g} }

type rowPredictor struct{ g *gbdt.Model }

func (p rowPredictor) NumFeatures() int { return p.g.Features }
func (p rowPredictor) OutputWidth() int { return p.g.Outputs }
func (p rowPredictor) Predict(b *Batch, out []float64) error {
	if b.NCols != p.g.Features {
		return bad("The request has %d columns but the model reads %d.", b.NCols, p.g.Features)
	}
	nf, w := p.g.Features, p.g.Outputs
	for r := 0; r < b.NRows; r++ {
		p.g.PredictRow(b.X[r*nf:(r+1)*nf], out[r*w:(r+1)*w])
	}
	return nil
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

// xgbClassifier answers labels the way xgboost.XGBClassifier.predict does
// (XGBoost 3.x): the most probable class for softprob (first on ties, as
// numpy's argmax), the class index for multi:softmax, and 1 when the
// probability is above 0.5 (else 0) for a single output. XGBoost's
// scikit-learn classes are 0..n-1, so the index is the label. The V2
// protocol still gets the scores as "probabilities".
type xgbClassifier struct{ rowPredictor }

func (p xgbClassifier) Labels(out []float64, nrows int) []any {
	w := p.g.Outputs
	labels := make([]any, nrows)
	for r := range labels {
		row := out[r*w : (r+1)*w]
		switch {
		case w > 1:
			best := 0
			for k := 1; k < w; k++ {
				if row[k] > row[best] {
					best = k
				}
			}
			labels[r] = best
		case p.g.Objective == "multi:softmax":
			labels[r] = int(row[0])
		case row[0] > 0.5:
			labels[r] = 1
		default:
			labels[r] = 0
		}
	}
	return labels
}

// WriteMLmodel renders a minimal MLmodel descriptor for a flavor Tern
// imported (xgboost, lightgbm), with the signature as MLflow writes it.
func WriteMLmodel(flavor, dataFile string, sig Signature, exampleFile string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "artifact_path: model\nflavors:\n  %s:\n    data: %s\n", flavor, dataFile)
	switch flavor {
	case "xgboost":
		format := "json"
		if strings.HasSuffix(dataFile, ".ubj") {
			format = "ubj"
		}
		fmt.Fprintf(&b, "    model_format: %s\n", format)
	}
	if exampleFile != "" {
		fmt.Fprintf(&b, "saved_input_example_info:\n  artifact_path: %s\n  type: dataframe\n  pandas_orient: split\n", exampleFile)
	}
	in := MLflowSchema(sig.Inputs)
	fmt.Fprintf(&b, "signature:\n  inputs: '%s'\n", strings.ReplaceAll(in, "'", "''"))
	if len(sig.Outputs) > 0 {
		fmt.Fprintf(&b, "  outputs: '%s'\n", strings.ReplaceAll(MLflowSchema(sig.Outputs), "'", "''"))
	}
	return []byte(b.String())
}
