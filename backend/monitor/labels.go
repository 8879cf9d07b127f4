package monitor

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// Label is the true outcome of one logged prediction, keyed by the
// request ID the router returned in X-Request-Id.
type Label struct {
	RequestID string `json:"requestId"`
	// Row is the prediction within the request (0-based) when one request
	// scored several rows; 0 for the usual one-row request.
	Row int `json:"row,omitempty"`
	// Value is canonical: numbers in shortest form ("1.0" and 1 both
	// read "1"), booleans "true"/"false", text trimmed.
	Value string `json:"value"`
}

// Limits of one label file: a day of traffic on a laptop fits easily, a
// runaway upload does not.
const (
	maxLabelRows = 2_000_000
	// MaxLabelBytes caps a label file, read from disk or uploaded.
	MaxLabelBytes = 256 << 20
	maxRowIndex   = 1 << 24
)

// ParseLabels reads a label file: CSV with a header naming request_id and
// label (other columns ignored), or JSON lines of objects with those keys.
// Every problem names its row (the CSV header is row 1; JSON lines count
// from 1): a missing or malformed request ID, a missing or non-finite
// label, an ID given twice. An optional row column (0-based) labels one
// row of a request that scored several.
func ParseLabels(data []byte) ([]Label, error) {
	if len(data) > MaxLabelBytes {
		return nil, core.Errorf(core.Invalid, "The label file is %d MB; the limit is %d MB.", len(data)>>20, MaxLabelBytes>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // BOM from spreadsheet exports
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, core.Errorf(core.Invalid, "The label file is empty.")
	}
	var out []Label
	type idRow struct {
		id  string
		row int
	}
	seen := map[idRow]int{}
	add := func(row int, id string, val any, pos int) error {
		id = strings.TrimSpace(id)
		if id == "" {
			return core.Errorf(core.Invalid, "Row %d: request_id is empty.", row)
		}
		if !core.ValidRequestID(id) {
			return core.Errorf(core.Invalid, "Row %d: request_id %q is not a request ID (1 to 128 printable ASCII characters).", row, clip(id, 40))
		}
		v, err := canonicalLabel(val)
		if err != nil {
			return core.Errorf(core.Invalid, "Row %d: the label of %q %s.", row, id, err.Error())
		}
		if first, dup := seen[idRow{id, pos}]; dup {
			if pos > 0 {
				return core.Errorf(core.Invalid, "Row %d: request ID %q row %d was already labelled on row %d.", row, id, pos, first)
			}
			return core.Errorf(core.Invalid, "Row %d: request ID %q was already labelled on row %d.", row, id, first)
		}
		if len(out) >= maxLabelRows {
			return core.Errorf(core.Invalid, "Row %d: the label file has more than %d rows; split it.", row, maxLabelRows)
		}
		seen[idRow{id, pos}] = row
		out = append(out, Label{RequestID: id, Row: pos, Value: v})
		return nil
	}
	if trimmed[0] == '{' {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		row := 0
		for sc.Scan() {
			row++
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal(line, &obj); err != nil {
				return nil, core.Errorf(core.Invalid, "Row %d is not a JSON object.", row)
			}
			id, ok := obj["request_id"].(string)
			if !ok {
				if _, present := obj["request_id"]; present {
					return nil, core.Errorf(core.Invalid, "Row %d: request_id must be a string.", row)
				}
				return nil, core.Errorf(core.Invalid, "Row %d has no request_id.", row)
			}
			val, present := obj["label"]
			if !present {
				return nil, core.Errorf(core.Invalid, "Row %d has no label.", row)
			}
			pos := 0
			if rv, present := obj["row"]; present {
				f, ok := rv.(float64)
				if !ok || f < 0 || f != math.Trunc(f) || f > maxRowIndex {
					return nil, core.Errorf(core.Invalid, "Row %d: row must be a whole number from 0 (the first row of the request).", row)
				}
				pos = int(f)
			}
			if err := add(row, id, val, pos); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, core.Errorf(core.Invalid, "Row %d is longer than 1 MB; a label line is a request ID and a label.", row+1)
		}
	} else {
		cr := csv.NewReader(bytes.NewReader(data))
		cr.FieldsPerRecord = -1
		cr.ReuseRecord = true
		head, err := cr.Read()
		if err != nil {
			return nil, core.Errorf(core.Invalid, "Row 1 (the header) cannot be read as CSV.")
		}
		idCol, labelCol, rowCol := -1, -1, -1
		for i, h := range head {
			switch strings.ToLower(strings.TrimSpace(h)) {
			case "request_id":
				idCol = i
			case "label":
				labelCol = i
			case "row":
				rowCol = i
			}
		}
		if idCol < 0 || labelCol < 0 {
			return nil, core.Errorf(core.Invalid, "Row 1 (the header) must name the columns request_id and label; it has %s.", clip(strings.Join(head, ", "), 80))
		}
		for row := 2; ; row++ {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					return nil, core.Errorf(core.Invalid, "Row %d cannot be read as CSV (%s).", pe.StartLine, pe.Err)
				}
				return nil, core.Errorf(core.Invalid, "Row %d cannot be read as CSV.", row)
			}
			if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
				continue // blank line
			}
			if line, _ := cr.FieldPos(0); line > 0 {
				row = line
			}
			id, val := "", ""
			if idCol < len(rec) {
				id = rec[idCol]
			}
			if labelCol < len(rec) {
				val = rec[labelCol]
			}
			pos := 0
			if rowCol >= 0 && rowCol < len(rec) && strings.TrimSpace(rec[rowCol]) != "" {
				n, err := strconv.Atoi(strings.TrimSpace(rec[rowCol]))
				if err != nil || n < 0 || n > maxRowIndex {
					return nil, core.Errorf(core.Invalid, "Row %d: row %q must be a whole number from 0 (the first row of the request).", row, clip(rec[rowCol], 20))
				}
				pos = n
			}
			if err := add(row, id, val, pos); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, core.Errorf(core.Invalid, "The label file holds a header but no labels.")
	}
	return out, nil
}

type labelError string

func (e labelError) Error() string { return string(e) }

// canonicalLabel turns a label cell into the form predictions are compared
// in, so "1", "1.0" and 1 are the same class.
func canonicalLabel(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", labelError("is missing")
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return canonicalNumber(x)
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return "", labelError("is empty")
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return canonicalNumber(f)
		} else if ne, ok := err.(*strconv.NumError); ok && errors.Is(ne.Err, strconv.ErrRange) {
			return "", labelError("is out of range")
		}
		switch strings.ToLower(s) {
		case "true", "false":
			return strings.ToLower(s), nil
		}
		if len(s) > 256 {
			return "", labelError("is longer than 256 characters")
		}
		return s, nil
	}
	return "", labelError("must be a number, a boolean or text")
}

func canonicalNumber(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", labelError("is not a finite number")
	}
	if f == 0 {
		f = 0 // -0 reads as 0
	}
	return strconv.FormatFloat(f, 'g', -1, 64), nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
