package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/table"
)

// Frame is a column-named table of raw values, the common input of
// training and prediction. Values are float64, string, bool, json.Number or
// nil (missing); numbers in strings are parsed where a numeric column is
// expected.
type Frame struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"data"`
	// Kinds, when set, is each column's kind (Numeric or Categorical) as
	// the dataset's schema says, which training follows instead of
	// guessing from the values (a code column of digits stays categorical).
	Kinds []string `json:"-"`
}

// missing reports a missing value. The table reader already turned its
// missing-value tokens into nil, so in a frame it filled (Kinds set) only
// nil is missing and a category spelled "null" stays one, as the profile
// counted it; elsewhere empty, NaN and null spellings are missing too.
func (f *Frame) missing(v any) bool {
	if f.Kinds != nil {
		return v == nil
	}
	return isMissing(v)
}

// kind is column j's declared kind, "" when the frame does not say.
func (f *Frame) kind(j int) string {
	if j < len(f.Kinds) {
		return f.Kinds[j]
	}
	return ""
}

// Column returns the index of a column, or -1.
func (f *Frame) Column(name string) int {
	for i, c := range f.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// Len is the number of rows.
func (f *Frame) Len() int { return len(f.Rows) }

// FrameFromRecords turns records (one map per row, as in MLflow's
// dataframe_records) into a frame with the given column order; a key absent
// from a record is a missing value.
func FrameFromRecords(columns []string, records []map[string]any) *Frame {
	f := &Frame{Columns: columns, Rows: make([][]any, len(records))}
	for i, r := range records {
		row := make([]any, len(columns))
		for j, c := range columns {
			row[j] = r[c]
		}
		f.Rows[i] = row
	}
	return f
}

// ReadFrame reads a data file into a frame through the table reader, the
// one the dataset import profiles with: opts are a dataset version's
// Reading (so the frame holds exactly the values its profile counted), or
// empty to detect everything as an import would. Missing values (the null
// tokens, and numbers too big to be finite) are nil; integer and float
// columns hold float64, the others their text as written (a boolean's
// spelling and a date's text are what a request to the model carries
// too); Kinds says which columns are numeric. Errors are the reader's, naming the line.
func ReadFrame(ctx context.Context, path string, opts table.Options) (*Frame, error) {
	res, rows, err := table.Collect(func(h table.Hooks) (*table.Result, error) {
		return table.ReadFile(ctx, path, opts, h)
	}, frameRow)
	if err != nil {
		return nil, err
	}
	f := &Frame{Rows: rows}
	for _, c := range res.Detected.Columns {
		f.Columns = append(f.Columns, c.Name)
		kind := Categorical
		if c.Type.Kind() == table.Number {
			kind = Numeric
		}
		f.Kinds = append(f.Kinds, kind)
	}
	return f, nil
}

// ReadFrameText reads a file to score or to test on: its layout is
// detected, every column is read as text, and the model's preprocessor
// parses the values as it does a request's.
func ReadFrameText(ctx context.Context, path string) (*Frame, error) {
	det, err := table.DetectFile(path, table.Options{})
	if err != nil {
		return nil, err
	}
	types := map[string]table.ColumnType{}
	for _, c := range det.Columns {
		types[c.Name] = table.Text
	}
	h := det.Header
	f, err := ReadFrame(ctx, path, table.Options{Format: det.Format, Encoding: det.Encoding, Delimiter: det.Delimiter, Header: &h, NullTokens: det.NullTokens, Types: types})
	if err != nil {
		return nil, err
	}
	f.Kinds = nil // text says nothing about the values' kind
	return f, nil
}

// frameRow is one record as training sees it.
func frameRow(cols []table.Column, r *table.Row) ([]any, error) {
	row := make([]any, len(r.Fields))
	for i, b := range r.Fields {
		if r.Null[i] {
			continue
		}
		if cols[i].Type.Kind() != table.Number {
			row[i] = string(b)
		} else if v := r.Num[i]; !math.IsInf(v, 0) && !math.IsNaN(v) {
			row[i] = v
		}
	}
	return row, nil
}

// asFloat reads a raw value as a number; ok is false for missing or
// non-numeric values.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case nil:
		return 0, false
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), !math.IsNaN(float64(x))
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil && !math.IsNaN(f)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		s := strings.TrimSpace(x)
		if s == "" || strings.EqualFold(s, "nan") || strings.EqualFold(s, "na") || strings.EqualFold(s, "null") {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return 0, false
}

// asString renders a raw value as the category it names; "" is missing.
func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// isMissing reports whether a raw value is empty/NaN/null.
func isMissing(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		s := strings.TrimSpace(x)
		return s == "" || strings.EqualFold(s, "nan") || strings.EqualFold(s, "null")
	case float64:
		return math.IsNaN(x)
	}
	return false
}
