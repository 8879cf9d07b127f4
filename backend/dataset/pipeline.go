package dataset

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/core"
	"golang.org/x/text/transform"
)

const (
	// blockSize is how much is read at a time and handed to a parse worker.
	blockSize = 4 << 20
	// MaxRecordBytes bounds one record (line), and so the memory an import
	// can take whatever the file: a 2 GB single line is refused, not loaded.
	MaxRecordBytes = 8 << 20
	previewRows    = 20
	maxPreviewCell = 200
)

// ErrCancelled is returned by an import stopped with Cancel or a closed
// request; like every failed import it leaves nothing behind.
var ErrCancelled = core.Errorf(core.Invalid, "The import was cancelled; nothing was stored.")

// parsed is what one pass over a file produced.
type parsed struct {
	det     Detected
	profile Profile
}

// progressFunc reports bytes of the original file read and records parsed
// so far (approximate while running).
type progressFunc func(bytes, rows int64)

// countingReader counts bytes and copies them into the blob being written.
type countingReader struct {
	r   io.Reader
	w   io.Writer
	n   atomic.Int64
	err error // a write error (disk full) takes precedence over parse errors
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if _, werr := c.w.Write(p[:n]); werr != nil {
			c.err = werr
			return 0, werr
		}
		c.n.Add(int64(n))
	}
	return n, err
}

// readErr words an error from reading the source.
func readErr(err error, name string) error {
	if isCoreErr(err) {
		return err
	}
	var mbe interface{ Error() string }
	if errors.As(err, &mbe) && mbe.Error() == "http: request body too large" {
		return core.Wrap(err, core.Invalid, "%s is larger than this server accepts for uploads.", name)
	}
	return core.Wrap(err, core.Unavailable, "Tern could not read %s: %v", name, err)
}

// parseStream reads the whole of src, copying every byte to sink, detects
// the format and parses and profiles it. sinkFile is consulted for Parquet,
// whose footer must be read after all bytes are in.
// onDetect, if given, hears what detection found before the long pass
// starts, so the UI can show it while the file is still being read.
func parseStream(ctx context.Context, src io.Reader, sink io.Writer, readAt func() (io.ReaderAt, int64, error), name string, opts Options, progress progressFunc, onDetect ...func(Detected)) (*parsed, error) {
	cr := &countingReader{r: src, w: sink}
	br := bufio.NewReaderSize(cr, sampleSize)
	head, err := br.Peek(sampleSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		if cr.err != nil {
			return nil, cr.err
		}
		return nil, readErr(err, name)
	}
	format, err := detectFormat(name, head, opts.Format)
	if err != nil {
		return nil, err
	}
	if format == "parquet" {
		if _, err := io.Copy(io.Discard, br); err != nil {
			if cr.err != nil {
				return nil, cr.err
			}
			return nil, readErr(err, name)
		}
		if ctx.Err() != nil {
			return nil, ErrCancelled
		}
		ra, size, err := readAt()
		if err != nil {
			return nil, err
		}
		return parseParquet(ctx, ra, size, name, opts, progress)
	}
	enc, bom, err := detectEncoding(head, opts.Encoding)
	if err != nil {
		return nil, err
	}
	var decoded io.Reader = br
	if d := decoderFor(enc); d != nil {
		decoded = transform.NewReader(br, d)
	} else if bom {
		br.Discard(3)
	}
	dr := bufio.NewReaderSize(decoded, sampleSize)
	sample, serr := dr.Peek(sampleSize)
	complete := serr != nil
	if serr != nil && serr != io.EOF && serr != bufio.ErrBufferFull {
		if cr.err != nil {
			return nil, cr.err
		}
		return nil, core.Wrap(serr, core.Invalid, "%s could not be decoded as %s text. Choose another encoding in the import options.", name, enc)
	}
	if len(bytes.TrimSpace(sample)) == 0 {
		return nil, core.Errorf(core.Invalid, "The file %s is empty: there is nothing to import.", name)
	}
	det := Detected{Format: format, Encoding: enc, BOM: bom}
	nulls := nullSet(opts.NullTokens)
	det.NullTokens = opts.NullTokens
	if det.NullTokens == nil {
		det.NullTokens = DefaultNullTokens
	}
	var src2 recordSourceFactory
	var delim byte
	if format == "jsonl" {
		recs, keys, err := sampleJSON(sample, complete)
		if err != nil {
			return nil, err
		}
		t := true
		_, cols, err := inferSchema(append([][]string{keys}, recs...), &t, nulls, opts.Types)
		if err != nil {
			return nil, err
		}
		det.Header, det.Columns = true, cols
		det.Rows = recs[:min(len(recs), previewRows)]
		src2 = jsonSourceFactory(keys)
	} else {
		if opts.Delimiter != "" {
			if delim, err = parseDelimiter(opts.Delimiter); err != nil {
				return nil, err
			}
		} else {
			delim = detectDelimiter(sample, complete)
		}
		recs, _ := sampleRecords(sample, delim, sampleRows+1, complete)
		if len(recs) == 0 {
			// The first record does not fit in the sample: the pass below
			// reports the over-long line or open quote with its number.
			recs = [][]string{{"column_1"}}
		}
		hdr, cols, err := inferSchema(recs, opts.Header, nulls, opts.Types)
		if err != nil {
			return nil, err
		}
		det.Delimiter, det.Header, det.Columns = string(delim), hdr, cols
		start := 0
		if hdr {
			start = 1
		}
		det.Rows = recs[start:min(len(recs), start+previewRows)]
		src2 = csvSourceFactory(delim)
	}
	for _, f := range onDetect {
		f(det)
	}
	prof, err := parallelPass(ctx, dr, cr, src2, delim, det, nulls, opts, name, progress)
	if err != nil {
		if cr.err != nil {
			return nil, cr.err
		}
		return nil, err
	}
	return &parsed{det: det, profile: *prof}, nil
}

// recordSource yields the records of one chunk.
type recordSource interface {
	next() ([][]byte, int64, error)
}

type recordSourceFactory func(data []byte, line int64, final bool) recordSource

func csvSourceFactory(delim byte) recordSourceFactory {
	return func(data []byte, line int64, final bool) recordSource {
		return &csvRecords{data: data, line: line, delim: delim, final: final}
	}
}

type chunk struct {
	seq   int
	buf   *[]byte
	data  []byte
	line  int64
	final bool
}

type chunkResult struct {
	seq     int
	rows    int64
	err     *lineError
	preview [][]string
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, blockSize+blockSize/4); return &b }}

// worker holds one goroutine's accumulators.
type worker struct {
	cols    []Column
	accs    []*colAcc
	corr    *corrAcc
	vals    []float64
	present []bool
	nulls   *nullTokens
	header  bool // the file has a header row (words the ragged-row message)
	skip    bool // the first record of the file is that header: skip it
	factory recordSourceFactory
	reused  recordSource
	numeric []bool
}

func newWorker(cols []Column, nulls *nullTokens, header bool, f recordSourceFactory) *worker {
	w := &worker{cols: cols, nulls: nulls, header: header, factory: f,
		vals: make([]float64, len(cols)), present: make([]bool, len(cols)), numeric: make([]bool, len(cols))}
	var numCols []int
	for i, c := range cols {
		w.accs = append(w.accs, newColAcc(c))
		if k := kindOf(c.Type); k == kNumber || k == kBool {
			numCols = append(numCols, i)
			w.numeric[i] = true
		}
	}
	w.corr = newCorrAcc(numCols)
	return w
}

func (w *worker) parse(ch chunk) chunkResult {
	res := chunkResult{seq: ch.seq}
	data := ch.data
	// Byte-level checks over the whole chunk first; they are fast and tell
	// the earliest line a record may not reach.
	stopLine := int64(-1)
	var stopMsg string
	if i := bytes.IndexByte(data, 0); i >= 0 {
		stopLine = lineOf(data, i, ch.line)
		stopMsg = fmt.Sprintf("Line %d contains a NUL byte (0x00), which text never has. Is this a binary file, or a UTF-16 file saved without a byte-order mark?", stopLine)
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		if l := lineOf(data, off, ch.line); stopLine < 0 || l < stopLine {
			stopLine = l
			stopMsg = fmt.Sprintf("Line %d is not valid UTF-8 text (byte 0x%02x). If the file was saved as Latin-1 or Windows-1252, import it again with that encoding.", l, data[off])
		}
	}
	w.records(w.factory(data, ch.line, ch.final), &res, stopLine, stopMsg, "Line")
	return res
}

// records feeds one chunk's records into the accumulators; unit names what
// the error messages count ("Line" for text, "Row" for Parquet).
func (w *worker) records(src recordSource, res *chunkResult, stopLine int64, stopMsg, unit string) {
	width := len(w.cols)
	first := res.seq == 0
	for {
		fields, line, err := src.next()
		if err == io.EOF {
			break
		}
		if stopLine >= 0 && line >= stopLine {
			res.err = &lineError{stopLine, stopMsg}
			return
		}
		if err != nil {
			var oq errOpenQuote
			var le *lineError
			switch {
			case errors.As(err, &oq):
				res.err = &lineError{oq.line, fmt.Sprintf("Line %d opens a quoted field that is never closed before the end of the file. Look for a stray double quote (\") on line %d.", oq.line, oq.line)}
			case errors.As(err, &le):
				res.err = le
			default:
				res.err = &lineError{line, fmt.Sprintf("%s %d could not be read: %v", unit, line, err)}
			}
			return
		}
		if first && w.skip {
			first = false
			continue
		}
		first = false
		if len(fields) != width {
			what := "the header has"
			if !w.header {
				what = "the first line has"
			}
			hint := ""
			if len(fields) > width {
				hint = " A value containing the delimiter must be wrapped in double quotes."
			}
			res.err = &lineError{line, fmt.Sprintf("%s %d has %d fields but %s %d columns.%s", unit, line, len(fields), what, width, hint)}
			return
		}
		for i, f := range fields {
			a := w.accs[i]
			if isNull(f, w.nulls) {
				a.missing++
				w.present[i] = false
				continue
			}
			v, ok, why := a.add(f)
			if !ok {
				res.err = &lineError{line, fmt.Sprintf("%s %d, column %q: %s, but the first rows made this a %s column. Set the column's type to text (or add the value to the missing-value tokens) and import again.", unit, line, w.cols[i].Name, why, w.cols[i].Type)}
				return
			}
			w.present[i] = w.numeric[i] && !(v != v)
			w.vals[i] = v
		}
		w.corr.addRow(w.vals, w.present)
		res.rows++
		if res.seq == 0 && len(res.preview) < previewRows {
			rec := make([]string, len(fields))
			for i, f := range fields {
				if len(f) > maxPreviewCell {
					f = f[:maxPreviewCell]
				}
				rec[i] = string(f)
			}
			res.preview = append(res.preview, rec)
		}
	}
	if stopLine >= 0 {
		res.err = &lineError{stopLine, stopMsg}
	}
}

// parallelPass splits the decoded stream into chunks of whole records and
// parses them on all cores, with memory bounded by a few blocks in flight.
func parallelPass(ctx context.Context, r io.Reader, cr *countingReader, f recordSourceFactory, delim byte, det Detected, nulls *nullTokens, opts Options, name string, progress progressFunc) (*Profile, error) {
	nw := min(runtime.GOMAXPROCS(0), 4)
	chunks := make(chan chunk, nw)
	results := make(chan chunkResult, nw*2)
	var failed atomic.Bool
	var rowsSoFar atomic.Int64
	workers := make([]*worker, nw)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(det.Columns, nulls, det.Header, f)
		workers[i].skip = det.Header && det.Format == "csv"
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			for ch := range chunks {
				if failed.Load() {
					bufPool.Put(ch.buf)
					continue
				}
				res := w.parse(ch)
				bufPool.Put(ch.buf)
				if res.err != nil {
					failed.Store(true)
				}
				rowsSoFar.Add(res.rows)
				results <- res
			}
		}(workers[i])
	}
	var all []chunkResult
	collected := make(chan struct{})
	go func() {
		for r := range results {
			all = append(all, r)
		}
		close(collected)
	}()

	readErrOut := func() error {
		seq := 0
		line := int64(1)
		var carry []byte
		last := time.Now()
		for {
			if ctx.Err() != nil {
				return ErrCancelled
			}
			if failed.Load() {
				return nil
			}
			bp := bufPool.Get().(*[]byte)
			need := len(carry) + blockSize
			if cap(*bp) < need {
				nb := make([]byte, 0, need)
				bp = &nb
			}
			data := append((*bp)[:0], carry...)
			n, err := io.ReadFull(r, data[len(carry):need])
			data = data[:len(carry)+n]
			eof := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !eof {
				bufPool.Put(bp)
				if cr.err != nil {
					return cr.err
				}
				return readErr(err, name)
			}
			if eof {
				tail := 0
				if f != nil && det.Format != "jsonl" {
					tail = max(lastBoundary(data, delim), 0)
				} else {
					tail = bytes.LastIndexByte(data, '\n') + 1
				}
				if len(data)-tail > MaxRecordBytes {
					bufPool.Put(bp)
					l := line + int64(bytes.Count(data[:tail], []byte{'\n'}))
					return tooLong(data[tail:], l, det.Format)
				}
				if len(data) > 0 {
					chunks <- chunk{seq: seq, buf: bp, data: data, line: line, final: true}
				} else {
					bufPool.Put(bp)
				}
				return nil
			}
			var b int
			if f == nil || det.Format == "jsonl" {
				b = bytes.LastIndexByte(data, '\n') + 1
				if b == 0 {
					b = -1
				}
			} else {
				b = lastBoundary(data, delim)
			}
			if b < 0 {
				if len(data) >= MaxRecordBytes {
					bufPool.Put(bp)
					return tooLong(data, line, det.Format)
				}
				carry = append(carry[:0], data...)
				bufPool.Put(bp)
				continue
			}
			carry = append(carry[:0], data[b:]...)
			chunks <- chunk{seq: seq, buf: bp, data: data[:b], line: line}
			seq++
			line += int64(bytes.Count(data[:b], []byte{'\n'}))
			if progress != nil && time.Since(last) >= 100*time.Millisecond {
				last = time.Now()
				// Lines handed to the workers are the rows read so far
				// (give or take quoted newlines); parsed rows lag behind.
				progress(cr.n.Load(), max(rowsSoFar.Load(), line-2))
			}
		}
	}()
	close(chunks)
	wg.Wait()
	close(results)
	<-collected

	if readErrOut == ErrCancelled {
		return nil, ErrCancelled
	}
	var firstErr *lineError
	for _, r := range all {
		if r.err != nil && (firstErr == nil || r.err.line < firstErr.line) {
			firstErr = r.err
		}
	}
	var le *lineError
	if errors.As(readErrOut, &le) && (firstErr == nil || le.line < firstErr.line) {
		firstErr = le
	} else if readErrOut != nil && le == nil {
		return nil, readErrOut
	}
	if firstErr != nil {
		return nil, core.Errorf(core.Invalid, "%s", firstErr.msg)
	}
	if ctx.Err() != nil {
		return nil, ErrCancelled
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	var rows int64
	var preview [][]string
	for _, r := range all {
		rows += r.rows
		if r.seq == 0 {
			preview = r.preview
		}
	}
	if rows == 0 {
		if det.Header {
			return nil, core.Errorf(core.Invalid, "%s has a header (%s) but no data rows.", name, headerList(det.Columns))
		}
		return nil, core.Errorf(core.Invalid, "%s has no data rows.", name)
	}
	if progress != nil {
		progress(cr.n.Load(), rows)
	}
	return buildProfile(workers, det.Columns, opts.Types, rows, preview), nil
}

func (e *lineError) Error() string { return e.msg }

// tooLong words a record that passed MaxRecordBytes: an open quote if it
// spans lines, an over-long line otherwise.
func tooLong(rec []byte, line int64, format string) *lineError {
	if bytes.IndexByte(rec, '\n') >= 0 {
		return &lineError{line, fmt.Sprintf("Line %d opens a quoted field that is still open %d MB later. Look for a stray double quote (\") on line %d.", line, MaxRecordBytes>>20, line)}
	}
	return &lineError{line, fmt.Sprintf("Line %d is longer than %d MB, the most Tern reads as one row. Is this really a %s file with one record per line?", line, MaxRecordBytes>>20, format)}
}

func headerList(cols []Column) string {
	s := ""
	for i, c := range cols {
		if i == 4 {
			return s + ", …"
		}
		if i > 0 {
			s += ", "
		}
		s += c.Name
	}
	return s
}

// buildProfile merges the workers' accumulators in a fixed order.
func buildProfile(workers []*worker, cols []Column, userTypes map[string]ColumnType, rows int64, preview [][]string) *Profile {
	p := &Profile{Rows: rows, Preview: preview}
	for i, c := range cols {
		acc := workers[0].accs[i]
		for _, w := range workers[1:] {
			acc.merge(w.accs[i])
		}
		_, userTyped := userTypes[c.Name]
		p.Columns = append(p.Columns, acc.finish(rows, userTyped))
	}
	var parts []*corrAcc
	for _, w := range workers {
		parts = append(parts, w.corr)
	}
	var names []string
	for _, i := range workers[0].corr.cols {
		names = append(names, cols[i].Name)
	}
	p.Correlations = mergeCorr(parts, names)
	return p
}
