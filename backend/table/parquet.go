package table

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/tern-studio/tern/backend/core"
)

// parquetErr words a failure inside the Parquet reader. The library's own
// text is kept after the sentence: it names the damaged part.
func parquetErr(name string, err any) error {
	msg := fmt.Sprint(err)
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return core.Errorf(core.Invalid, "%s is not a readable Parquet file: it may be truncated or damaged (%s).", name, msg)
}

type pqColumn struct {
	name   string
	kind   parquet.Kind
	logic  *format.LogicalType
	typ    ColumnType
	layout string
}

func parquetColumns(f *parquet.File, name string) ([]pqColumn, error) {
	var out []pqColumn
	for _, fld := range f.Schema().Fields() {
		if !fld.Leaf() {
			return nil, core.Errorf(core.Invalid, "Column %q of %s is nested (a struct, list or map). Tern imports flat tables; flatten it first (for example with pandas.json_normalize).", fld.Name(), name)
		}
		if fld.Repeated() {
			return nil, core.Errorf(core.Invalid, "Column %q of %s is a repeated (list) column. Tern imports flat tables; flatten it first.", fld.Name(), name)
		}
		t := fld.Type()
		c := pqColumn{name: fld.Name(), kind: t.Kind(), logic: t.LogicalType()}
		var lv format.LogicalTypeValue
		if c.logic != nil {
			lv = c.logic.Value
		}
		switch c.kind {
		case parquet.Boolean:
			c.typ = Boolean
		case parquet.Int32, parquet.Int64:
			switch lv.(type) {
			case *format.DateType:
				c.typ, c.layout = Datetime, "2006-01-02"
			case *format.TimestampType:
				c.typ, c.layout = Datetime, time.RFC3339Nano
			case *format.DecimalType, *format.TimeType:
				return nil, core.Errorf(core.Invalid, "Column %q of %s has the Parquet type %s, which Tern does not import yet. Cast it to double or string first.", fld.Name(), name, c.logic)
			default:
				c.typ = Integer
			}
		case parquet.Float, parquet.Double:
			c.typ = Float
		case parquet.ByteArray, parquet.FixedLenByteArray:
			switch lv.(type) {
			case *format.DecimalType:
				return nil, core.Errorf(core.Invalid, "Column %q of %s is a Parquet decimal, which Tern does not import yet. Cast it to double first.", fld.Name(), name)
			}
			c.typ = Categorical
		default:
			return nil, core.Errorf(core.Invalid, "Column %q of %s has the Parquet type %s (such as legacy INT96 timestamps), which Tern does not import. Rewrite the file with standard timestamps.", fld.Name(), name, t)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, core.Errorf(core.Invalid, "%s has no columns.", name)
	}
	return out, nil
}

// appendValue writes a Parquet value as the text the accumulators read.
func (c *pqColumn) appendValue(dst []byte, v parquet.Value) []byte {
	if v.IsNull() {
		return dst
	}
	switch c.kind {
	case parquet.Boolean:
		return strconv.AppendBool(dst, v.Boolean())
	case parquet.Int32, parquet.Int64:
		n := v.Int64()
		if c.kind == parquet.Int32 {
			n = int64(v.Int32())
		}
		if c.typ == Datetime {
			var t time.Time
			switch lt := c.logic.Value.(type) {
			case *format.DateType:
				t = time.Unix(n*86400, 0).UTC()
				return t.AppendFormat(dst, c.layout)
			case *format.TimestampType:
				unit := time.Duration(1)
				if lt.Unit.Value != nil {
					unit = lt.Unit.Value.Duration()
				}
				t = time.Unix(0, n*int64(unit)).UTC()
				return t.AppendFormat(dst, c.layout)
			}
		}
		return strconv.AppendInt(dst, n, 10)
	case parquet.Float:
		return strconv.AppendFloat(dst, float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		f := v.Double()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return append(dst, "NaN"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return append(dst, v.ByteArray()...)
}

type parquetRecords struct {
	r       *parquet.Reader
	cols    []pqColumn
	buf     []parquet.Row
	n, i    int
	row     int64
	fields  [][]byte
	scratch []byte
	ends    []int
	ctx     context.Context
	err     error
	done    func(int64)
}

func (p *parquetRecords) next() ([][]byte, int64, error) {
	if p.i >= p.n {
		if p.ctx.Err() != nil {
			return nil, 0, io.EOF
		}
		n, err := p.r.ReadRows(p.buf)
		p.n, p.i = n, 0
		if n == 0 {
			if err != nil && err != io.EOF {
				p.err = err
			}
			return nil, 0, io.EOF
		}
		if p.done != nil {
			p.done(p.row)
		}
	}
	row := p.buf[p.i]
	p.i++
	p.row++
	sc := p.scratch[:0]
	ends := p.ends[:0]
	vals := make([]parquet.Value, len(p.cols))
	for _, v := range row {
		if c := v.Column(); c >= 0 && c < len(vals) {
			vals[c] = v
		}
	}
	for ci := range p.cols {
		sc = p.cols[ci].appendValue(sc, vals[ci])
		ends = append(ends, len(sc))
	}
	f := splitFields(p.fields[:0], sc, ends)
	p.scratch, p.ends, p.fields = sc, ends, f
	return f, p.row, nil
}

func readParquet(ctx context.Context, ra io.ReaderAt, size int64, name string, opts Options, h Hooks) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, parquetErr(name, r)
		}
	}()
	if err := checkParquetFooter(ra, size, name); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, parquetErr(name, err)
	}
	if err := checkParquetChunks(f, size, name); err != nil {
		return nil, err
	}
	pcs, err := parquetColumns(f, name)
	if err != nil {
		return nil, err
	}
	cols := make([]Column, len(pcs))
	for i, c := range pcs {
		cols[i] = Column{Name: c.name, Type: c.typ, DateLayout: c.layout, Role: Feature}
		if idName.MatchString(c.name) && (c.typ == Integer || c.typ == Categorical) {
			cols[i].Role = IDRole
		}
	}
	if cols, err = fixSchema(cols, opts); err != nil {
		return nil, err
	}
	for i := range pcs {
		pcs[i].typ, pcs[i].layout = cols[i].Type, cols[i].DateLayout
		if cols[i].Type == Datetime && pcs[i].layout == "" {
			pcs[i].layout = time.RFC3339Nano
		}
		cols[i].DateLayout = pcs[i].layout
	}
	if f.NumRows() == 0 {
		return nil, core.Errorf(core.Invalid, "%s has columns (%s) but no rows.", name, headerList(cols))
	}
	det := Detected{Format: "parquet", Header: true, Columns: cols}
	r := parquet.NewReader(f)
	defer r.Close()
	src := &parquetRecords{r: r, cols: pcs, buf: make([]parquet.Row, 256), ctx: ctx, done: h.Progress}
	w := newWorker(cols, nullSet([]string{""}), false, nil, h.NewSink(cols))
	var cr chunkResult
	w.records(src, &cr, -1, "", "Row")
	if ctx.Err() != nil {
		return nil, ErrCancelled
	}
	if src.err != nil {
		return nil, parquetErr(name, src.err)
	}
	if cr.err != nil {
		return nil, core.Errorf(core.Invalid, "%s", cr.err.msg)
	}
	if cr.rows != f.NumRows() {
		return nil, core.Errorf(core.Invalid, "%s says it has %d rows but only %d could be read; it may be truncated.", name, f.NumRows(), cr.rows)
	}
	det.Rows = append(det.Rows, cr.preview...)
	return &Result{Detected: det, Rows: cr.rows, Preview: cr.preview, Sinks: []Sink{w.sink}}, nil
}

// maxChunkBytes bounds one column chunk, before and after decompression.
const maxChunkBytes = 2 << 30

// checkParquetFooter validates the footer length before the library sees
// it: parquet-go allocates whatever the last 8 bytes claim (up to 4 GB),
// so a damaged footer could otherwise exhaust memory (found by FuzzParquet).
func checkParquetFooter(ra io.ReaderAt, size int64, name string) error {
	if size < 12 {
		return core.Errorf(core.Invalid, "%s is not a readable Parquet file: at %d bytes it is too short to hold Parquet's header and footer (it may be truncated).", name, size)
	}
	var tail [8]byte
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return parquetErr(name, err)
	}
	if string(tail[4:]) != "PAR1" {
		return core.Errorf(core.Invalid, "%s is not a readable Parquet file: it does not end with Parquet's PAR1 marker, so it is probably truncated.", name)
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer <= 0 || footer > size-12 {
		return core.Errorf(core.Invalid, "%s is not a readable Parquet file: its footer claims %d bytes in a %d-byte file, so the footer is damaged.", name, footer, size)
	}
	return nil
}

// checkParquetChunks checks every column chunk lies inside the file and
// claims a sane size, for the same reason.
func checkParquetChunks(f *parquet.File, size int64, name string) error {
	for gi, rg := range f.Metadata().RowGroups {
		for ci, c := range rg.Columns {
			m := c.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			if start < 4 || m.TotalCompressedSize < 0 || start+m.TotalCompressedSize > size ||
				m.TotalUncompressedSize < 0 || m.TotalUncompressedSize > maxChunkBytes || m.TotalCompressedSize > maxChunkBytes {
				return core.Errorf(core.Invalid, "%s is not a readable Parquet file: column %d of row group %d points outside the file or claims an impossible size; the file is damaged.", name, ci+1, gi+1)
			}
		}
	}
	return nil
}
