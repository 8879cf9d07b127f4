package table

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readDates reads a one-column file (plus an index) and returns the decided
// column and each row's Unix seconds as the decided layout gives them.
func readDates(t *testing.T, name string, data string, opts Options) (Column, []float64, error) {
	t.Helper()
	res, rows, err := Collect(func(h Hooks) (*Result, error) {
		return Read(t.Context(), Source{Name: name, R: strings.NewReader(data)}, opts, h)
	}, func(cols []Column, r *Row) ([2]float64, error) { return [2]float64{r.Num[1], r.Alt[1]}, nil })
	if err != nil {
		return Column{}, nil, err
	}
	col := res.Detected.Columns[1]
	alt := false
	for _, i := range res.UseAlt {
		alt = alt || i == 1
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = r[0]
		if alt {
			out[i] = r[1]
		}
	}
	return col, out, nil
}

func unix(y int, m time.Month, d, hh, mm int) float64 {
	return float64(time.Date(y, m, d, hh, mm, 0, 0, time.UTC).Unix())
}

// TestDayMonthDecidedByTheWholeColumn: a sample of 2,000 rows that fits
// both day-first and month-first does not decide; a value past it does
// (13 can only be a day), and every earlier value is read that way too.
func TestDayMonthDecidedByTheWholeColumn(t *testing.T) {
	var b strings.Builder
	b.WriteString("i,when\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,%02d/%02d/2024\n", i, i%12+1, i%12+1) // 01/01, 02/02, …: both ways the same day
	}
	b.WriteString("3000,03/04/2024\n") // 3 April or 4 March: undecided alone
	b.WriteString("3001,25/12/2024\n") // only day-first
	col, vals, err := readDates(t, "d.csv", b.String(), Options{})
	require.NoError(t, err)
	assert.Equal(t, Datetime, col.Type)
	assert.Equal(t, "2/1/2006", col.DateLayout)
	assert.Empty(t, col.DateAlt)
	assert.Equal(t, `Read as day-first (DD/MM/YYYY): line 3003 has "25/12/2024".`, col.DateNote)
	assert.Equal(t, unix(2024, time.April, 3, 0, 0), vals[3000], "03/04 is the 3rd of April once the column is day-first")
	assert.Equal(t, unix(2024, time.December, 25, 0, 0), vals[3001])

	// The same file month-first: a value with 13+ in the second place.
	mf := strings.Replace(b.String(), "25/12/2024", "12/25/2024", 1)
	col, vals, err = readDates(t, "m.csv", mf, Options{})
	require.NoError(t, err)
	assert.Equal(t, "1/2/2006", col.DateLayout)
	assert.Equal(t, unix(2024, time.March, 4, 0, 0), vals[3000])
	assert.Contains(t, col.DateNote, "month-first (MM/DD/YYYY)")

	// Both kinds of evidence: refused, naming both lines.
	mixed := b.String() + "3002,12/25/2024\n"
	_, _, err = readDates(t, "x.csv", mixed, Options{})
	require.Error(t, err)
	assert.Equal(t, `Column "when" mixes date formats: Line 3004 has "12/25/2024", which is only month-first (MM/DD/YYYY), and line 3003 has "25/12/2024", which is only day-first (DD/MM/YYYY). Fix the file, or set the column's type to text.`, err.Error())

	// Nothing decides: read month-first (slashes), and the note says so;
	// the person's answer settles it.
	amb := "i,when\n1,03/04/2024\n2,05/06/2024 10:30\n"
	col, vals, err = readDates(t, "a.csv", strings.Replace(amb, " 10:30", "", 1), Options{})
	require.NoError(t, err)
	assert.Equal(t, "1/2/2006", col.DateLayout)
	assert.Contains(t, col.DateNote, "Every date fits both month-first (MM/DD/YYYY) and day-first (DD/MM/YYYY); read as month-first")
	assert.Equal(t, unix(2024, time.March, 4, 0, 0), vals[0])
	col, vals, err = readDates(t, "a.csv", strings.Replace(amb, " 10:30", "", 1), Options{DateOrder: map[string]string{"when": "day-first"}})
	require.NoError(t, err)
	assert.Equal(t, "2/1/2006", col.DateLayout)
	assert.Equal(t, unix(2024, time.April, 3, 0, 0), vals[0])
	assert.Equal(t, "Read as day-first (DD/MM/YYYY), as you chose.", col.DateNote)
	_, _, err = readDates(t, "a.csv", "i,n\n1,5\n", Options{DateOrder: map[string]string{"n": "day-first"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Column "n" does not hold day/month dates`)

	// Dots are a day-first convention.
	col, vals, err = readDates(t, "de.csv", "i,Datum\n1,03.04.2024\n2,1.2.2024\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, "2.1.2006", col.DateLayout)
	assert.Equal(t, unix(2024, time.April, 3, 0, 0), vals[0])
	assert.Equal(t, unix(2024, time.February, 1, 0, 0), vals[1])

	// A value that is no date either way keeps the old message's shape.
	_, _, err = readDates(t, "bad.csv", b.String()+"3002,31/31/2024\n", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Line 3004, column "when": "31/31/2024" is not a date like MM/DD/YYYY or DD/MM/YYYY`)
}

// TestEpochAndZones: integer columns named like a time in the range of
// Unix time are read as seconds or milliseconds; ISO values with zones are
// instants; values without a zone are UTC.
func TestEpochAndZones(t *testing.T) {
	col, vals, err := readDates(t, "e.csv", "i,created_at\n1,1733390000\n2,1733400000\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, Datetime, col.Type)
	assert.Equal(t, LayoutUnix, col.DateLayout)
	assert.Equal(t, 1733390000.0, vals[0])
	assert.Contains(t, col.DateNote, "Unix time in seconds")

	col, vals, err = readDates(t, "e.csv", "i,ts\n1,1733390000123\n2,1733400000000\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, LayoutUnixMs, col.DateLayout)
	assert.InDelta(t, 1733390000.123, vals[0], 1e-6)

	// Not named like a time, or out of range: numbers stay numbers.
	col, _, err = readDates(t, "e.csv", "i,amount\n1,1733390000\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, Integer, col.Type)
	col, _, err = readDates(t, "e.csv", "i,timestamp\n1,12\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, Integer, col.Type)

	col, vals, err = readDates(t, "z.csv", "i,at\n1,2024-12-05T10:00:00+01:00\n2,2024-12-05T09:00:00Z\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, time.RFC3339Nano, col.DateLayout)
	assert.Equal(t, vals[0], vals[1], "the same instant in two zones")
	col, vals, err = readDates(t, "z.csv", "i,at\n1,2024-12-05 10:00:00 +0100\n2,2024-12-05 09:00:00 +0000\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, vals[0], vals[1])
	col, vals, err = readDates(t, "z.csv", "i,at\n1,2024-12-05 09:00:00\n", Options{})
	require.NoError(t, err)
	assert.Equal(t, unix(2024, time.December, 5, 9, 0), vals[0], "no zone: UTC")
	assert.False(t, math.IsNaN(vals[0]))
}

// TestUndecidedDatesAcrossChunks: the evidence may sit in any chunk of the
// parallel pass; the decision and the earliest line are the same.
func TestUndecidedDatesAcrossChunks(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("i,when,pad\n")
	n := 0
	for ; b.Len() < 3*blockSize; n++ {
		fmt.Fprintf(&b, "%d,%02d/%02d/2020,%s\n", n, n%12+1, n%12+1, strings.Repeat("x", 60))
	}
	fmt.Fprintf(&b, "%d,30/01/2021,x\n", n)
	res, err := readBytes(b.Bytes(), "c.csv", Options{})
	require.NoError(t, err)
	c := res.Detected.Columns[1]
	assert.Equal(t, "2/1/2006", c.DateLayout)
	assert.Equal(t, []int{1}, res.UseAlt)
	assert.Contains(t, c.DateNote, fmt.Sprintf("line %d has \"30/01/2021\"", n+2))
}
