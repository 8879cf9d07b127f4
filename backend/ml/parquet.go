package ml

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/parquet-go/parquet-go"

	"github.com/tern-studio/tern/backend/core"
)

// ReadParquetFile reads a flat Parquet file into a frame: numbers as
// float64, booleans, byte arrays as strings, nulls as nil. Nested and
// repeated columns are refused; a damaged file is an error, never a panic.
func ReadParquetFile(path string) (*Frame, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, core.Wrap(err, core.NotFound, "Cannot open the data file %s.", path)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "Cannot read the data file %s.", path)
	}
	return ReadParquet(fh, st.Size())
}

// ReadParquet reads size bytes of Parquet from ra.
func ReadParquet(ra io.ReaderAt, size int64) (f *Frame, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, core.Errorf(core.Invalid, "The Parquet file is damaged or truncated (%v).", r)
		}
	}()
	pf, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, core.Errorf(core.Invalid, "The Parquet file is damaged or truncated (%v).", err)
	}
	f = &Frame{}
	var kinds []parquet.Kind
	for _, fld := range pf.Schema().Fields() {
		if !fld.Leaf() || fld.Repeated() {
			return nil, core.Errorf(core.Invalid, "Column %q is nested or repeated; train on a flat table.", fld.Name())
		}
		f.Columns = append(f.Columns, fld.Name())
		kinds = append(kinds, fld.Type().Kind())
	}
	if len(f.Columns) == 0 {
		return nil, core.Errorf(core.Invalid, "The Parquet file has no columns.")
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	buf := make([]parquet.Row, 256)
	for {
		n, rerr := r.ReadRows(buf)
		for _, row := range buf[:n] {
			out := make([]any, len(f.Columns))
			for _, v := range row {
				c := v.Column()
				if c < 0 || c >= len(out) || v.IsNull() {
					continue
				}
				out[c] = parquetValue(kinds[c], v)
			}
			f.Rows = append(f.Rows, out)
		}
		if rerr == io.EOF || (n == 0 && rerr == nil) {
			break
		}
		if rerr != nil {
			return nil, core.Errorf(core.Invalid, "The Parquet file is damaged or truncated (%v).", rerr)
		}
	}
	return f, nil
}

func parquetValue(k parquet.Kind, v parquet.Value) any {
	switch k {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		return float64(v.Int32())
	case parquet.Int64:
		return float64(v.Int64())
	case parquet.Float:
		if x := float64(v.Float()); !math.IsNaN(x) {
			return x
		}
		return nil
	case parquet.Double:
		if x := v.Double(); !math.IsNaN(x) {
			return x
		}
		return nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	}
	return fmt.Sprint(v)
}
