package dataset

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
)

// TestImportDecidesDayMonthFromTheWholeFile: the profile of a day/month
// column that only its last row settles is the profile of the decided
// reading (not of the sample's guess), the version says how it was
// decided, and the person can turn an ambiguous column the other way.
func TestImportDecidesDayMonthFromTheWholeFile(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("n,day\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "%d,%02d/%02d/2024\n", i, i%12+1, i%12+1)
	}
	b.WriteString("2500,02/01/2024\n") // 2 January day-first; 1 February month-first
	b.WriteString("2501,31/01/2024\n") // only day-first
	v, err := e.svc.ImportReader(t.Context(), strings.NewReader(b.String()), "days.csv", 0, Options{})
	require.NoError(t, err)
	c := v.Schema[1]
	assert.Equal(t, Datetime, c.Type)
	assert.Equal(t, "2/1/2006", c.DateLayout)
	assert.Equal(t, `Read as day-first (DD/MM/YYYY): line 2503 has "31/01/2024".`, c.DateNote)
	p, err := e.svc.Profile(v.ID)
	require.NoError(t, err)
	day := col(p, "day")
	require.NotNil(t, day.Numeric)
	assert.EqualValues(t, 2502, day.Count)
	assert.EqualValues(t, 0, day.Missing)
	assert.Equal(t, float64(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), day.Numeric.Min)
	assert.Equal(t, float64(time.Date(2024, 12, 12, 0, 0, 0, 0, time.UTC).Unix()), day.Numeric.Max)

	// Ambiguous all the way: month-first, said so; the person turns it.
	amb, err := e.svc.ImportReader(t.Context(), strings.NewReader("n,day\n1,02/01/2024\n2,05/03/2024\n"), "amb.csv", 0, Options{})
	require.NoError(t, err)
	assert.Contains(t, amb.Schema[1].DateNote, "read as month-first")
	p, err = e.svc.Profile(amb.ID)
	require.NoError(t, err)
	assert.Equal(t, float64(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC).Unix()), col(p, "day").Numeric.Min)
	amb, err = e.svc.EditSchema(t.Context(), amb.ID, []ColumnEdit{{Name: "day", DateOrder: "day-first"}})
	require.NoError(t, err)
	assert.Equal(t, "2/1/2006", amb.Schema[1].DateLayout)
	assert.Equal(t, "Read as day-first (DD/MM/YYYY), as you chose.", amb.Schema[1].DateNote)
	p, err = e.svc.Profile(amb.ID)
	require.NoError(t, err)
	assert.Equal(t, float64(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC).Unix()), col(p, "day").Numeric.Min)
	assert.Equal(t, float64(time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC).Unix()), col(p, "day").Numeric.Max)

	_, err = e.svc.EditSchema(t.Context(), amb.ID, []ColumnEdit{{Name: "n", DateOrder: "day-first"}})
	require.Error(t, err)
	assert.Equal(t, core.Invalid, core.ErrorCode(err))
	assert.Contains(t, core.ErrorMessage(err), `Column "n" does not hold day/month dates`)
}
