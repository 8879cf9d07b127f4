package monitor

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
)

// maxCSVRows bounds an uploaded comparison file so a wrong drop cannot
// exhaust memory; a profile of a bigger table is built from a dataset
// version instead.
const maxCSVRows = 5_000_000

// ReadCSV reads an uploaded CSV (header row first) into columns. A column
// whose non-empty cells all parse as numbers is numeric; any other is
// categorical. Empty cells, NA, NaN and null are missing values.
func ReadCSV(r io.Reader) ([]drift.Column, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err == io.EOF {
		return nil, core.Errorf(core.Invalid, "The file is empty: a header row with column names is needed.")
	}
	if err != nil {
		return nil, core.Errorf(core.Invalid, "The file is not valid CSV: %s.", plainCSV(err))
	}
	names := append([]string(nil), header...)
	raw := make([][]string, len(names))
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, core.Errorf(core.Invalid, "Row %d is not valid CSV: %s.", line, plainCSV(err))
		}
		if line-1 > maxCSVRows {
			return nil, core.Errorf(core.Invalid, "The file has more than %d rows; import it as a dataset version and compare versions instead.", maxCSVRows)
		}
		for i := range names {
			raw[i] = append(raw[i], strings.TrimSpace(rec[i]))
		}
	}
	cols := make([]drift.Column, len(names))
	for i, n := range names {
		cols[i] = typed(strings.TrimSpace(n), raw[i])
	}
	return cols, nil
}

func plainCSV(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "unreadable"
}

func missing(s string) bool {
	switch strings.ToLower(s) {
	case "", "na", "nan", "null", "none", "n/a":
		return true
	}
	return false
}

func typed(name string, cells []string) drift.Column {
	nums := make([]float64, len(cells))
	numeric := true
	for i, s := range cells {
		if missing(s) {
			nums[i] = math.NaN()
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			numeric = false
			break
		}
		nums[i] = f
	}
	if numeric {
		return drift.Column{Name: name, Kind: drift.Numeric, Num: nums}
	}
	cats := make([]string, len(cells))
	for i, s := range cells {
		if !missing(s) {
			cats[i] = s
		}
	}
	return drift.Column{Name: name, Kind: drift.Categorical, Cat: cats}
}
