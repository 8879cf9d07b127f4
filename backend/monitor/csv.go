package monitor

import (
	"context"
	"io"
	"os"
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
	})
}

// readCSVFile reads a comparison file on this machine (Parquet too).
func readCSVFile(ctx context.Context, path string) ([]drift.Column, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, core.Errorf(core.NotFound, "The file %s cannot be opened.", path)
	}
	return readColumns(func(h table.Hooks) (*table.Result, error) {
		return table.ReadFile(ctx, path, table.Options{}, h)
	})
}

// cell is one field as a comparison keeps it.
type cell struct {
	num float64
	cat string
}

func readColumns(read func(table.Hooks) (*table.Result, error)) ([]drift.Column, error) {
	var n atomic.Int64
	res, rows, err := table.Collect(read, func(cols []table.Column, r *table.Row) ([]cell, error) {
		if n.Add(1) > maxCSVRows {
			return nil, core.Errorf(core.Invalid, "The file has more than %d rows; import it as a dataset version and compare versions instead.", maxCSVRows)
		}
		row := make([]cell, len(cols))
		for i, c := range cols {
			switch {
			case c.Type.Kind() == table.Number:
				row[i].num = r.Num[i] // NaN when missing
			case !r.Null[i]:
				row[i].cat = string(r.Fields[i])
			}
		}
		return row, nil
	})
	if err != nil {
		return nil, err
	}
	cols := make([]drift.Column, len(res.Detected.Columns))
	for j, c := range res.Detected.Columns {
		if c.Type.Kind() == table.Number {
			nums := make([]float64, len(rows))
			for i, row := range rows {
				nums[i] = row[j].num
			}
			cols[j] = drift.Column{Name: c.Name, Kind: drift.Numeric, Num: nums}
			continue
		}
		cats := make([]string, len(rows))
		for i, row := range rows {
			cats[i] = row[j].cat
		}
		cols[j] = drift.Column{Name: c.Name, Kind: drift.Categorical, Cat: cats}
	}
	return cols, nil
}
