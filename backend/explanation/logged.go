package explanation

import (
	"bytes"
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/modelserver"
	"github.com/tern-studio/tern/backend/predlog"
)

// Deployments is what explaining a logged prediction needs of the
// deployments: which version a backend of a deployment serves.
type Deployments interface {
	Get(id string) (deployment.Deployment, error)
}

// Logged is a logged prediction explained later: which request, which of
// its rows, and the row's Local explanation by the version that answered.
type Logged struct {
	Local
	RequestID string `json:"requestId"`
	Backend   string `json:"backend"`
	Time      int64  `json:"time"` // unix nanoseconds, as logged
	Row       int    `json:"row"`  // 0-based
	Rows      int    `json:"rows"` // rows the request carried
}

// Logged explains row (0-based) of a prediction the deployment's router
// logged under requestID: the request body is read back from the
// prediction log, decoded against the answering version's signature as its
// server decoded it, and explained by that version (Local).
func (s *Service) Logged(ctx context.Context, deploymentID, requestID string, row int) (Logged, error) {
	if s.Deployments == nil {
		return Logged{}, core.Errorf(core.Unavailable, "Logged predictions cannot be explained: there are no deployments here.")
	}
	if !core.ValidRequestID(requestID) {
		return Logged{}, core.Errorf(core.Invalid, "%q is not a request ID.", clipText(requestID))
	}
	dep, err := s.Deployments.Get(deploymentID)
	if err != nil {
		return Logged{}, err
	}
	recs, err := predlog.LookupRequests(s.db, dep.ID, []string{requestID})
	if err != nil {
		return Logged{}, err
	}
	rec, ok := recs[requestID]
	if !ok {
		return Logged{}, core.Errorf(core.NotFound, "%s has no logged prediction with request ID %s.", dep.Name, requestID)
	}
	if rec.Status != 200 {
		return Logged{}, core.Errorf(core.Invalid, "Request %s failed (status %d), so there is no prediction to explain.", requestID, rec.Status)
	}
	model, version, err := servedBy(dep, rec.Backend)
	if err != nil {
		return Logged{}, err
	}
	mv, err := s.models.Version(model, strconv.Itoa(version))
	if err != nil {
		return Logged{}, core.Wrap(err, core.NotFound, "%s v%d, which answered request %s, is no longer registered.", model, version, requestID)
	}
	records, err := loggedRows(rec, mv.Signature)
	if err != nil {
		return Logged{}, err
	}
	if row < 0 || row >= len(records) {
		return Logged{}, core.Errorf(core.Invalid, "Request %s carried %d row(s); there is no row %d.", requestID, len(records), row+1)
	}
	l, err := s.Local(ctx, model, version, records[row])
	if err != nil {
		return Logged{}, err
	}
	return Logged{Local: l, RequestID: requestID, Backend: rec.Backend, Time: rec.Time, Row: row, Rows: len(records)}, nil
}

// servedBy names the version behind a backend of dep. A backend since
// retired keeps its name, "v<version>" of the deployment's model.
func servedBy(dep deployment.Deployment, backend string) (string, int, error) {
	for _, b := range dep.Backends {
		if b.Backend == backend {
			return b.Model, b.Version, nil
		}
	}
	if v, err := strconv.Atoi(strings.TrimPrefix(backend, "v")); err == nil && strings.HasPrefix(backend, "v") {
		return dep.Model, v, nil
	}
	return "", 0, core.Errorf(core.NotFound, "Tern cannot tell which version of %s answered through %q.", dep.Model, backend)
}

// loggedRows decodes a logged request body the way the model server did:
// MLflow scoring (JSON or CSV) on /invocations, Open Inference on
// .../infer. A body the log clipped cannot be read back whole.
func loggedRows(rec predlog.Record, sig modelfmt.Signature) ([]map[string]any, error) {
	body := rec.Request
	var b *modelserver.Batch
	var rerr *modelserver.RequestError
	switch {
	case strings.HasSuffix(rec.Path, "/infer"):
		b, _, rerr = modelserver.DecodeV2(body, sig)
	case strings.HasPrefix(rec.Path, "/invocations"):
		ct := "application/json"
		if t := bytes.TrimLeft(body, " \t\r\n\xef\xbb\xbf"); len(t) > 0 && t[0] != '{' {
			ct = "text/csv"
		}
		b, rerr = modelserver.DecodeMLflow(ct, body, sig)
	default:
		return nil, core.Errorf(core.Invalid, "The logged request went to %s, which is not a prediction.", clipText(rec.Path))
	}
	if rerr != nil {
		return nil, core.Errorf(core.Invalid, "The logged request cannot be read back (it may have been clipped when logged): %s", rerr.Msg)
	}
	out := make([]map[string]any, b.NRows)
	for r := range out {
		rec := make(map[string]any, b.NCols)
		for c, col := range sig.Inputs {
			switch {
			case b.Text[c] != nil:
				if v := b.Text[c][r]; v != "" {
					rec[col.Name] = v
				} else {
					rec[col.Name] = nil
				}
			case math.IsNaN(b.X[r*b.NCols+c]):
				rec[col.Name] = nil
			default:
				rec[col.Name] = b.X[r*b.NCols+c]
			}
		}
		out[r] = rec
	}
	return out, nil
}

func clipText(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Deployed is the stored explanation of the version a deployment serves
// most of its traffic to (its stable version); ok is false when that
// version has none yet. Drift reports weight columns by it.
func (s *Service) Deployed(deploymentID string) (g Global, ok bool, err error) {
	if s.Deployments == nil {
		return Global{}, false, nil
	}
	dep, err := s.Deployments.Get(deploymentID)
	if err != nil {
		return Global{}, false, err
	}
	best, w := "", -1.0
	for _, sp := range dep.Traffic.Split {
		if sp.Weight > w {
			best, w = sp.Backend, sp.Weight
		}
	}
	if best == "" {
		return Global{}, false, nil
	}
	model, version, err := servedBy(dep, best)
	if err != nil {
		return Global{}, false, err
	}
	return s.Get(model, version)
}
