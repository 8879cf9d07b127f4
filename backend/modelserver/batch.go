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

// convert turns one JSON value into a feature value for col, or says why
// it cannot. row is 1-based for messages; 0 means "no row".
func convert(v any, col modelfmt.Column, row int) (float64, *RequestError) {
	where := ""
	if row > 0 {
		where = fmt.Sprintf(" in row %d", row)
	}
	switch t := v.(type) {
	case nil:
		return math.NaN(), nil
	case float64:
		switch col.Type {
		case "long", "integer":
			if t != math.Trunc(t) {
				return 0, bad("Column %q expects %s (a whole number) but got %s%s.", col.Name, col.Type, describe(v), where)
			}
		case "boolean":
			if t != 0 && t != 1 {
				return 0, bad("Column %q expects boolean but got %s%s.", col.Name, describe(v), where)
			}
		}
		return t, nil
	case bool:
		if col.Type != "boolean" {
			return 0, bad("Column %q expects %s but got %s%s.", col.Name, col.Type, describe(v), where)
		}
		if t {
			return 1, nil
		}
		return 0, nil
	case string:
		// Non-finite values cannot be written as JSON numbers, so clients
		// send them as text (MLflow does the same for metrics).
		switch strings.ToLower(t) {
		case "nan":
			return math.NaN(), nil
		case "infinity", "inf":
			return math.Inf(1), nil
		case "-infinity", "-inf":
			return math.Inf(-1), nil
		}
		return 0, bad("Column %q expects %s but got %s%s.", col.Name, col.Type, describe(v), where)
	}
	return 0, bad("Column %q expects %s but got %s%s.", col.Name, col.Type, describe(v), where)
}

// convertText parses one CSV cell for col. Empty cells are missing.
func convertText(s string, col modelfmt.Column, row int) (float64, *RequestError) {
	if s == "" {
		return math.NaN(), nil
	}
	if col.Type == "boolean" {
		switch strings.ToLower(s) {
		case "true", "1":
			return 1, nil
		case "false", "0":
			return 0, nil
		}
		return 0, bad("Column %q expects boolean but row %d has %q.", col.Name, row, clip(s))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, bad("Column %q expects %s but row %d has %q.", col.Name, col.Type, row, clip(s))
	}
	if (col.Type == "long" || col.Type == "integer") && f != math.Trunc(f) && !math.IsNaN(f) {
		return 0, bad("Column %q expects %s (a whole number) but row %d has %q.", col.Name, col.Type, row, clip(s))
	}
	return f, nil
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
	for i, n := range names {
		p, ok := idx[n]
		if !ok {
			return nil, bad("Unknown column %q; the model's inputs are %s.", clip(n), inputList(sig))
		}
		if seen[p] {
			return nil, bad("Column %q is given twice.", n)
		}
		seen[p] = true
		pos[i] = p
	}
	if err := checkRequired(sig, seen); err != nil {
		return nil, err
	}
	return pos, nil
}

func checkRequired(sig modelfmt.Signature, seen []bool) *RequestError {
	for p, ok := range seen {
		if !ok && !sig.Inputs[p].Optional {
			return bad("Missing column %q (type %s) required by the model signature.", sig.Inputs[p].Name, sig.Inputs[p].Type)
		}
	}
	return nil
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
