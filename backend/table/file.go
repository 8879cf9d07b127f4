package table

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tern-studio/tern/backend/core"
	"golang.org/x/text/transform"
)

// DetectFile reads the start of a file and says how Tern would read it:
// the format, encoding, delimiter, header, column types and the first rows.
// It writes nothing; the UI shows it so the person can confirm or correct
// the options before importing.
func DetectFile(path string, opts Options) (Detected, error) {
	f, fi, err := openFile(path)
	if err != nil {
		return Detected{}, err
	}
	defer f.Close()
	head := make([]byte, sampleSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Detected{}, core.Wrap(err, core.Unavailable, "Tern could not read %s: %v", path, plainPathErr(err))
	}
	head = head[:n]
	complete := int64(n) == fi.Size()
	name := filepath.Base(path)
	format, err := detectFormat(name, head, opts.Format)
	if err != nil {
		return Detected{}, err
	}
	if format == "parquet" {
		res, err := readParquet(context.Background(), f, fi.Size(), name, opts, Hooks{NewSink: func([]Column) Sink { return discard{} }})
		if err != nil {
			return Detected{}, err
		}
		return res.Detected, nil
	}
	enc, bom, err := detectEncoding(head, opts.Encoding)
	if err != nil {
		return Detected{}, err
	}
	sample := head
	if d := decoderFor(enc); d != nil {
		if sample, _, err = transform.Bytes(d, head); err != nil && complete {
			return Detected{}, core.Errorf(core.Invalid, "%s could not be decoded as %s text.", name, enc)
		}
	} else if bom {
		sample = head[3:]
	}
	det, _, err := detectText(sample, complete, Detected{Format: format, Encoding: enc, BOM: bom}, name, opts, false)
	if det.Rows == nil && err == nil {
		det.Rows = [][]string{}
	}
	return det, err
}

// ReadFile reads the file at path with Read.
func ReadFile(ctx context.Context, path string, opts Options, h Hooks) (*Result, error) {
	f, fi, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(ctx, Source{Name: filepath.Base(path), R: f, ReaderAt: func() (io.ReaderAt, int64, error) { return f, fi.Size(), nil }}, opts, h)
}

func openFile(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, core.Errorf(core.NotFound, "There is no file at %s.", path)
		}
		return nil, nil, core.Wrap(err, core.Unavailable, "Tern cannot open %s: %v", path, plainPathErr(err))
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		f.Close()
		return nil, nil, core.Errorf(core.Invalid, "%s is not a file.", path)
	}
	return f, fi, nil
}

// plainPathErr drops the path an *os.PathError repeats.
func plainPathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// detectText reads the format details of a decoded text sample: the
// delimiter, header, column types and first rows. For a pass (Read), a
// first record that does not fit in the sample is left for the pass to
// word with its line number; for DetectFile it is an error here.
func detectText(sample []byte, complete bool, det Detected, name string, opts Options, pass bool) (Detected, byte, error) {
	if len(bytes.TrimSpace(sample)) == 0 {
		return det, 0, core.Errorf(core.Invalid, "The file %s is empty: there is nothing to import.", name)
	}
	det.NullTokens = opts.NullTokens
	if det.NullTokens == nil {
		det.NullTokens = DefaultNullTokens
	}
	nulls := nullSet(opts.NullTokens)
	if det.Format == "jsonl" {
		recs, keys, err := sampleJSON(sample, complete)
		if err != nil {
			return det, 0, err
		}
		t := true
		_, cols, err := inferSchema(append([][]string{keys}, recs...), &t, nulls, opts)
		if err != nil {
			return det, 0, err
		}
		det.Header, det.Columns, det.Rows = true, cols, recs[:min(len(recs), PreviewRows)]
		return det, 0, nil
	}
	var delim byte
	var err error
	if opts.Delimiter != "" {
		if delim, err = parseDelimiter(opts.Delimiter); err != nil {
			return det, 0, err
		}
	} else {
		delim = detectDelimiter(sample, complete)
	}
	recs, _ := sampleRecords(sample, delim, sampleRows+1, complete)
	if len(recs) == 0 {
		if !pass {
			return det, 0, core.Errorf(core.Invalid, "The first row of %s is longer than %d MB, or opens a quote that does not close; it is not a table Tern can read.", name, sampleSize>>20)
		}
		// The first record does not fit in the sample: the pass reports
		// the over-long line or open quote with its number.
		recs = [][]string{{"column_1"}}
		if opts.Columns != nil {
			recs = [][]string{make([]string, len(opts.Columns))}
			for i, c := range opts.Columns {
				recs[0][i] = c.Name
			}
		}
	}
	hdr, cols, err := inferSchema(recs, opts.Header, nulls, opts)
	if err != nil {
		return det, 0, err
	}
	det.Delimiter, det.Header, det.Columns = string(delim), hdr, cols
	start := 0
	if hdr {
		start = 1
	}
	det.Rows = recs[start:min(len(recs), start+PreviewRows)]
	return det, delim, nil
}
