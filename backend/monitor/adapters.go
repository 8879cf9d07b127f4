package monitor

import (
	"context"
	"encoding/csv"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// DatasetTables reads dataset versions as columns, following each
// version's schema: integer and float columns are numeric; boolean,
// categorical and text are categorical; datetimes and columns whose role is
// id or ignore are left out (an ID drifts by construction).
type DatasetTables struct{ Datasets *dataset.Service }

func (d DatasetTables) ReadColumns(ctx context.Context, id string) ([]drift.Column, error) {
	v, err := d.Datasets.Version(id)
	if err != nil {
		return nil, err
	}
	if v.Format != "csv" {
		return nil, core.Errorf(core.Invalid, "%s v%d is %s; drift reports read CSV versions for now.", v.Dataset, v.Number, v.Format)
	}
	path, err := d.Datasets.VersionFile(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "The file of %s v%d cannot be opened.", v.Dataset, v.Number)
	}
	defer f.Close()
	return readSchemaCSV(ctx, f, v)
}

func readSchemaCSV(ctx context.Context, r io.Reader, v dataset.Version) ([]drift.Column, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	if v.Delimiter != "" {
		cr.Comma = []rune(v.Delimiter)[0]
	}
	nulls := map[string]bool{"": true}
	for _, t := range v.NullTokens {
		nulls[t] = true
	}
	type slot struct {
		idx int
		col drift.Column
	}
	var slots []*slot
	for i, c := range v.Schema {
		if c.Role == dataset.IDRole || c.Role == dataset.Ignore {
			continue
		}
		switch c.Type {
		case dataset.Integer, dataset.Float:
			slots = append(slots, &slot{i, drift.Column{Name: c.Name, Kind: drift.Numeric}})
		case dataset.Boolean, dataset.Categorical, dataset.Text:
			slots = append(slots, &slot{i, drift.Column{Name: c.Name, Kind: drift.Categorical}})
		}
	}
	first := true
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, core.Errorf(core.Invalid, "Row %d of %s v%d cannot be read as CSV.", n+1, v.Dataset, v.Number)
		}
		if first && v.Header {
			first = false
			continue
		}
		first = false
		if n%65536 == 0 && ctx.Err() != nil {
			return nil, core.Wrap(ctx.Err(), core.Unavailable, "Reading %s v%d was cancelled.", v.Dataset, v.Number)
		}
		for _, s := range slots {
			cell := ""
			if s.idx < len(rec) {
				cell = strings.TrimSpace(rec[s.idx])
			}
			if s.col.Kind == drift.Numeric {
				f, err := strconv.ParseFloat(cell, 64)
				if err != nil || nulls[cell] {
					f = math.NaN()
				}
				s.col.Num = append(s.col.Num, f)
			} else {
				if nulls[cell] {
					cell = ""
				}
				s.col.Cat = append(s.col.Cat, strings.Clone(cell))
			}
		}
	}
	out := make([]drift.Column, len(slots))
	for i, s := range slots {
		out[i] = s.col
	}
	return out, nil
}

// ServingLog reads a deployment's prediction log from the store. Shadow
// copies are left out: they are not the traffic the model answered.
type ServingLog struct{ Store *store.Store }

func (s ServingLog) Recent(_ context.Context, deployment string, limit int) ([]LogRecord, error) {
	recs, err := predlog.Read(s.Store, deployment, limit)
	if err != nil {
		return nil, err
	}
	out := make([]LogRecord, 0, len(recs))
	for _, r := range recs {
		if r.Shadow {
			continue
		}
		out = append(out, LogRecord{
			ID: r.RequestID, Time: time.Unix(0, r.Time), LatencyMs: float64(r.LatencyMicros) / 1000, Status: r.Status,
			Request: r.Request, Response: r.Response,
		})
	}
	return out, nil
}
