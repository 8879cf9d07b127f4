package modelserver

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
)

// Batch is a decoded request: rows of features in signature order,
// row-major. Missing values are NaN. Text holds the values of string
// columns (Text[col][row], "" when missing); it is nil for numeric columns,
// whose X entries stay NaN.
type Batch struct {
	X     []float64
	NRows int
	NCols int
	Text  [][]string
	// Proba says the caller asked for class probabilities instead of
	// labels (MLflow params {"predict_method": "predict_proba"}).
	Proba bool
	// Explain says the caller asked for each row's contributions (MLflow
	// params or V2 parameters {"explain": true}).
	Explain bool
	// wantProba says a V2 request wants the "probabilities" output, so a
	// predictor that computes them only on demand (Worker) computes them.
	wantProba bool
}

// set stores one JSON value at row r, column p.
func (b *Batch) set(r, p int, v any, col modelfmt.Column) *RequestError {
	if col.Type == "string" {
		switch t := v.(type) {
		case string:
			b.Text[p][r] = t
		case nil:
		default:
			return bad("Column %q expects string but got %s in row %d.", col.Name, describe(v), r+1)
		}
		return nil
	}
	f, err := convert(v, col, r+1)
	if err != nil {
		return err
	}
	b.X[r*b.NCols+p] = f
	return nil
}

// Predictor is what the scoring server calls. Implementations read a
// batch of NumFeatures columns and write OutputWidth values per row.
type Predictor interface {
	NumFeatures() int
	OutputWidth() int
	Predict(b *Batch, out []float64) error
}

// Labeler is a classifier whose answer is a class label per row, derived
// from its OutputWidth scores; the MLflow protocol returns the labels, as
// a scikit-learn classifier's predict does.
type Labeler interface {
	Labels(out []float64, nrows int) []any
	// LabelType is the V2 datatype of the labels: BYTES for text classes,
	// INT64 or FP64 for numbers.
	LabelType() string
	// ProbaWidth is how many class probabilities Probabilities gives per
	// row; 0 when the model gives none (XGBoost's multi:softmax answers
	// only the class).
	ProbaWidth() int
	// Probabilities turns the OutputWidth scores into ProbaWidth class
	// probabilities per row, as scikit-learn's predict_proba orders them.
	Probabilities(out []float64, nrows int) []float64
}

// RequestError is a payload the server refuses; Status is the HTTP code
// the protocol prescribes (400, 413 or 415) and Msg names the column, row
// or field at fault.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func bad(format string, args ...any) *RequestError {
	return &RequestError{Status: 400, Msg: fmt.Sprintf(format, args...)}
}

// maxRows bounds a single request so a tiny body cannot ask for a huge
// allocation (e.g. a V2 shape of [1e12, 4]).
const maxRows = 1 << 22

// describe says what a JSON value is, for error messages, without echoing
// a long string back.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case string:
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return fmt.Sprintf("the text %q", t)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Type rules follow MLflow's schema enforcement (mlflow.models.utils
// _enforce_mlflow_datatype): it converts only what loses nothing — whole
// numbers to long and integer, numbers to double and float — and refuses
// the rest: text in a number column, numbers or true/false where the other
// is declared, fractions in a whole-number column. It also refuses a
// missing value in a long or integer column (pandas cannot hold one there),
// and says so with MLflow's hint. Text "NaN" and "Infinity" stay accepted
// in double and float columns, because JSON has no literal for them.

// convert turns one JSON value into a feature value for col, or says why
// it cannot. row is 1-based for messages; 0 means "no row".
func convert(v any, col modelfmt.Column, row int) (float64, *RequestError) {
	where := ""
	if row > 0 {
		where = fmt.Sprintf(" in row %d", row)
	}
	whole := col.Type == "long" || col.Type == "integer"
	switch t := v.(type) {
	case nil:
		if whole {
			return 0, missingWhole(col, where)
		}
		return math.NaN(), nil
	case float64:
		switch col.Type {
		case "long", "integer":
			if t != math.Trunc(t) {
				return 0, bad("Column %q expects %s (a whole number) but got %s%s.", col.Name, col.Type, describe(v), where)
			}
			if lo, hi := wholeRange(col.Type); t < lo || t > hi {
				return 0, bad("Column %q expects %s but %s%s is out of its range.", col.Name, col.Type, describe(v), where)
			}
		case "float":
			if math.Abs(t) > math.MaxFloat32 {
				return 0, bad("Column %q expects float (32-bit) but %s%s is out of its range.", col.Name, describe(v), where)
			}
		case "boolean":
			return 0, bad("Column %q expects boolean (true or false) but got the number %s%s.", col.Name, describe(v), where)
		}
		return t, nil
	case bool:
		if col.Type != "boolean" {
			return 0, bad("Column %q expects %s but got %s%s; MLflow does not convert true/false to numbers.", col.Name, col.Type, describe(v), where)
		}
		if t {
			return 1, nil
		}
		return 0, nil
	case string:
		// Non-finite values cannot be written as JSON numbers, so clients
		// send them as text (MLflow does the same for metrics).
		if col.Type == "double" || col.Type == "float" {
			switch strings.ToLower(t) {
			case "nan":
				return math.NaN(), nil
			case "infinity", "inf":
				return math.Inf(1), nil
			case "-infinity", "-inf":
				return math.Inf(-1), nil
			}
		}
		return 0, bad("Column %q expects %s but got %s%s.", col.Name, col.Type, describe(v), where)
	}
	return 0, bad("Column %q expects %s but got %s%s.", col.Name, col.Type, describe(v), where)
}

// wholeRange is the range MLflow's long (int64) and integer (int32) hold.
func wholeRange(typ string) (float64, float64) {
	if typ == "integer" {
		return math.MinInt32, math.MaxInt32
	}
	return -(1 << 63), 1<<63 - 1
}

func missingWhole(col modelfmt.Column, where string) *RequestError {
	return bad("Column %q is %s and cannot hold a missing value%s; a whole-number column has no missing value in MLflow (declare it double if it may be missing).", col.Name, col.Type, where)
}

// convertText parses one CSV cell for col. Empty cells are missing, which
// long and integer columns refuse, as pandas reading the CSV would make
// them floats.
func convertText(s string, col modelfmt.Column, row int) (float64, *RequestError) {
	whole := col.Type == "long" || col.Type == "integer"
	if s == "" {
		if whole {
			return 0, missingWhole(col, fmt.Sprintf(" in row %d", row))
		}
		return math.NaN(), nil
	}
	if col.Type == "boolean" {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		return 0, bad("Column %q expects boolean (true or false) but row %d has %q.", col.Name, row, clip(s))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, bad("Column %q expects %s but row %d has %q.", col.Name, col.Type, row, clip(s))
	}
	return convert(f, col, row)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// columnMap resolves request column names to signature positions; every
// name must be known and every required input present.
func columnMap(sig modelfmt.Signature, names []string) ([]int, *RequestError) {
	idx := sig.Index()
	pos := make([]int, len(names))
	seen := make([]bool, len(sig.Inputs))
	var unknown []string
	for i, n := range names {
		p, ok := idx[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		if seen[p] {
			return nil, bad("Column %q is given twice.", n)
		}
		seen[p] = true
		pos[i] = p
	}
	if err := checkColumns(sig, seen, unknown, "The request"); err != nil {
		return nil, err
	}
	return pos, nil
}

// checkColumns refuses a request that names columns the signature does not
// have or leaves out required ones, naming all of each (not only the
// first), so one answer is enough to fix the request. subject says whose
// columns ("The request", "Row 3"). MLflow itself drops extra columns with
// a warning; Tern refuses them, because a misspelt column would otherwise
// be scored as missing without anyone noticing.
func checkColumns(sig modelfmt.Signature, seen []bool, unknown []string, subject string) *RequestError {
	var missing []string
	for p, ok := range seen {
		if !ok && !sig.Inputs[p].Optional {
			missing = append(missing, fmt.Sprintf("%q (%s)", sig.Inputs[p].Name, sig.Inputs[p].Type))
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("is missing %s %s required by the model signature", plural(len(missing), "column", "columns"), listed(missing)))
	}
	if len(unknown) > 0 {
		q := make([]string, len(unknown))
		for i, u := range unknown {
			q[i] = strconv.Quote(clip(u))
		}
		parts = append(parts, fmt.Sprintf("has unknown %s %s that the signature does not name", plural(len(unknown), "column", "columns"), listed(q)))
	}
	if len(parts) == 0 {
		return nil
	}
	return bad("%s %s; the model's inputs are %s.", subject, strings.Join(parts, " and "), inputList(sig))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listed joins at most 100 names, saying how many more there are: enough
// for any table a person types, bounded for a request naming thousands.
func listed(names []string) string {
	if len(names) > 100 {
		return strings.Join(names[:100], ", ") + fmt.Sprintf(" and %d more", len(names)-100)
	}
	return strings.Join(names, ", ")
}

func inputList(sig modelfmt.Signature) string {
	var b strings.Builder
	for i, c := range sig.Inputs {
		if i == 8 {
			fmt.Fprintf(&b, ", … (%d in all)", len(sig.Inputs))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
	}
	return b.String()
}

func newBatch(nrows int, sig modelfmt.Signature) *Batch {
	ncols := len(sig.Inputs)
	x := make([]float64, nrows*ncols)
	for i := range x {
		x[i] = math.NaN()
	}
	b := &Batch{X: x, NRows: nrows, NCols: ncols, Text: make([][]string, ncols)}
	for p, c := range sig.Inputs {
		if c.Type == "string" {
			b.Text[p] = make([]string, nrows)
		}
	}
	return b
}

func errMessage(err error) string { return core.ErrorMessage(err) }
