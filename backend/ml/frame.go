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

// ReadCSVFile reads a data file into a frame: Parquet when it starts with
// the Parquet magic, JSON lines when its first non-blank byte is '{',
// otherwise CSV with a header row whose delimiter
// (comma, semicolon, tab or pipe) is guessed from the header. Empty fields
// become nil. Errors name the row.
func ReadCSVFile(path string) (*Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "Cannot open the data file %s.", path)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(fh, 1<<16)
	head, _ := br.Peek(64 << 10)
	if strings.HasPrefix(string(head), "PAR1") {
		fh.Close()
		return ReadParquetFile(path)
	}
	trimmed := strings.TrimLeft(strings.TrimPrefix(string(head), "\ufeff"), " \t\r\n")
	if strings.HasPrefix(trimmed, "{") {
		return ReadJSONLines(br)
	}
	return readCSV(br, sniffDelimiter(string(head)))
}

func sniffDelimiter(head string) rune {
	if i := strings.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	best, n := ',', strings.Count(head, ",")
	for _, d := range []rune{';', '\t', '|'} {
		if c := strings.Count(head, string(d)); c > n {
			best, n = d, c
		}
	}
	return best
}

// ReadJSONLines reads one JSON object per line; the columns are the keys
// in order of first appearance.
func ReadJSONLines(r io.Reader) (*Frame, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	f := &Frame{}
	col := map[string]int{}
	var recs []map[string]any
	lineNo := 0
	err := scanBounded(br, func(line []byte) error {
		lineNo++
		s := strings.TrimSpace(strings.TrimPrefix(string(line), "\ufeff"))
		if s == "" {
			return nil
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			return core.Errorf(core.Invalid, "Line %d is not a JSON object.", lineNo)
		}
		for k := range m {
			if _, ok := col[k]; !ok {
				col[k] = len(f.Columns)
				f.Columns = append(f.Columns, k)
			}
		}
		recs = append(recs, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(f.Columns) == 0 {
		return nil, core.Errorf(core.Invalid, "The data file is empty.")
	}
	for _, m := range recs {
		row := make([]any, len(f.Columns))
		for k, v := range m {
			switch x := v.(type) {
			case json.Number:
				row[col[k]] = x.String()
			case map[string]any, []any:
				b, _ := json.Marshal(x)
				row[col[k]] = string(b)
			default:
				row[col[k]] = x
			}
		}
		f.Rows = append(f.Rows, row)
	}
	return f, nil
}

func scanBounded(br *bufio.Reader, fn func([]byte) error) error {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		buf = append(buf, chunk...)
		if len(buf) > maxCSVLine {
			return core.Errorf(core.Invalid, "A line of the file is longer than %d MB.", maxCSVLine>>20)
		}
		if err == io.EOF {
			if len(buf) > 0 {
				return fn(buf)
			}
			return nil
		}
		if err != nil {
			return core.Wrap(err, core.Invalid, "The data file cannot be read.")
		}
		if !isPrefix {
			if err := fn(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
}

// ReadCSV reads comma-separated CSV with a header row. A UTF-8 byte-order
// mark is skipped.
func ReadCSV(r io.Reader) (*Frame, error) { return readCSV(r, ',') }

func readCSV(r io.Reader, delim rune) (*Frame, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(&limitedLines{r: br, max: maxCSVLine})
	cr.Comma = delim
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
