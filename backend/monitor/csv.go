package monitor

import (
	"context"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/table"
)

// maxCSVRows bounds an uploaded comparison file so a wrong drop cannot
// exhaust memory; a profile of a bigger table is built from a dataset
// version instead.
const maxCSVRows = 5_000_000

// ReadCSV reads an uploaded comparison file (CSV with a header row, or
// JSON lines) into columns, through the table reader the dataset import
// uses: the same delimiter, encoding and header detection, missing-value
// tokens and column types. Integer and float columns are numeric (missing
// values NaN); the others are categorical (missing values "").
func ReadCSV(r io.Reader) ([]drift.Column, error) {
	return readColumns(func(h table.Hooks) (*table.Result, error) {
		return table.Read(context.Background(), table.Source{Name: "The file", R: r}, table.Options{}, h)
	}, maxCSVRows)
}

// readCSVFile reads a comparison file on this machine (Parquet too).
func readCSVFile(ctx context.Context, path string) ([]drift.Column, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, core.Errorf(core.NotFound, "The file %s cannot be opened.", path)
	}
	return readColumns(func(h table.Hooks) (*table.Result, error) {
		return table.ReadFile(ctx, path, table.Options{}, h)
	}, maxCSVRows)
}

// cell is one field as a comparison keeps it.
type cell struct {
	num float64
	cat string
}

// leftOut says why a column is not compared for data drift ("" when it
// is): an ID or a date drifts by construction, and "ignore" is the
// person's word. The target is compared but reported apart (its Role).
func leftOut(c table.Column) string {
	switch {
	case c.Role == table.IDRole:
		return "left out: an ID column — every new row brings new values, so it drifts by construction"
	case c.Role == table.Ignore:
		return "left out: the column is marked ignore"
	case c.Type == table.Datetime:
		return "left out: a date or time — new data is later by construction"
	}
	return ""
}

func want(c table.Column) bool { return leftOut(c) == "" }

// readColumns reads a table into drift columns: integer and float columns
// numeric (missing values NaN), the others categorical (missing ""); the
// columns leftOut names come with their reason and no values, the target
// with its role. limit, when above 0, bounds the rows.
func readColumns(read func(table.Hooks) (*table.Result, error), limit int64) ([]drift.Column, error) {
	var picked []int // indexes of the wanted columns, set once detection is done
	var pick sync.Once
	var n atomic.Int64
	res, rows, err := table.Collect(read, func(cols []table.Column, r *table.Row) ([]cell, error) {
		pick.Do(func() { picked = wanted(cols, want) })
		if limit > 0 && n.Add(1) > limit {
			return nil, core.Errorf(core.Invalid, "The file has more than %d rows; import it as a dataset version and compare versions instead.", maxCSVRows)
		}
		row := make([]cell, len(picked))
		for k, i := range picked {
			switch {
			case cols[i].Type.Kind() == table.Number:
				row[k].num = r.Num[i] // NaN when missing
			case !r.Null[i]:
				row[k].cat = string(r.Fields[i])
			}
		}
		return row, nil
	})
	if err != nil {
		return nil, err
	}
	all := res.Detected.Columns
	var cols []drift.Column
	k := 0
	for _, c := range all {
		if why := leftOut(c); why != "" {
			cols = append(cols, drift.Column{Name: c.Name, Kind: drift.Categorical, Skip: why})
			continue
		}
		role := ""
		if c.Role == table.Target {
			role = drift.RoleTarget
		}
		if c.Type.Kind() == table.Number {
			nums := make([]float64, len(rows))
			for r, row := range rows {
				nums[r] = row[k].num
			}
			cols = append(cols, drift.Column{Name: c.Name, Kind: drift.Numeric, Num: nums, Role: role})
		} else {
			cats := make([]string, len(rows))
			for r, row := range rows {
				cats[r] = row[k].cat
			}
			cols = append(cols, drift.Column{Name: c.Name, Kind: drift.Categorical, Cat: cats, Role: role})
		}
		k++
	}
	return cols, nil
}

func wanted(cols []table.Column, want func(table.Column) bool) []int {
	var idx []int
	for i, c := range cols {
		if want == nil || want(c) {
			idx = append(idx, i)
		}
	}
	return idx
}
