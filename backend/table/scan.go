package table

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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
	// MaxRecordBytes bounds one record (line), and so the memory a read
	// can take whatever the file: a 2 GB single line is refused, not loaded.
	MaxRecordBytes = 8 << 20
	// PreviewRows is how many first rows Read keeps as text.
	PreviewRows    = 20
	maxPreviewCell = 200
)

// ErrCancelled is returned by a read whose context ended.
var ErrCancelled = core.Errorf(core.Invalid, "Reading was cancelled.")

// Source is a file to read once, from the start.
type Source struct {
	// Name is the file's name: detection looks at its extension and
	// messages name it.
	Name string
	R    io.Reader
	// ReaderAt reaches the whole file once R is consumed (Parquet keeps its
	// schema in a footer); nil refuses Parquet.
	ReaderAt func() (io.ReaderAt, int64, error)
}

// Row is one record as the reader read it. Its slices are reused for the
// next row: a sink copies what it keeps.
type Row struct {
	// Chunk orders the blocks of the file (0 first); rows of one chunk
	// arrive in file order, chunks on any worker.
	Chunk int
	// Line is the line (Parquet: the row) the record starts on.
	Line int64
	// Fields is each field's decoded, unquoted text.
	Fields [][]byte
	// Null marks a missing-value token (or an empty field).
	Null []bool
	// Num is a present field's number, a boolean as 1/0 and a datetime as
	// Unix seconds; NaN for categorical and text columns. Numbers too big
	// for a float64 are ±Inf: each sink decides what they mean.
	Num []float64
	// Whole says a number was written as a whole number.
	Whole []bool
	// Alt is a day/month column's date read with its other layout
	// (Column.DateAlt; NaN when it does not fit), for sinks that keep both
	// readings until the pass decides (Result.UseAlt). Unused elsewhere.
	Alt []float64
}

// Sink receives rows. Read makes one per parse worker, so a sink needs no
// locks. A non-nil error stops the read; its message is kept.
type Sink interface {
	Row(r *Row) error
}

// Hooks let the caller follow and consume a read.
type Hooks struct {
	// NewSink makes one worker's sink once the columns are known.
	NewSink func(cols []Column) Sink
	// Detected hears what detection found before the long pass starts.
	Detected func(Detected)
	// Progress hears how many rows were read so far, about every 100 ms.
	Progress func(rows int64)
}

// Result is what a read found.
type Result struct {
	Detected Detected
	Rows     int64
	// Preview is the first PreviewRows rows as text (cells cut at 200 bytes).
	Preview [][]string
	// Sinks are the workers' sinks in a fixed order, for merging.
	Sinks []Sink
	// UseAlt lists the day/month columns whose Row.Alt reading the whole
	// column decided for (Detected holds the decided layouts and notes).
	UseAlt []int
}

type discard struct{}

func (discard) Row(*Row) error { return nil }

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

// Read reads the whole of src once: it detects the format, encoding,
// delimiter, header and column types (those opts leaves empty), then
// checks and parses every record on all cores, handing the rows to the
// hooks' sinks. Errors are worded and name the line at fault.
func Read(ctx context.Context, src Source, opts Options, h Hooks) (*Result, error) {
	if h.NewSink == nil {
		h.NewSink = func([]Column) Sink { return discard{} }
	}
	name := src.Name
	br := bufio.NewReaderSize(src.R, sampleSize)
	head, err := br.Peek(sampleSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, readErr(err, name)
	}
	format, err := detectFormat(name, head, opts.Format)
	if err != nil {
		return nil, err
	}
	if format == "parquet" {
		if src.ReaderAt == nil {
			return nil, core.Errorf(core.Invalid, "%s is a Parquet file; Tern reads Parquet from a file on disk, not from a stream.", name)
		}
		if _, err := io.Copy(io.Discard, br); err != nil {
			return nil, readErr(err, name)
		}
		if ctx.Err() != nil {
			return nil, ErrCancelled
		}
		ra, size, err := src.ReaderAt()
		if err != nil {
			return nil, err
		}
		return readParquet(ctx, ra, size, name, opts, h)
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
		return nil, core.Wrap(serr, core.Invalid, "%s could not be decoded as %s text. Choose another encoding in the import options.", name, enc)
	}
	det, delim, err := detectText(sample, complete, Detected{Format: format, Encoding: enc, BOM: bom}, name, opts, true)
	if err != nil {
		return nil, err
	}
	var f recordSourceFactory
	if format == "jsonl" {
		keys := make([]string, len(det.Columns))
		for i, c := range det.Columns {
			keys[i] = c.Name
		}
		f = jsonSourceFactory(keys)
	} else {
		f = csvSourceFactory(delim)
	}
	if h.Detected != nil {
		h.Detected(det)
	}
	return parallelPass(ctx, dr, f, delim, det, nullSet(opts.NullTokens), name, h)
}

// recordSource yields the records of one chunk.
type recordSource interface {
	next() ([][]byte, int64, error)
}

type recordSourceFactory func(data []byte, line int64) recordSource

func csvSourceFactory(delim byte) recordSourceFactory {
	return func(data []byte, line int64) recordSource {
		return &csvRecords{data: data, line: line, delim: delim}
	}
}

type chunk struct {
	seq  int
	buf  *[]byte
	data []byte
	line int64
}

// lineError is a problem with one line, found by a parse worker.
type lineError struct {
	line int64
	msg  string
}

func (e *lineError) Error() string { return e.msg }

type chunkResult struct {
	seq     int
	rows    int64
	err     *lineError
	preview [][]string
	// onlyMain and onlyAlt hold, per undecided day/month column, the
	// chunk's first value that fits only its main or only its alt layout.
	onlyMain, onlyAlt map[int]dateEvidence
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, blockSize+blockSize/4); return &b }}

// worker checks and parses records into one sink.
type worker struct {
	cols    []Column
	kinds   []Kind
	nulls   *nullTokens
	header  bool // the file has a header row (words the ragged-row message)
	skip    bool // the first record of the file is that header: skip it
	factory recordSourceFactory
	sink    Sink
	row     Row
	// undecided are the day/month columns read both ways (Column.DateAlt).
	undecided []int
}

func newWorker(cols []Column, nulls *nullTokens, header bool, f recordSourceFactory, sink Sink) *worker {
	n := len(cols)
	w := &worker{cols: cols, nulls: nulls, header: header, factory: f, sink: sink,
		row: Row{Null: make([]bool, n), Num: make([]float64, n), Whole: make([]bool, n), Alt: make([]float64, n)}}
	for i, c := range cols {
		w.kinds = append(w.kinds, c.Type.Kind())
		w.row.Alt[i] = math.NaN()
		if c.DateAlt != "" && c.Type.Kind() == Date {
			w.undecided = append(w.undecided, i)
		}
	}
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
	w.records(w.factory(data, ch.line), &res, stopLine, stopMsg, "Line")
	return res
}

// records checks and parses one chunk's records into the sink; unit names
// what the error messages count ("Line" for text, "Row" for Parquet).
func (w *worker) records(src recordSource, res *chunkResult, stopLine int64, stopMsg, unit string) {
	width := len(w.cols)
	first := res.seq == 0
	row := &w.row
	row.Chunk = res.seq
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
			if isNull(f, w.nulls) {
				row.Null[i], row.Num[i], row.Whole[i] = true, math.NaN(), false
				continue
			}
			if w.cols[i].DateAlt != "" && w.kinds[i] == Date {
				if !w.bothWays(i, f, line, res) {
					res.err = &lineError{line, fmt.Sprintf("%s %d, column %q: %q is not a date like %s or %s, but the first rows made this a datetime column. Set the column's type to text (or add the value to the missing-value tokens) and import again.",
						unit, line, w.cols[i].Name, clip(f), humanLayout(w.cols[i].DateLayout), humanLayout(w.cols[i].DateAlt))}
					return
				}
				continue
			}
			v, whole, why := parseField(w.kinds[i], w.cols[i].DateLayout, f)
			if why != "" {
				res.err = &lineError{line, fmt.Sprintf("%s %d, column %q: %s, but the first rows made this a %s column. Set the column's type to text (or add the value to the missing-value tokens) and import again.", unit, line, w.cols[i].Name, why, w.cols[i].Type)}
				return
			}
			row.Null[i], row.Num[i], row.Whole[i] = false, v, whole
		}
		row.Line, row.Fields = line, fields
		if err := w.sink.Row(row); err != nil {
			res.err = &lineError{line, core.ErrorMessage(err)}
			return
		}
		res.rows++
		if res.seq == 0 && len(res.preview) < PreviewRows {
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

// bothWays reads an undecided day/month date with both layouts into the
// row (Num: main, Alt: alt), keeping the chunk's first value that fits only
// one of them; false when it fits neither.
func (w *worker) bothWays(i int, f []byte, line int64, res *chunkResult) bool {
	c := w.cols[i]
	m, okM := parseDate(c.DateLayout, str(f))
	a, okA := parseDate(c.DateAlt, str(f))
	if !okM && !okA {
		return false
	}
	w.row.Null[i], w.row.Whole[i] = false, false
	w.row.Num[i], w.row.Alt[i] = math.NaN(), math.NaN()
	if okM {
		w.row.Num[i] = m
	}
	if okA {
		w.row.Alt[i] = a
	}
	keep := func(ev *map[int]dateEvidence) {
		if *ev == nil {
			*ev = map[int]dateEvidence{}
		}
		if _, seen := (*ev)[i]; !seen {
			(*ev)[i] = dateEvidence{line, string(clip(f))}
		}
	}
	if okM && !okA {
		keep(&res.onlyMain)
	} else if okA && !okM {
		keep(&res.onlyAlt)
	}
	return true
}

func clip(f []byte) []byte {
	if len(f) > 40 {
		return f[:40]
	}
	return f
}

// parallelPass splits the decoded stream into chunks of whole records and
// parses them on all cores, with memory bounded by a few blocks in flight.
func parallelPass(ctx context.Context, r io.Reader, f recordSourceFactory, delim byte, det Detected, nulls *nullTokens, name string, h Hooks) (*Result, error) {
	nw := min(runtime.GOMAXPROCS(0), 4)
	chunks := make(chan chunk, nw)
	results := make(chan chunkResult, nw*2)
	var failed atomic.Bool
	var rowsSoFar atomic.Int64
	workers := make([]*worker, nw)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(det.Columns, nulls, det.Header, f, h.NewSink(det.Columns))
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
				return readErr(err, name)
			}
			if eof {
				tail := 0
				if det.Format != "jsonl" {
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
					chunks <- chunk{seq: seq, buf: bp, data: data, line: line}
				} else {
					bufPool.Put(bp)
				}
				return nil
			}
			var b int
			if det.Format == "jsonl" {
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
			if h.Progress != nil && time.Since(last) >= 100*time.Millisecond {
				last = time.Now()
				// Lines handed to the workers are the rows read so far
				// (give or take quoted newlines); parsed rows lag behind.
				h.Progress(max(rowsSoFar.Load(), line-2))
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
	res := &Result{Detected: det}
	onlyMain, onlyAlt := map[int]dateEvidence{}, map[int]dateEvidence{}
	for _, r := range all {
		res.Rows += r.rows
		if r.seq == 0 {
			res.Preview = r.preview
		}
		for i, e := range r.onlyMain { // chunks in file order: the first kept is the earliest
			if _, ok := onlyMain[i]; !ok {
				onlyMain[i] = e
			}
		}
		for i, e := range r.onlyAlt {
			if _, ok := onlyAlt[i]; !ok {
				onlyAlt[i] = e
			}
		}
	}
	if len(workers) > 0 && len(workers[0].undecided) > 0 {
		res.Detected.Columns = append([]Column(nil), det.Columns...)
		useAlt, err := decideDates(res.Detected.Columns, onlyMain, onlyAlt, "Line")
		if err != nil {
			return nil, core.Errorf(core.Invalid, "%s", err.Error())
		}
		res.UseAlt = useAlt
	}
	if res.Rows == 0 {
		if det.Header {
			return nil, core.Errorf(core.Invalid, "%s has a header (%s) but no data rows.", name, headerList(det.Columns))
		}
		return nil, core.Errorf(core.Invalid, "%s has no data rows.", name)
	}
	if h.Progress != nil {
		h.Progress(res.Rows)
	}
	for _, w := range workers {
		res.Sinks = append(res.Sinks, w.sink)
	}
	return res, nil
}

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
