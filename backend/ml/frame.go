package ml

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/core"
)

// Frame is a small column-named table of raw values, the common input of
// training and prediction. Values are float64, string, bool, json.Number or
// nil (missing); numbers in strings are parsed where a numeric column is
// expected.
type Frame struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"data"`
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

// maxCSVLine bounds one CSV record so a file with a huge single line fails
// with a clear error instead of exhausting memory.
const maxCSVLine = 8 << 20

// ReadCSVFile reads a CSV file with a header row into a frame of strings
// (empty fields become nil). Errors name the row.
func ReadCSVFile(path string) (*Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "Cannot open the data file %s.", path)
	}
	defer fh.Close()
	return ReadCSV(fh)
}

// ReadCSV reads CSV with a header row. A UTF-8 byte-order mark is skipped.
func ReadCSV(r io.Reader) (*Frame, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(&limitedLines{r: br, max: maxCSVLine})
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, core.Errorf(core.Invalid, "The data file is empty: it has no header row.")
		}
		return nil, csvError(err)
	}
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, core.Errorf(core.Invalid, "Column %d of the header has no name.", i+1)
		}
		if !utf8.ValidString(h) {
			return nil, core.Errorf(core.Invalid, "Column %d of the header is not valid UTF-8.", i+1)
		}
		if seen[h] {
			return nil, core.Errorf(core.Invalid, "Column name %q appears twice in the header.", h)
		}
		seen[h] = true
		header[i] = h
	}
	f := &Frame{Columns: header}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		row := make([]any, len(rec))
		for j, v := range rec {
			if v == "" {
				row[j] = nil
			} else {
				row[j] = v
			}
		}
		f.Rows = append(f.Rows, row)
	}
	return f, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return core.Errorf(core.Invalid, "Row %d has a different number of fields than the header.", pe.StartLine)
		}
		return core.Errorf(core.Invalid, "Row %d, column %d of the CSV cannot be read: %v.", pe.StartLine, pe.Column, pe.Err)
	}
	if errors.Is(err, errLineTooLong) {
		return core.Errorf(core.Invalid, "A line of the CSV is longer than %d MB.", maxCSVLine>>20)
	}
	return core.Wrap(err, core.Invalid, "The CSV cannot be read.")
}

var errLineTooLong = errors.New("line too long")

// limitedLines fails once a single line exceeds max bytes.
type limitedLines struct {
	r   *bufio.Reader
	max int
	cur int
}

func (l *limitedLines) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			l.cur = 0
		} else {
			l.cur++
			if l.cur > l.max {
				return 0, errLineTooLong
			}
		}
	}
	return n, err
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
