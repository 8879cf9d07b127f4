package dataset

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

// Detect reads the start of a file and says how Tern would import it: the
// format, encoding, delimiter, header, column types and the first rows. It
// writes nothing; the UI shows it so the person can confirm or correct the
// options before importing.
func (s *Service) Detect(path string, opts Options) (Detected, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Detected{}, core.Errorf(core.NotFound, "There is no file at %s.", path)
		}
		return Detected{}, core.Wrap(err, core.Unavailable, "Tern cannot open %s: %v", path, plain(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		return Detected{}, core.Errorf(core.Invalid, "%s is not a file.", path)
	}
	head := make([]byte, sampleSize)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Detected{}, core.Wrap(err, core.Unavailable, "Tern could not read %s: %v", path, plain(err))
	}
	head = head[:n]
	complete := int64(n) == fi.Size()
	name := filepath.Base(path)
	format, err := detectFormat(name, head, opts.Format)
	if err != nil {
		return Detected{}, err
	}
	if format == "parquet" {
		p, err := parseParquet(context.Background(), f, fi.Size(), name, opts, nil)
		if err != nil {
			return Detected{}, err
		}
		return p.det, nil
	}
	return detectText(head, complete, name, format, opts)
}

func detectText(head []byte, complete bool, name, format string, opts Options) (Detected, error) {
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
	if len(bytes.TrimSpace(sample)) == 0 {
		return Detected{}, core.Errorf(core.Invalid, "The file %s is empty: there is nothing to import.", name)
	}
	det := Detected{Format: format, Encoding: enc, BOM: bom, NullTokens: opts.NullTokens}
	if det.NullTokens == nil {
		det.NullTokens = DefaultNullTokens
	}
	nulls := nullSet(opts.NullTokens)
	if format == "jsonl" {
		recs, keys, err := sampleJSON(sample, complete)
		if err != nil {
			return Detected{}, err
		}
		t := true
		_, cols, err := inferSchema(append([][]string{keys}, recs...), &t, nulls, opts.Types)
		if err != nil {
			return Detected{}, err
		}
		det.Header, det.Columns, det.Rows = true, cols, recs[:min(len(recs), previewRows)]
		return det, nil
	}
	var delim byte
	if opts.Delimiter != "" {
		if delim, err = parseDelimiter(opts.Delimiter); err != nil {
			return Detected{}, err
		}
	} else {
		delim = detectDelimiter(sample, complete)
	}
	recs, _ := sampleRecords(sample, delim, sampleRows+1, complete)
	if len(recs) == 0 {
		return Detected{}, core.Errorf(core.Invalid, "The first row of %s is longer than %d MB, or opens a quote that does not close; it is not a table Tern can read.", name, sampleSize>>20)
	}
	hdr, cols, err := inferSchema(recs, opts.Header, nulls, opts.Types)
	if err != nil {
		return Detected{}, err
	}
	det.Delimiter, det.Header, det.Columns = string(delim), hdr, cols
	start := 0
	if hdr {
		start = 1
	}
	det.Rows = recs[start:min(len(recs), start+previewRows)]
	if det.Rows == nil {
		det.Rows = [][]string{}
	}
	return det, nil
}
