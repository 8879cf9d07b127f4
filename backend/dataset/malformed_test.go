package dataset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/table"
	"github.com/tern-studio/tern/backend/testenv"
)

type pqDecimal struct {
	Price int32 `parquet:"price,decimal(2:9)"`
}

type pqNested struct {
	ID    int64 `parquet:"id"`
	Inner struct {
		A int32 `parquet:"a"`
	} `parquet:"inner"`
}

// bigCSV is a valid numeric CSV of at least n bytes, so a problem placed
// after it lies beyond the sample and the first parse chunk.
func bigCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("x,y,z\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d,%d.25,%d\n", i, i*3, i%11)
	}
	return b.Bytes()
}

func linesIn(b []byte) int { return bytes.Count(b, []byte{'\n'}) }

type badCase struct {
	name string
	file string // under testdata/malformed, or generated when data is set
	data func(t testing.TB) []byte
	opts Options
	want string // a part of the message a person reads
	code core.Code
}

func malformedCases() []badCase {
	late := bigCSV(5 << 20)
	lateLine := linesIn(late) + 1
	c := func(name, want string) badCase {
		return badCase{name: name, file: name, want: want}
	}
	return []badCase{
		c("empty.csv", "is empty"),
		c("blank_lines.csv", "is empty"),
		c("bom_only.csv", "is empty"),
		c("header_only.csv", "has a header (a, b, c) but no data rows"),
		c("header_only_no_newline.csv", "has a header (a, b, c) but no data rows"),
		c("header_only_bom_crlf.csv", "has a header (a, b, c) but no data rows"),
		c("ragged_more.csv", "Line 4 has 4 fields but the header has 3 columns. A value containing the delimiter must be wrapped in double quotes."),
		c("ragged_fewer.csv", "Line 3 has 2 fields but the header has 3 columns."),
		c("ragged_after_quoted_newline.csv", "Line 4 has 3 fields but the header has 2 columns."),
		c("ragged_no_header.csv", "Line 3 has 2 fields but the first line has 3 columns."),
		c("unterminated_quote.csv", `Line 3 opens a quoted field that is never closed`),
		c("unterminated_quote_last_field.csv", `Line 3 opens a quoted field that is never closed`),
		c("nul_byte.csv", "Line 3 contains a NUL byte"),
		c("nul_in_header.csv", "Line 1 contains a NUL byte"),
		c("zip_named_csv.csv", "is a binary file"),
		c("gzip_named_csv.csv", "is a binary file"),
		c("png_named_csv.csv", "is a binary file"),
		c("duplicate_columns.csv", `Columns 1 and 3 are both named "a"`),
		c("duplicate_columns_quoted.csv", `Columns 1 and 3 are both named "x"`),
		c("empty_column_name.csv", "Column 1 has an empty name"),
		c("empty_column_name_middle.tsv", "Column 2 has an empty name"),
		c("blank_column_name.csv", "Column 2 has an empty name"),
		c("mixed_types_bool.csv", `Line 2502, column "flag": "maybe" is not true/false, but the first rows made this a boolean column`),
		{name: "invalid_utf8_forced.csv", file: "invalid_utf8_forced.csv", opts: Options{Options: table.Options{Encoding: "utf-8"}}, want: "Line 2 is not valid UTF-8 text (byte 0xe9). If the file was saved as Latin-1 or Windows-1252"},
		c("parquet_bad_magic.parquet", "does not start with Parquet's PAR1 marker"),
		c("parquet_only_magic.parquet", "is not a readable Parquet file"),
		c("parquet_magic_garbage.parquet", "is not a readable Parquet file"),
		c("jsonl_array_line.jsonl", "Line 1 is not a JSON object"),
		c("jsonl_broken_object.jsonl", "Line 2 is not a JSON object"),
		c("jsonl_trailing_text.jsonl", "Line 1 is not a JSON object"),
		// Generated: problems past the detection sample and the first chunk.
		{name: "ragged_late.csv", data: func(testing.TB) []byte { return append(append([]byte(nil), late...), "1,2\n"...) },
			want: fmt.Sprintf("Line %d has 2 fields but the header has 3 columns.", lateLine)},
		{name: "mixed_types_late.csv", data: func(testing.TB) []byte { return append(append([]byte(nil), late...), "1,abc,3\n"...) },
			want: fmt.Sprintf(`Line %d, column "y": "abc" is not a number, but the first rows made this a float column. Set the column's type to text`, lateLine)},
		{name: "nul_late.csv", data: func(testing.TB) []byte { return append(append([]byte(nil), late...), "1,2,\x00\n"...) },
			want: fmt.Sprintf("Line %d contains a NUL byte", lateLine)},
		{name: "invalid_utf8_late.csv", data: func(testing.TB) []byte { return append(append([]byte(nil), late...), "1,2,\xff\n"...) },
			want: fmt.Sprintf("Line %d is not valid UTF-8", lateLine)},
		{name: "unterminated_quote_late.csv", data: func(testing.TB) []byte {
			b := append(append([]byte(nil), late...), "1,\"2,3\n"...)
			return append(b, bigCSV(20 << 20)[6:]...)
		}, want: fmt.Sprintf("Line %d opens a quoted field that is still open 8 MB later", lateLine)},
		{name: "single_line_10mb.csv", data: func(testing.TB) []byte { return bytes.Repeat([]byte("abcdefghi,"), 1<<20) },
			want: "Line 1 is longer than 8 MB, the most Tern reads as one row"},
		{name: "long_line_after_header.csv", data: func(testing.TB) []byte {
			return append([]byte("a,b\n1,2\n"), bytes.Repeat([]byte("x"), 10<<20)...)
		}, want: "Line 3 is longer than 8 MB"},
		{name: "mixed_date_late.csv", data: func(testing.TB) []byte {
			var b bytes.Buffer
			b.WriteString("day,v\n")
			for i := 0; i < 3000; i++ {
				fmt.Fprintf(&b, "2024-02-%02d,%d\n", 1+i%28, i)
			}
			b.WriteString("31/02/2024,1\n")
			return b.Bytes()
		}, want: `Line 3002, column "day": "31/02/2024" is not a date like YYYY-MM-DD`},
		{name: "jsonl_new_key_late.jsonl", data: func(testing.TB) []byte {
			var b bytes.Buffer
			for i := 0; i < 2500; i++ {
				fmt.Fprintf(&b, "{\"a\":%d}\n", i)
			}
			b.WriteString(`{"a":1,"surprise":2}` + "\n")
			return b.Bytes()
		}, want: `Line 2501 has a field "surprise" that the first lines of the file do not have`},
		{name: "parquet_truncated.parquet", data: func(t testing.TB) []byte { b := testenv.ScoresParquet(t, 1000); return b[:len(b)/2] },
			want: "is not a readable Parquet file: it does not end with Parquet's PAR1 marker, so it is probably truncated"},
		{name: "parquet_truncated_footer.parquet", data: func(t testing.TB) []byte { b := testenv.ScoresParquet(t, 1000); return b[:len(b)-3] },
			want: "is not a readable Parquet file"},
		{name: "parquet_corrupt_footer.parquet", data: func(t testing.TB) []byte {
			b := testenv.ScoresParquet(t, 1000)
			for i := len(b) - 60; i < len(b)-8; i++ {
				b[i] ^= 0x5a
			}
			return b
		}, want: "is not a readable Parquet file"},
		{name: "parquet_huge_footer.parquet", data: func(t testing.TB) []byte {
			b := testenv.ScoresParquet(t, 100)
			copy(b[len(b)-8:], []byte{0xff, 0xff, 0xff, 0xf0})
			return b
		}, want: "its footer claims 4043309055 bytes"},
		{name: "parquet_nested.parquet", data: func(t testing.TB) []byte {
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[pqNested](&buf)
			_, err := w.Write([]pqNested{{ID: 1}})
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}, want: `Column "inner" of parquet_nested.parquet is nested`},
		{name: "parquet_decimal.parquet", data: func(t testing.TB) []byte {
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[pqDecimal](&buf)
			_, err := w.Write([]pqDecimal{{Price: 1234}})
			require.NoError(t, err)
			require.NoError(t, w.Close())
			return buf.Bytes()
		}, want: `Column "price" of parquet_decimal.parquet has the Parquet type DECIMAL(9,2), which Tern does not import yet`},
		{name: "parquet_no_rows.parquet", data: func(t testing.TB) []byte { return testenv.ScoresParquet(t, 0) }, want: "has columns (id, score, name) but no rows"},
		// Options a person got wrong.
		{name: "bad_delimiter.csv", data: func(testing.TB) []byte { return []byte("a,b\n1,2\n") }, opts: Options{Options: table.Options{Delimiter: ";;"}}, want: "The delimiter must be one plain character"},
		{name: "bad_type.csv", data: func(testing.TB) []byte { return []byte("a,b\n1,2\n") }, opts: Options{Options: table.Options{Types: map[string]ColumnType{"a": "money"}}}, want: `"money" is not a column type`},
		{name: "type_for_missing_column.csv", data: func(testing.TB) []byte { return []byte("a,b\n1,2\n") }, opts: Options{Options: table.Options{Types: map[string]ColumnType{"c": Float}}}, want: `There is no column named "c"`},
		{name: "forced_type_mismatch.csv", data: func(testing.TB) []byte { return []byte("a,b\n1,x\n") }, opts: Options{Options: table.Options{Types: map[string]ColumnType{"b": Integer}}}, want: `Line 2, column "b": "x" is not a number`},
		{name: "bad_format.csv", data: func(testing.TB) []byte { return []byte("a\n1\n") }, opts: Options{Options: table.Options{Format: "xlsx"}}, want: `Tern imports csv, jsonl and parquet files, not "xlsx"`},
		{name: "bad_encoding.csv", data: func(testing.TB) []byte { return []byte("a\n1\n") }, opts: Options{Options: table.Options{Encoding: "ebcdic"}}, want: `does not know the encoding "ebcdic"`},
		{name: "bad_name.csv", data: func(testing.TB) []byte { return []byte("a\n1\n") }, opts: Options{Name: "two\nlines"}, want: "A dataset needs a name"},
	}
}

// TestMalformedInputs imports each bad file on top of an existing dataset
// of the same name and checks two things: the message tells a person what
// is wrong and where, and the data dir is byte-for-byte what it was.
func TestMalformedInputs(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cases := malformedCases()
	require.GreaterOrEqual(t, len(cases), 30)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			if tc.data != nil {
				path = writeFile(t, tc.name, tc.data(t))
			} else {
				path = filepath.Join("testdata", "malformed", tc.file)
			}
			// A good version of the same name is there first.
			name := strings.TrimSuffix(tc.name, filepath.Ext(tc.name))
			if tc.opts.Name == "" {
				_, err := e.svc.ImportReader(ctx, strings.NewReader("ok,fine\n1,2\n"), name+".csv", 0, Options{})
				require.NoError(t, err)
			}
			before := treeDigest(t, e.dir)
			_, err := e.svc.ImportPath(ctx, path, tc.opts)
			require.Error(t, err)
			code := tc.code
			if code == "" {
				code = core.Invalid
			}
			assert.Equal(t, code, core.ErrorCode(err), core.ErrorMessage(err))
			assert.Contains(t, core.ErrorMessage(err), tc.want)
			assert.Equal(t, before, treeDigest(t, e.dir), "the data dir changed")

			// The same bytes through the upload path fail the same way.
			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			_, err = e.svc.ImportReader(ctx, f, filepath.Base(path), 0, tc.opts)
			require.Error(t, err)
			assert.Contains(t, core.ErrorMessage(err), tc.want)
			assert.Equal(t, before, treeDigest(t, e.dir), "the data dir changed (upload)")
		})
	}
}

func TestBadPaths(t *testing.T) {
	e := newEnv(t)
	before := treeDigest(t, e.dir)
	_, err := e.svc.ImportPath(t.Context(), t.TempDir(), Options{})
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "is a folder")
	_, err = e.svc.ImportPath(t.Context(), filepath.Join(t.TempDir(), "nope.csv"), Options{})
	assert.Equal(t, core.NotFound, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), "There is no file at")
	assert.Equal(t, before, treeDigest(t, e.dir))
}

// TestGoodVariants covers the shapes real files come in (FAULTS.md: BOM,
// CRLF, quoted newlines, other delimiters and encodings).
func TestGoodVariants(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	type want struct {
		rows   int64
		names  []string
		delim  string
		enc    string
		header bool
		first  []string
		check  func(t *testing.T, p Profile)
	}
	cases := map[string]want{
		"bom_crlf.csv": {rows: 2, names: []string{"name", "score"}, delim: ",", enc: "utf-8", header: true, first: []string{"Ada", "1.5"}},
		"quoted_newlines.csv": {rows: 3, names: []string{"id", "note"}, delim: ",", enc: "utf-8", header: true, first: []string{"1", "line one\nline two"}, check: func(t *testing.T, p Profile) {
			assert.Equal(t, `say "hi"`, p.Preview[1][1])
		}},
		"semicolon.csv":   {rows: 2, names: []string{"a", "b", "c"}, delim: ";", enc: "utf-8", header: true, first: []string{"1", "2,5", "x"}},
		"tabs.tsv":        {rows: 2, names: []string{"a", "b"}, delim: "\t", enc: "utf-8", header: true, first: []string{"1", "2"}},
		"pipes.txt":       {rows: 2, names: []string{"a", "b"}, delim: "|", enc: "utf-8", header: true, first: []string{"1", "2"}},
		"utf16le_bom.csv": {rows: 2, names: []string{"name", "n"}, delim: ",", enc: "utf-16le", header: true, first: []string{"Zoë", "1"}},
		"windows1252.csv": {rows: 3, names: []string{"name", "n"}, delim: ",", enc: "windows-1252", header: true, first: []string{"José", "1"}},
		"no_header.csv":   {rows: 3, names: []string{"column_1", "column_2", "column_3"}, delim: ",", enc: "utf-8", header: false, first: []string{"1", "2.5", "x"}},
		"nulls.csv": {rows: 4, names: []string{"a", "b"}, delim: ",", enc: "utf-8", header: true, first: []string{"1", "NA"}, check: func(t *testing.T, p Profile) {
			assert.EqualValues(t, 2, p.Columns[0].Missing)
			assert.EqualValues(t, 2, p.Columns[1].Missing)
			assert.Equal(t, Integer, p.Columns[1].Type)
		}},
		"people.jsonl": {rows: 3, names: []string{"name", "age", "tags", "ok"}, enc: "utf-8", header: true, first: []string{"Ada", "36", `["x"]`, "true"}, check: func(t *testing.T, p Profile) {
			assert.Equal(t, Float, p.Columns[1].Type)
			assert.EqualValues(t, 1, p.Columns[1].Missing)
			assert.Equal(t, Boolean, p.Columns[3].Type)
		}},
		"no_trailing_newline.csv": {rows: 2, names: []string{"a", "b"}, delim: ",", enc: "utf-8", header: true, first: []string{"1", "2"}},
		"inf_values.csv": {rows: 4, names: []string{"v"}, delim: ",", enc: "utf-8", header: true, first: []string{"1"}, check: func(t *testing.T, p Profile) {
			assert.EqualValues(t, 2, p.Columns[0].Numeric.NonFinite)
			assert.EqualValues(t, 3, p.Columns[0].Numeric.Max)
		}},
	}
	for file, w := range cases {
		t.Run(file, func(t *testing.T) {
			v, err := e.svc.ImportPath(ctx, filepath.Join("testdata", "good", file), Options{})
			require.NoError(t, err)
			assert.Equal(t, w.rows, v.Rows)
			var names []string
			for _, c := range v.Schema {
				names = append(names, c.Name)
			}
			assert.Equal(t, w.names, names)
			assert.Equal(t, w.delim, v.Delimiter)
			assert.Equal(t, w.enc, v.Encoding)
			assert.Equal(t, w.header, v.Header)
			p, err := e.svc.Profile(v.ID)
			require.NoError(t, err)
			assert.Equal(t, w.first, p.Preview[0])
			if w.check != nil {
				w.check(t, p)
			}
		})
	}
}

func TestParquetImport(t *testing.T) {
	e := newEnv(t)
	path := writeFile(t, "scores.parquet", testenv.ScoresParquet(t, 5000))
	v, err := e.svc.ImportPath(t.Context(), path, Options{})
	require.NoError(t, err)
	assert.Equal(t, "parquet", v.Format)
	assert.EqualValues(t, 5000, v.Rows)
	p, err := e.svc.Profile(v.ID)
	require.NoError(t, err)
	assert.Equal(t, Integer, p.Columns[0].Type)
	assert.Equal(t, Float, p.Columns[1].Type)
	assert.Equal(t, Categorical, p.Columns[2].Type)
	assert.InDelta(t, 2499.5, p.Columns[0].Numeric.Mean, 1e-9)
	assert.EqualValues(t, 7, p.Columns[2].Distinct)
	assert.Equal(t, []string{"0", "0", "n0"}, p.Preview[0])
}
