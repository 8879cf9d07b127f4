package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout, continued:
//
//	0x53 deployment 0x00 request id 0x00 U64(row) -> label (canonical text)
//	0x54 monitor id                 -> Performance (JSON; the latest, aggregates only)
//	0x55 deployment 0x00 U64(ns)    -> dataset.LabelFile (JSON; one per label file received)
const (
	prefixLabel       = store.PrefixMonitor + 3
	prefixPerformance = store.PrefixMonitor + 4
	prefixLabelFile   = store.PrefixMonitor + 5
)

// LabelOptions tune how realised performance is computed; zero values
// keep what the monitor has (auto task, auto window).
type LabelOptions struct {
	// Task forces classification or regression.
	Task string `json:"task,omitempty"`
	// Window is the width of a time window (nanoseconds in JSON).
	Window time.Duration `json:"window,omitempty"`
	// Source names the label file (its base name), kept in the lineage of
	// datasets made from the traffic it labels.
	Source string `json:"source,omitempty"`
}

// NewLabelOptions reads the options as a person types them: task ("" for
// auto, classification or regression) and window ("" for auto, or a Go
// duration such as 1h).
func NewLabelOptions(task, window string) (LabelOptions, error) {
	opt := LabelOptions{Task: task}
	if window != "" {
		d, err := time.ParseDuration(window)
		if err != nil || d <= 0 {
			return LabelOptions{}, core.Errorf(core.Invalid, "The window %q is not a duration such as 15m or 1h.", window)
		}
		opt.Window = d
	}
	return opt, nil
}

// LabelResult is what a label file did.
type LabelResult struct {
	Added       int          `json:"added"` // labels in the file (a label given again replaces the old one)
	Performance *Performance `json:"performance"`
	// ReportID is the report made right after, which carries the realised
	// metrics and any alert they raised ("" when the run failed: RunError).
	ReportID string  `json:"reportId,omitempty"`
	Alerts   []Alert `json:"alerts,omitempty"`
	RunError string  `json:"runError,omitempty"`
}

func labelKey(deployment, id string, row int) []byte {
	return store.Key(prefixLabel, []byte(deployment), []byte{0}, []byte(id), []byte{0}, store.U64(uint64(row)))
}

// IngestLabelsFile is IngestLabels of a label file on this machine, which
// must be a regular file of at most MaxLabelBytes.
func (s *Service) IngestLabelsFile(ctx context.Context, monitorID, path string, opt LabelOptions) (*LabelResult, error) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, core.Errorf(core.NotFound, "The label file %s cannot be opened.", path)
	}
	if st.Size() > MaxLabelBytes {
		return nil, core.Errorf(core.Invalid, "The label file %s is larger than %d MB; split it.", path, MaxLabelBytes>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, core.Errorf(core.NotFound, "The label file %s cannot be read.", path)
	}
	if opt.Source == "" {
		opt.Source = filepath.Base(path)
	}
	return s.IngestLabels(ctx, monitorID, data, opt)
}

// IngestLabels parses a label file, keeps its labels for the monitor's
// deployment, recomputes realised performance over every label held and
// runs the monitor, so its rules (realised_metric among them) are
// evaluated and the new report shows the metrics.
func (s *Service) IngestLabels(ctx context.Context, monitorID string, data []byte, opt LabelOptions) (*LabelResult, error) {
	m, err := s.Monitor(monitorID)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindDeployment {
		return nil, core.Errorf(core.Invalid, "Labels join logged predictions; monitor %q watches dataset versions, not a deployment.", m.Name)
	}
	if opt.Task != "" && opt.Task != TaskClassification && opt.Task != TaskRegression {
		return nil, core.Errorf(core.Invalid, "Unknown task %q (use classification or regression).", opt.Task)
	}
	if opt.Window < 0 {
		return nil, core.Errorf(core.Invalid, "The window width cannot be negative.")
	}
	labels, err := ParseLabels(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	file := dataset.LabelFile{Name: opt.Source, SHA256: hex.EncodeToString(sum[:]), Labels: len(labels), Received: s.clock.Now().UTC()}
	if file.Name == "" {
		file.Name = "labels"
	}
	if err := s.storeLabels(m.Deployment, file, labels); err != nil {
		return nil, err
	}
	if opt.Task != "" || opt.Window > 0 {
		s.mu.Lock()
		if cur, err := s.Monitor(monitorID); err == nil {
			if opt.Task != "" {
				cur.Task = opt.Task
			}
			if opt.Window > 0 {
				cur.PerfWindow = opt.Window
			}
			err = s.put(prefixMonitor, cur.ID, cur)
		}
		s.mu.Unlock()
	}
	res := &LabelResult{Added: len(labels)}
	rep, err := s.RunMonitor(ctx, monitorID)
	if err != nil {
		// The labels are kept; the metrics are still worth showing.
		res.RunError = core.ErrorMessage(err)
		m, _ = s.Monitor(monitorID)
		if res.Performance, err = s.refreshPerformance(m); err != nil {
			return nil, err
		}
		return res, nil
	}
	res.ReportID, res.Alerts, res.Performance = rep.ID, rep.Alerts, rep.Performance
	return res, nil
}

// storeLabels writes labels in transactions of what Badger allows; a
// label is an idempotent put, so a failure part-way is repaired by sending
// the file again and never leaves a half-written label.
func (s *Service) storeLabels(deployment string, file dataset.LabelFile, labels []Label) error {
	txn := s.db.DB.NewTransaction(true)
	defer func() { txn.Discard() }()
	if err := audit.Append(txn, audit.Record{Action: "labels.ingest", Objects: []audit.Object{{Kind: "deployment", ID: deployment}}, After: fmt.Sprintf("%d labels from %s", len(labels), file.Name)}); err != nil {
		return core.Wrap(err, core.Unavailable, "The labels could not be saved.")
	}
	if err := store.SetJSON(txn, store.Key(prefixLabelFile, []byte(deployment), []byte{0}, store.U64(uint64(file.Received.UnixNano()))), file); err != nil {
		return core.Wrap(err, core.Unavailable, "The labels could not be saved.")
	}
	for _, l := range labels {
		k, v := labelKey(deployment, l.RequestID, l.Row), []byte(l.Value)
		err := txn.Set(k, v)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err == nil {
				txn = s.db.DB.NewTransaction(true)
				err = txn.Set(k, v)
			}
		}
		if err != nil {
			return core.Wrap(err, core.Unavailable, "The labels could not be saved.")
		}
	}
	if err := txn.Commit(); err != nil {
		return core.Wrap(err, core.Unavailable, "The labels could not be saved.")
	}
	return nil
}

// labelsOf reads every label held for a deployment.
func (s *Service) labelsOf(deployment string) ([]Label, error) {
	prefix := store.Key(prefixLabel, []byte(deployment), []byte{0})
	var out []Label
	err := s.db.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = prefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			tail := item.Key()[len(prefix):]
			if len(tail) < 10 || tail[len(tail)-9] != 0 {
				continue // not a label key of this layout
			}
			id := string(tail[:len(tail)-9])
			row := int(binary.BigEndian.Uint64(tail[len(tail)-8:]))
			if err := item.Value(func(v []byte) error {
				out = append(out, Label{RequestID: id, Row: row, Value: string(v)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The labels of %q could not be read.", deployment)
	}
	return out, nil
}

// refreshPerformance recomputes a deployment monitor's realised
// performance from its labels and stores it; nil when it has no labels.
func (s *Service) refreshPerformance(m Monitor) (*Performance, error) {
	if m.Kind != KindDeployment {
		return nil, nil
	}
	labels, err := s.labelsOf(m.Deployment)
	if err != nil || len(labels) == 0 {
		return nil, err
	}
	ids := make([]string, 0, len(labels))
	for i, l := range labels {
		if i == 0 || l.RequestID != labels[i-1].RequestID { // keys are sorted: rows of one ID are adjacent
			ids = append(ids, l.RequestID)
		}
	}
	recs, err := predlog.LookupRequests(s.db, m.Deployment, ids)
	if err != nil {
		return nil, err
	}
	pairs, unmatched, unusable := joinLabels(recs, labels)
	perf := computePerformance(pairs, m.PerfWindow, m.Task)
	perf.Deployment, perf.Labels, perf.Matched, perf.Unmatched, perf.Unusable = m.Deployment, len(labels), len(pairs), unmatched, unusable
	perf.Updated = s.clock.Now().UTC()
	if perf.Windows == nil {
		perf.Windows = []PerfWindow{}
	}
	if len(pairs) == 0 {
		perf.Notes = append(perf.Notes, "No label matched a logged prediction yet: check that the request IDs are the X-Request-Id values the deployment returned.")
	}
	if unusable > 0 {
		perf.Notes = append(perf.Notes, "Some labels point at a request that got an error, or at a row its answer does not have; they are counted as unusable, not scored.")
	}
	b, err := json.Marshal(perf)
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The realised performance could not be encoded.")
	}
	if err := s.db.DB.Update(func(txn *badger.Txn) error { return txn.Set(store.Key(prefixPerformance, []byte(m.ID)), b) }); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "The realised performance could not be saved.")
	}
	return &perf, nil
}

// Performance returns the stored realised performance of a monitor.
func (s *Service) Performance(monitorID string) (*Performance, error) {
	if _, err := s.Monitor(monitorID); err != nil {
		return nil, err
	}
	var p Performance
	if err := s.get(prefixPerformance, monitorID, &p, "realised performance of monitor"); err != nil {
		if core.ErrorCode(err) == core.NotFound {
			return nil, core.Errorf(core.NotFound, "Monitor %s has no labels yet: drop a label file (request_id, label) first.", monitorID)
		}
		return nil, err
	}
	return &p, nil
}
