package ml

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// Tasks.
const (
	Classification = "classification"
	Regression     = "regression"
)

// Algorithms.
const (
	AlgoLogistic = "logistic"
	AlgoLinear   = "linear"
	AlgoGBDT     = "gbdt"
)

// Files of a model directory.
const (
	MLmodelFile      = "MLmodel"
	ModelFile        = "model.json"
	InputExampleFile = "input_example.json"
	// FormatName and FormatVersion identify model.json; Load refuses others.
	FormatName    = "tern-model"
	FormatVersion = 1
	// Flavor is the MLmodel flavor name of Tern's models.
	Flavor = "tern"
)

// Size bounds for reading model files, so a hostile directory cannot make
// Load allocate without limit.
const (
	maxModelBytes   = 256 << 20
	maxMLmodelBytes = 1 << 20
)

// Model is a trained model: its preprocessing and estimator, ready to score.
type Model struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	Task      string `json:"task"`
	Algorithm string `json:"algorithm"`
	Target    string `json:"target"`
	// Classes are the class labels (classification), index = probability
	// column; NumericClasses says the target column was numeric, so labels
	// are returned as numbers.
	Classes        []string      `json:"classes,omitempty"`
	NumericClasses bool          `json:"numeric_classes,omitempty"`
	Params         Params        `json:"params"`
	Prep           *Preprocessor `json:"preprocessing"`
	Linear         *Linear       `json:"linear,omitempty"`
	GBDT           *GBDT         `json:"gbdt,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
}

// Column is one entry of a model signature, in MLflow's column-spec terms
// (type is "double", "string", "long", "boolean").
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Signature says what a model takes and returns.
type Signature struct {
	Inputs  []Column `json:"inputs"`
	Outputs []Column `json:"outputs"`
}

// Signature derives the model's signature from its preprocessing.
func (m *Model) Signature() Signature {
	var s Signature
	for _, f := range m.Prep.Features {
		t := "double"
		if f.Kind == Categorical {
			t = "string"
		}
		s.Inputs = append(s.Inputs, Column{Name: f.Name, Type: t})
	}
	out := "double"
	if m.Task == Classification && !m.NumericClasses {
		out = "string"
	}
	s.Outputs = []Column{{Name: "prediction", Type: out}}
	return s
}

// InputNames lists the input columns the model needs, in order.
func (m *Model) InputNames() []string {
	names := make([]string, len(m.Prep.Features))
	for i, f := range m.Prep.Features {
		names[i] = f.Name
	}
	return names
}

// Prediction is the model's answer for one row. For classification Label is
// the predicted class (a number when the target was numeric, else a string),
// Probabilities follow Model.Classes, and Value is the probability of the
// positive class (Classes[1]) for binary problems or of the predicted class
// otherwise. For regression Value is the prediction.
type Prediction struct {
	Label         any       `json:"label,omitempty"`
	Value         float64   `json:"value"`
	Probabilities []float64 `json:"probabilities,omitempty"`
}

// PredictRows scores records (one map per row, keyed by column name).
func (m *Model) PredictRows(rows []map[string]any) ([]Prediction, error) {
	return m.PredictFrame(FrameFromRecords(m.InputNames(), rows))
}

// PredictFrame scores every row of f. Columns are matched by name; extra
// columns are ignored; a missing column or a non-number in a numeric column
// is an Invalid error naming the row and column.
func (m *Model) PredictFrame(f *Frame) ([]Prediction, error) {
	X, err := m.Prep.Transform(f)
	if err != nil {
		return nil, err
	}
	n, p := len(f.Rows), m.Prep.Width()
	out := make([]Prediction, n)
	if m.Task == Regression {
		vals := m.predictValues(X, n, p)
		for i := range out {
			out[i].Value = vals[i]
		}
		return out, nil
	}
	k := len(m.Classes)
	probs := m.predictProba(X, n, p)
	for i := range out {
		pr := probs[i*k : (i+1)*k]
		best := 0
		for c := range pr {
			if pr[c] > pr[best] {
				best = c
			}
		}
		out[i].Probabilities = append([]float64(nil), pr...)
		out[i].Label = m.label(best)
		if k == 2 {
			out[i].Value = pr[1]
		} else {
			out[i].Value = pr[best]
		}
	}
	return out, nil
}

func (m *Model) label(c int) any {
	if m.NumericClasses {
		if v, err := strconv.ParseFloat(m.Classes[c], 64); err == nil {
			return v
		}
	}
	return m.Classes[c]
}

// predictProba returns n×len(Classes) probabilities, row-major.
func (m *Model) predictProba(X []float64, n, p int) []float64 {
	if m.GBDT != nil {
		return m.GBDT.proba(X, n, p)
	}
	return m.Linear.proba(X, n, p)
}

// predictValues returns n regression predictions.
func (m *Model) predictValues(X []float64, n, p int) []float64 {
	if m.GBDT != nil {
		return m.GBDT.raw(X, n, p)[:n]
	}
	return m.Linear.values(X, n, p)
}

// validate checks that a decoded model is internally consistent, so that
// scoring can never index out of range on a damaged or foreign file.
func (m *Model) validate() error {
	if m.Format != FormatName || m.Version != FormatVersion {
		return core.Errorf(core.Invalid, "Unsupported model format/version %q v%d: this Tern reads %s v%d.", m.Format, m.Version, FormatName, FormatVersion)
	}
	bad := func(why string) error {
		return core.Errorf(core.Invalid, "The model file is damaged: %s.", why)
	}
	if m.Prep == nil || len(m.Prep.Features) == 0 {
		return bad("it has no input features")
	}
	for _, f := range m.Prep.Features {
		if f.Kind != Numeric && f.Kind != Categorical {
			return bad(fmt.Sprintf("feature %q has unknown kind %q", f.Name, f.Kind))
		}
		if f.Kind == Numeric && (f.Std <= 0 || f.Std != f.Std) {
			return bad(fmt.Sprintf("feature %q has a non-positive scale", f.Name))
		}
	}
	width := m.Prep.Width()
	outputs := 1
	switch m.Task {
	case Classification:
		if len(m.Classes) < 2 {
			return bad("a classifier needs at least two classes")
		}
		outputs = len(m.Classes)
		if outputs == 2 {
			outputs = 1 // binary models keep one score column
		}
	case Regression:
	default:
		return bad(fmt.Sprintf("unknown task %q", m.Task))
	}
	switch {
	case m.GBDT != nil && m.Linear == nil:
		return m.GBDT.validate(width, outputs)
	case m.Linear != nil && m.GBDT == nil:
		return m.Linear.validate(width, outputs)
	}
	return bad("it must hold exactly one estimator")
}

// Save writes the model directory atomically: everything goes to a temporary
// directory beside dir, which is renamed into place at the end. example is a
// few input rows saved as input_example.json (may be nil).
func (m *Model) Save(dir string, example *Frame) error {
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
	if err := os.WriteFile(filepath.Join(tmp, ModelFile), body, 0o644); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the model file.")
	}
	if err := os.WriteFile(filepath.Join(tmp, MLmodelFile), m.mlmodel(example != nil), 0o644); err != nil {
		return core.Wrap(err, core.Internal, "Cannot write the MLmodel file.")
	}
	if example != nil {
		ex := &Frame{Columns: m.InputNames()}
		for _, row := range example.Rows {
			r := make([]any, len(ex.Columns))
			for j, c := range ex.Columns {
				if k := example.Column(c); k >= 0 && k < len(row) {
					r[j] = typedExample(row[k], m.Prep.Features[j].Kind)
				}
			}
			ex.Rows = append(ex.Rows, r)
		}
		b, _ := json.Marshal(ex)
		if err := os.WriteFile(filepath.Join(tmp, InputExampleFile), b, 0o644); err != nil {
			return core.Wrap(err, core.Internal, "Cannot write the input example.")
		}
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return core.Wrap(err, core.Internal, "Cannot move the model into place.")
	}
	return nil
}

func typedExample(v any, kind string) any {
	if isMissing(v) {
		return nil
	}
	if kind == Numeric {
		if x, ok := asFloat(v); ok {
			return x
		}
	}
	return asString(v)
}

// mlmodel renders the MLmodel file: YAML in the shape MLflow writes, with
// the signature as JSON strings like MLflow's.
func (m *Model) mlmodel(hasExample bool) []byte {
	sig := m.Signature()
	in, _ := json.Marshal(sig.Inputs)
	out, _ := json.Marshal(sig.Outputs)
	var b bytes.Buffer
	fmt.Fprintf(&b, "artifact_path: model\n")
	fmt.Fprintf(&b, "flavors:\n  %s:\n", Flavor)
	fmt.Fprintf(&b, "    format_version: %d\n    model_file: %s\n    task: %s\n    algorithm: %s\n", FormatVersion, ModelFile, m.Task, m.Algorithm)
	fmt.Fprintf(&b, "    target: %s\n", strconv.Quote(m.Target))
	if hasExample {
		fmt.Fprintf(&b, "saved_input_example_info:\n  artifact_path: %s\n  type: dataframe\n  pandas_orient: split\n", InputExampleFile)
	}
	fmt.Fprintf(&b, "signature:\n  inputs: %s\n  outputs: %s\n  params: null\n", yamlQuote(string(in)), yamlQuote(string(out)))
	fmt.Fprintf(&b, "utc_time_created: '%s'\n", m.CreatedAt.UTC().Format("2006-01-02 15:04:05.000000"))
	return b.Bytes()
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Load reads a model directory written by Save. A directory that is not a
// Tern model, or a model of another format version, is an Invalid error
// saying "unsupported model format/version"; a damaged file never panics.
func Load(dir string) (*Model, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.NotFound, "There is no model at %s.", dir)
		}
		return nil, core.Wrap(err, core.Invalid, "The model folder %s cannot be opened.", dir)
	}
	defer root.Close()
	mlm, err := readBounded(root, MLmodelFile, maxMLmodelBytes)
	if err != nil {
		return nil, err
	}
	flavors, err := mlmodelFlavors(mlm)
	if err != nil {
		return nil, err
	}
	if !flavors[Flavor] {
		return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the MLmodel file has no %q flavor (it has %s).", Flavor, flavorList(flavors))
	}
	body, err := readBounded(root, ModelFile, maxModelBytes)
	if err != nil {
		return nil, err
	}
	return DecodeModel(body)
}

// DecodeModel parses and validates model.json bytes.
func DecodeModel(body []byte) (*Model, error) {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, core.Wrap(err, core.Invalid, "Unsupported model format/version: model.json is not a Tern model (%v).", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func readBounded(root *os.Root, name string, limit int64) ([]byte, error) {
	fh, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the model folder has no %s file.", name)
		}
		return nil, core.Wrap(err, core.Invalid, "The model file %s cannot be opened.", name)
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

// mlmodelFlavors reads the flavor names under "flavors:" with a line
// scanner: Tern never needs more of the YAML, and never evaluates tags,
// anchors or aliases (so alias bombs cannot bite).
func mlmodelFlavors(b []byte) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxMLmodelBytes)
	in := false
	indent := -1
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		lead := len(line) - len(strings.TrimLeft(line, " "))
		if lead == 0 {
			in = strings.HasPrefix(line, "flavors:")
			indent = -1
			continue
		}
		if !in {
			continue
		}
		if indent < 0 {
			indent = lead
		}
		if lead == indent {
			name := strings.TrimSpace(line)
			if i := strings.Index(name, ":"); i > 0 {
				out[strings.Trim(name[:i], `"'`)] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the MLmodel file cannot be read (%v).", err)
	}
	return out, nil
}

func flavorList(f map[string]bool) string {
	if len(f) == 0 {
		return "none"
	}
	var names []string
	for k := range f {
		names = append(names, strconv.Quote(k))
	}
	return strings.Join(names, ", ")
}
