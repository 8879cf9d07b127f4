package table

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/core"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// sampleSize is how much of the file's start is read to detect the format,
// delimiter, header and types before the streaming pass.
const sampleSize = 1 << 20

// sampleRows is how many records type inference looks at.
const sampleRows = 2000

var parquetMagic = []byte("PAR1")

// detectFormat decides by content first (Parquet's magic, a JSON object),
// then by the file name.
func detectFormat(name string, head []byte, forced string) (string, error) {
	ext := strings.ToLower(filepath.Ext(name))
	switch forced {
	case "csv", "jsonl", "parquet":
		return forced, nil
	case "":
	default:
		return "", core.Errorf(core.Invalid, "Tern imports csv, jsonl and parquet files, not %q.", forced)
	}
	if len(head) == 0 {
		return "", core.Errorf(core.Invalid, "The file %s is empty: there is nothing to import.", name)
	}
	if bytes.HasPrefix(head, parquetMagic) {
		return "parquet", nil
	}
	if ext == ".parquet" || ext == ".pq" {
		return "", core.Errorf(core.Invalid, "%s is named like a Parquet file but does not start with Parquet's PAR1 marker; it may be damaged or another kind of file.", name)
	}
	for _, m := range [][]byte{{0x50, 0x4b, 0x03, 0x04}, {0x1f, 0x8b}, {0x89, 'P', 'N', 'G'}, []byte("%PDF"), {0xd0, 0xcf, 0x11, 0xe0}} {
		if bytes.HasPrefix(head, m) {
			return "", core.Errorf(core.Invalid, "%s is a binary file (a zip, gzip, image, PDF or Office document), not a table. Tern imports CSV, Parquet and JSON-lines files; unpack or export it first.", name)
		}
	}
	if ext == ".jsonl" || ext == ".ndjson" {
		return "jsonl", nil
	}
	t := bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf")
	if len(t) > 0 && t[0] == '{' {
		return "jsonl", nil
	}
	return "csv", nil
}

// detectEncoding looks at the byte-order mark and the sample's bytes.
func detectEncoding(head []byte, forced string) (enc string, bom bool, err error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xef, 0xbb, 0xbf}):
		enc, bom = "utf-8", true
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}):
		enc, bom = "utf-16le", true
	case bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		enc, bom = "utf-16be", true
	}
	if forced != "" {
		if decoderFor(forced) == nil && forced != "utf-8" {
			return "", false, core.Errorf(core.Invalid, "Tern does not know the encoding %q; use utf-8, utf-16le, utf-16be or windows-1252.", forced)
		}
		return forced, bom, nil
	}
	if enc != "" {
		return enc, bom, nil
	}
	// UTF-16 without a BOM: every other byte of ASCII text is zero.
	if len(head) >= 4 {
		evenZ, oddZ := 0, 0
		n := min(len(head), 4096) &^ 1
		for i := 0; i < n; i += 2 {
			if head[i] == 0 {
				evenZ++
			}
			if head[i+1] == 0 {
				oddZ++
			}
		}
		if oddZ > n/4 && evenZ == 0 {
			return "utf-16le", false, nil
		}
		if evenZ > n/4 && oddZ == 0 {
			return "utf-16be", false, nil
		}
	}
	h := head
	// The sample may end inside a multi-byte character.
	for i := 0; i < 3 && len(h) > 0 && !utf8.Valid(h); i++ {
		h = h[:len(h)-1]
	}
	if !utf8.Valid(h) && bytes.IndexByte(head, 0) < 0 {
		return "windows-1252", false, nil
	}
	return "utf-8", false, nil
}

func decoderFor(enc string) *encoding.Decoder {
	switch enc {
	case "utf-16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder()
	case "utf-16be":
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder()
	case "windows-1252", "latin-1", "iso-8859-1":
		return charmap.Windows1252.NewDecoder()
	}
	return nil
}

func parseDelimiter(s string) (byte, error) {
	switch s {
	case "\\t", "tab":
		return '\t', nil
	}
	if len(s) != 1 || s[0] == '"' || s[0] == '\n' || s[0] == '\r' || s[0] >= 0x80 {
		return 0, core.Errorf(core.Invalid, "The delimiter must be one plain character such as , ; | or a tab, not %q.", s)
	}
	return s[0], nil
}

// sampleRecords parses up to n records of a decoded sample with delim,
// ignoring a last record that may be cut off by the sample's end.
func sampleRecords(sample []byte, delim byte, n int, complete bool) ([][]string, error) {
	if !complete {
		b := lastBoundary(sample, delim)
		if b < 0 {
			return nil, nil // not one whole record in the sample
		}
		sample = sample[:b]
	}
	r := &csvRecords{data: sample, line: 1, delim: delim}
	var out [][]string
	for len(out) < n {
		f, _, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		rec := make([]string, len(f))
		for i, b := range f {
			rec[i] = string(b)
		}
		out = append(out, rec)
	}
	return out, nil
}

// detectDelimiter picks the candidate that splits the sample's lines into
// the same number (>1) of fields most consistently.
func detectDelimiter(sample []byte, complete bool) byte {
	best, bestScore := byte(','), 0.0
	for _, d := range []byte{',', '\t', ';', '|'} {
		recs, _ := sampleRecords(sample, d, 200, complete)
		if len(recs) == 0 {
			continue
		}
		counts := map[int]int{}
		for _, r := range recs {
			counts[len(r)]++
		}
		mode, modeN := 0, 0
		for c, k := range counts {
			if k > modeN || k == modeN && c > mode {
				mode, modeN = c, k
			}
		}
		if mode < 2 {
			continue
		}
		score := float64(modeN) / float64(len(recs))
		score += float64(min(mode, 50)) / 1000 // prefer more columns on ties
		if score > bestScore {
			best, bestScore = d, score
		}
	}
	return best
}

// nullTokens is a set of missing-value spellings with a first-byte filter,
// so the common case (a number) costs one table lookup, not a map probe.
type nullTokens struct {
	m     map[string]bool
	first [256]bool
	empty bool
	max   int
}

func isNull(b []byte, n *nullTokens) bool {
	if len(b) == 0 {
		return true
	}
	if len(b) > n.max || !n.first[b[0]] {
		return false
	}
	return n.m[str(b)]
}

// inferType picks the narrowest type that reads every sampled value, and
// for dates the layout (and a day/month column's other layout when the
// sample fits both; see dates.go).
func inferType(vals []string) (t ColumnType, layout, alt string) {
	if len(vals) == 0 {
		return Text, "", ""
	}
	isInt, isFloat, isBool := true, true, true
	for _, v := range vals {
		if isInt {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				isInt = false
			}
		}
		if isFloat && !isInt {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				isFloat = false
			}
		}
		if isBool {
			if _, ok := parseBool([]byte(v)); !ok {
				isBool = false
			}
		}
		if !isInt && !isFloat && !isBool {
			break
		}
	}
	switch {
	case isBool && !isInt:
		return Boolean, "", ""
	case isInt:
		return Integer, "", ""
	case isFloat:
		return Float, "", ""
	}
	if layout, alt, ok := inferDate(vals); ok {
		return Datetime, layout, alt
	}
	return Categorical, "", "" // settled as categorical or text after the pass
}

var idName = regexp.MustCompile(`(?i)^(id|uuid|guid|key|index|.*[_ ]id)$`)

// inferSchema reads header and types from sampled records, then applies
// a known schema and the user's types (see fixSchema).
func inferSchema(recs [][]string, header *bool, nulls *nullTokens, opts Options) (bool, []Column, error) {
	if len(recs) == 0 {
		return false, nil, core.Errorf(core.Invalid, "The file has no rows to import.")
	}
	hasHeader := true
	if header != nil {
		hasHeader = *header
	} else if len(recs) > 1 {
		// A first row with a number or a date where later rows have them
		// too is data; a first row of words over typed columns is a header.
		hasHeader = true
		for _, v := range recs[0] {
			if v == "" {
				continue
			}
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				hasHeader = false
				break
			}
			if dateLike.MatchString(v) {
				hasHeader = false
				break
			}
		}
	}
	width := len(recs[0])
	var names []string
	data := recs
	if hasHeader {
		names = recs[0]
		data = recs[1:]
		seen := map[string]int{}
		for i, n := range names {
			if strings.TrimSpace(n) == "" {
				return false, nil, core.Errorf(core.Invalid, "Column %d has an empty name in the header. Give every column a name (a file saved by pandas with its index has an unnamed first column: save it with index=False).", i+1)
			}
			if j, ok := seen[n]; ok {
				return false, nil, core.Errorf(core.Invalid, "Columns %d and %d are both named %q. Column names must be unique; rename one of them.", j+1, i+1, n)
			}
			seen[n] = i
		}
	} else {
		for i := 0; i < width; i++ {
			names = append(names, fmt.Sprintf("column_%d", i+1))
		}
	}
	cols := make([]Column, width)
	for i := range cols {
		var vals []string
		for _, r := range data {
			if i < len(r) && !isNull([]byte(r[i]), nulls) {
				vals = append(vals, r[i])
			}
		}
		t, layout, alt := inferType(vals)
		cols[i] = Column{Name: names[i], Type: t, DateLayout: layout, DateAlt: alt, Role: Feature}
		if t == Integer || t == Float {
			if l, ok := inferEpoch(names[i], vals); ok {
				cols[i].Type, cols[i].DateLayout = Datetime, l
				cols[i].DateNote = fmt.Sprintf("Read as %s: the column is named like a time and every value is in that range.", DateFormatName(l))
			}
		}
		if idName.MatchString(names[i]) && (t == Integer || t == Categorical) {
			cols[i].Role = IDRole
		}
	}
	cols, err := fixSchema(cols, opts)
	if err != nil {
		return false, nil, err
	}
	return hasHeader, cols, nil
}

// fixSchema puts a known schema (opts.Columns: a dataset version read
// again) in place of the detected one, then applies the user's types.
func fixSchema(cols []Column, opts Options) ([]Column, error) {
	if opts.Columns != nil {
		if len(opts.Columns) != len(cols) {
			return nil, core.Errorf(core.Invalid, "The file has %d columns but its schema lists %d; it is not the file the schema was made for.", len(cols), len(opts.Columns))
		}
		for i, c := range opts.Columns {
			if c.Name != cols[i].Name {
				return nil, core.Errorf(core.Invalid, "Column %d of the file is %q but its schema names it %q; it is not the file the schema was made for.", i+1, cols[i].Name, c.Name)
			}
		}
		cols = append([]Column(nil), opts.Columns...)
	}
	if err := applyTypes(cols, opts.Types); err != nil {
		return nil, err
	}
	if err := applyDateOrder(cols, opts.DateOrder); err != nil {
		return nil, err
	}
	return cols, nil
}

// applyDateOrder settles day/month columns as the person said.
func applyDateOrder(cols []Column, order map[string]string) error {
	for name, o := range order {
		if o != "day-first" && o != "month-first" {
			return core.Errorf(core.Invalid, "The date order of %q is %q; use day-first or month-first.", name, o)
		}
		found := false
		for i := range cols {
			c := &cols[i]
			if c.Name != name {
				continue
			}
			found = true
			layout, ok := orderedLayout(c.DateLayout, o)
			if c.Type != Datetime || !ok {
				return core.Errorf(core.Invalid, "Column %q does not hold day/month dates, so it has no day-first or month-first order.", name)
			}
			c.DateLayout, c.DateAlt = layout, ""
			c.DateNote = fmt.Sprintf("Read as %s, as you chose.", DateFormatName(layout))
		}
		if !found {
			return core.Errorf(core.Invalid, "There is no column named %q to set the date order of.", name)
		}
	}
	return nil
}

// orderedLayout is the day-first or month-first form of a day/month layout.
func orderedLayout(layout, order string) (string, bool) {
	for _, p := range dayMonthPairs {
		if layout == p.monthFirst || layout == p.dayFirst {
			if order == "day-first" {
				return p.dayFirst, true
			}
			return p.monthFirst, true
		}
	}
	return "", false
}

// applyTypes applies the user's type corrections.
func applyTypes(cols []Column, types map[string]ColumnType) error {
	for name, t := range types {
		if !ValidType(t) {
			return core.Errorf(core.Invalid, "%q is not a column type; use integer, float, boolean, categorical, datetime or text.", t)
		}
		found := false
		for i := range cols {
			if cols[i].Name == name {
				found = true
				cols[i].Type = t
				if t == Datetime && cols[i].DateLayout == "" {
					cols[i].DateLayout = time.RFC3339Nano
				}
			}
		}
		if !found {
			return core.Errorf(core.Invalid, "There is no column named %q to set the type of.", name)
		}
	}
	return nil
}

func nullSet(tokens []string) *nullTokens {
	if tokens == nil {
		tokens = DefaultNullTokens
	}
	n := &nullTokens{m: make(map[string]bool, len(tokens))}
	for _, t := range tokens {
		n.m[t] = true
		if t != "" {
			n.first[t[0]] = true
			n.max = max(n.max, len(t))
		}
	}
	return n
}

// lineOf counts the line of offset off in data that starts at line first.
func lineOf(data []byte, off int, first int64) int64 {
	return first + int64(bytes.Count(data[:off], []byte{'\n'}))
}

func isCoreErr(err error) bool {
	var ce *core.Error
	return errors.As(err, &ce)
}
