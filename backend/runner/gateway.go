package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/store"
)

// A job that logs with the MLflow client needs a network. Such a job gets
// its own `--internal` Docker network (no route out), and Tern listens on
// that network's gateway address — never 0.0.0.0 — with a listener that
// accepts only the job's own token and lets it write only to its own run.

// kToken holds a tracking job's token (never in the Job JSON, which is
// published to the UI).
const kToken = store.PrefixRunner + 2

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *Runner) saveGate(jobID string, g gateSecret) error {
	b, _ := json.Marshal(g)
	return r.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		return txn.Set(store.Key(kToken, []byte(jobID)), b)
	})
}

func (r *Runner) loadGate(jobID string) gateSecret {
	var g gateSecret
	_ = r.cfg.Store.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(store.Key(kToken, []byte(jobID)))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &g) })
	})
	return g
}

func (r *Runner) dropToken(jobID string) {
	_ = r.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		return txn.Delete(store.Key(kToken, []byte(jobID)))
	})
}

// gateway is one job's tracking listener.
type gateway struct {
	srv  *http.Server
	addr string
}

// maxGatewayBody bounds one request (artifact uploads included).
const maxGatewayBody = 64 << 20

// startGateway listens on addr (host:port; port 0 picks one), which must
// be a specific address, never a wildcard.
func startGateway(addr, runID, token string, api http.Handler) (*gateway, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsUnspecified() {
		return nil, errors.New("the network has no usable gateway address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           scopedToRun(api, runID, token),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = srv.Serve(ln) }()
	return &gateway{srv: srv, addr: ln.Addr().String()}, nil
}

func (g *gateway) stop() {
	if g == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.srv.Shutdown(ctx)
}

// runScoped lists the MLflow endpoints a job may call, all about one run.
var runScoped = map[string]bool{
	"GET /api/2.0/mlflow/runs/get":            true,
	"POST /api/2.0/mlflow/runs/log-batch":     true,
	"POST /api/2.0/mlflow/runs/log-metric":    true,
	"POST /api/2.0/mlflow/runs/log-parameter": true,
	"POST /api/2.0/mlflow/runs/set-tag":       true,
	"POST /api/2.0/mlflow/runs/update":        true,
	"POST /api/2.0/mlflow/runs/log-inputs":    true,
	"POST /api/2.0/mlflow/runs/log-model":     true,
	"GET /api/2.0/mlflow/metrics/get-history": true,
	"GET /api/2.0/mlflow/artifacts/list":      true,
	"GET /api/2.0/mlflow-artifacts/artifacts": true,
}

// scopedToRun lets through only requests carrying token, to an endpoint of
// runScoped, naming runID — or artifact paths inside runID's folder.
func scopedToRun(api http.Handler, runID, token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			httpjson.WriteMLflowError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "This tracking address accepts only the job's own token (MLFLOW_TRACKING_TOKEN).")
			return
		}
		defer audit.Bind(audit.Actor{Face: audit.Job, Who: runID})()
		path := r.URL.Path
		if rest, ok := strings.CutPrefix(path, "/ajax-api/"); ok {
			path = "/api/" + rest
		}
		if strings.HasPrefix(path, "/api/2.0/mlflow-artifacts/artifacts/") {
			// Artifact paths are <experiment>/<run>/artifacts/...: the run's
			// folder must be this run's.
			parts := strings.Split(strings.TrimPrefix(path, "/api/2.0/mlflow-artifacts/artifacts/"), "/")
			if len(parts) < 3 || parts[1] != runID || strings.Contains(path, "..") || (r.Method != http.MethodGet && r.Method != http.MethodPut) {
				httpjson.WriteMLflowError(w, http.StatusForbidden, "PERMISSION_DENIED", "A job may only read and write its own run's artifacts.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxGatewayBody)
			api.ServeHTTP(w, r)
			return
		}
		if !runScoped[r.Method+" "+path] {
			httpjson.WriteMLflowError(w, http.StatusForbidden, "PERMISSION_DENIED", "A job may only log to its own run; "+r.Method+" "+path+" is not allowed here.")
			return
		}
		named := r.URL.Query().Get("run_id") + r.URL.Query().Get("run_uuid")
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20+1))
			if err != nil || len(body) > 4<<20 {
				httpjson.WriteMLflowError(w, http.StatusRequestEntityTooLarge, "INVALID_PARAMETER_VALUE", "The request body is larger than 4 MB.")
				return
			}
			var ids struct {
				RunID   string `json:"run_id"`
				RunUUID string `json:"run_uuid"`
			}
			_ = json.Unmarshal(body, &ids)
			if ids.RunID != "" && ids.RunUUID != "" && ids.RunID != ids.RunUUID {
				named = "two different runs"
			} else {
				named = ids.RunID + ids.RunUUID
				if ids.RunID != "" && ids.RunUUID != "" {
					named = ids.RunID
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		if named != runID {
			httpjson.WriteMLflowError(w, http.StatusForbidden, "PERMISSION_DENIED", "A job may only log to its own run ("+runID+").")
			return
		}
		api.ServeHTTP(w, r)
	})
}
