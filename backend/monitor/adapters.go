package monitor

import (
	"context"
	"time"

	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
)

// DatasetTables reads dataset versions as columns, following each
// version's schema: integer and float columns are numeric; boolean,
// categorical and text are categorical; datetimes and columns whose role is
// id or ignore are left out with their reason (see leftOut), and the target
// keeps its role (its drift is reported apart).
type DatasetTables struct{ Datasets *dataset.Service }

func (d DatasetTables) ReadColumns(ctx context.Context, id string) ([]drift.Column, error) {
	v, err := d.Datasets.Version(id)
	if err != nil {
		return nil, err
	}
	path, err := d.Datasets.VersionFile(id)
	if err != nil {
		return nil, err
	}
	// The version's own reader and settings: the values its profile
	// counted, whatever its format, encoding or missing-value tokens.
	return readColumns(func(h table.Hooks) (*table.Result, error) {
		return table.ReadFile(ctx, path, v.Reading(), h)
	}, 0)
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
