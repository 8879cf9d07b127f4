package table

import (
	"bytes"
	"io"
)

// csvRecords walks the records of one chunk. A chunk always starts at a
// record start; fields are slices into the chunk when unquoted (no copy)
// and into a scratch buffer when quotes had to be undone.
type csvRecords struct {
	data    []byte
	pos     int
	line    int64 // line number of data[pos]
	delim   byte
	fields  [][]byte
	scratch []byte
	ends    []int
}

// errOpenQuote is returned when a quoted field runs to the end of the file.
type errOpenQuote struct{ line int64 }

func (e errOpenQuote) Error() string { return "open quote" }

// next returns the next record and the line it starts on; io.EOF at the end.
// Blank lines are skipped, as spreadsheet tools and pandas do.
func (r *csvRecords) next() ([][]byte, int64, error) {
	for {
		if r.pos >= len(r.data) {
			return nil, 0, io.EOF
		}
		rest := r.data[r.pos:]
		nl := bytes.IndexByte(rest, '\n')
		line := rest
		if nl >= 0 {
			line = rest[:nl]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		// Split on the delimiter in one plain loop: fields are short, so
		// this beats an IndexByte call per field; a quote sends the record
		// to the careful parser.
		f := r.fields[:0]
		from := 0
		d := r.delim
		quoted := false
		for i, c := range line {
			if c == d {
				f = append(f, line[from:i])
				from = i + 1
			} else if c == '"' {
				quoted = true
				break
			}
		}
		if quoted {
			return r.quoted(rest)
		}
		start := r.line
		if len(line) > MaxRecordBytes {
			// The pass cuts chunks near the bound; this holds it exactly.
			return nil, start, tooLong(line, start, "csv")
		}
		r.line++
		if nl >= 0 {
			r.pos += nl + 1
		} else {
			r.pos = len(r.data)
		}
		if len(line) == 0 {
			continue
		}
		f = append(f, line[from:])
		r.fields = f
		return f, start, nil
	}
}

// quoted parses one record that contains a quote, RFC 4180 style: a quote
// at the start of a field opens it, "" inside is a quote, newlines inside
// belong to the field. A quote elsewhere is kept as a literal character,
// as pandas does, which matches how lastBoundary splits chunks.
func (r *csvRecords) quoted(rest []byte) ([][]byte, int64, error) {
	start := r.line
	sc := r.scratch[:0]
	ends := r.ends[:0]
	fieldStart := 0
	i := 0
	for {
		if i >= len(rest) {
			// The file ends without a newline: drop a CR ending the last
			// field (only that field's: an empty last field after a
			// literal CR keeps it, found by FuzzReadCSV).
			if n := len(sc); n > fieldStart && sc[n-1] == '\r' {
				sc = sc[:n-1]
			}
			ends = append(ends, len(sc))
			r.pos += i
			break
		}
		c := rest[i]
		switch {
		case c == '"' && len(sc) == fieldStart:
			// opening quote: copy until the closing one
			i++
			for {
				j := bytes.IndexByte(rest[i:], '"')
				if j < 0 {
					return nil, 0, errOpenQuote{start}
				}
				seg := rest[i : i+j]
				r.line += int64(bytes.Count(seg, []byte{'\n'}))
				sc = append(sc, seg...)
				i += j + 1
				if i < len(rest) && rest[i] == '"' {
					sc = append(sc, '"')
					i++
					continue
				}
				break
			}
			if len(sc) == fieldStart {
				// an empty quoted field: remember it is not "unquoted empty"
				// by nothing; both are empty values.
			}
			continue
		case c == r.delim:
			ends = append(ends, len(sc))
			fieldStart = len(sc)
			i++
			continue
		case c == '\n':
			if n := len(sc); n > fieldStart && sc[n-1] == '\r' {
				sc = sc[:n-1]
			}
			ends = append(ends, len(sc))
			r.line++
			r.pos += i + 1
			goto done
		default:
			sc = append(sc, c)
			i++
		}
	}
	r.line++
done:
	if len(sc) > MaxRecordBytes {
		return nil, start, tooLong(sc, start, "csv")
	}
	r.scratch = sc
	r.ends = ends
	f := splitFields(r.fields[:0], sc, ends)
	r.fields = f
	return f, start, nil
}

// lastBoundary returns the offset just past the last record-ending newline
// in b that is outside quotes, or -1 if there is none yet. b starts at a
// record start. Quotes are found with IndexByte, so quote-free numeric data
// is scanned at memory speed.
func lastBoundary(b []byte, delim byte) int {
	last := -1
	pos := 0
	for {
		q := bytes.IndexByte(b[pos:], '"')
		if q < 0 {
			if i := bytes.LastIndexByte(b[pos:], '\n'); i >= 0 {
				last = pos + i + 1
			}
			return last
		}
		q += pos
		if i := bytes.LastIndexByte(b[pos:q], '\n'); i >= 0 {
			last = pos + i + 1
		}
		if q > 0 && b[q-1] != delim && b[q-1] != '\n' {
			pos = q + 1 // a literal quote inside an unquoted field
			continue
		}
		p := q + 1
		for {
			c := bytes.IndexByte(b[p:], '"')
			if c < 0 {
				return last
			}
			c += p
			if c+1 >= len(b) {
				return last // cannot tell "" from a close yet: wait for more
			}
			if b[c+1] == '"' {
				p = c + 2
				continue
			}
			pos = c + 1
			break
		}
	}
}

// splitFields cuts the scratch buffer sc at ends into fields, appended to
// f: the record sources build a record's fields this way when they had to
// rewrite its text (quotes undone, JSON or Parquet values formatted).
func splitFields(f [][]byte, sc []byte, ends []int) [][]byte {
	prev := 0
	for _, e := range ends {
		f = append(f, sc[prev:e])
		prev = e
	}
	return f
}
