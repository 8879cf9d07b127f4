package monitor

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/table"
)

// DatasetWriter is what turning traffic into training data needs of the
// dataset service: the reference version's schema and an import.
type DatasetWriter interface {
	Version(id string) (dataset.Version, error)
	ImportPath(ctx context.Context, path string, opts dataset.Options) (dataset.Version, error)
}

// TrafficOptions choose what TrafficDataset keeps and where it goes.
type TrafficOptions struct {
	// From and To bound the requests' times (zero: unbounded).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// Dataset is the name of the dataset that gets the new version;
	// default: the dataset of the monitor's reference version (the data
	// the model was trained on), so the new version continues it.
	Dataset string `json:"dataset,omitempty"`
	// Label names the label column when the reference data has no target
	// column; default "label".
	Label string `json:"label,omitempty"`
	// ImportID names the import for progress events and Cancel.
	ImportID string `json:"importId,omitempty"`
}

// TrafficResult is the version written and what was left out.
type TrafficResult struct {
	Version dataset.Version `json:"version"`
	// Skipped counts labels left out, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// Reasons a label's row is left out of a traffic dataset.
const (
	skipUnmatched  = "no logged request with that ID"
	skipOutOfRange = "request outside the time range"
	skipFailed     = "the request failed"
	skipShadow     = "a shadow copy"
	skipNoRow      = "the request has no such row"
)

// TrafficDataset writes the inputs a deployment logged, joined with the
// labels that arrived for them (the realised-performance join), as a new
// version of a dataset: the reference data's columns in its order, the
// target column holding the label, one row per labelled input row. The
// version's Origin names the deployment, the model versions that
// answered, the time range and the label files. Nothing is written when
// no row qualifies.
func (s *Service) TrafficDataset(ctx context.Context, monitorID string, opt TrafficOptions) (*TrafficResult, error) {
	if s.datasets == nil {
		return nil, core.Errorf(core.Unavailable, "Datasets are not available here, so traffic cannot become a dataset version.")
	}
	m, err := s.Monitor(monitorID)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindDeployment {
		return nil, core.Errorf(core.Invalid, "Monitor %q watches dataset versions, not a deployment: it has no traffic.", m.Name)
	}
	if !opt.From.IsZero() && !opt.To.IsZero() && !opt.To.After(opt.From) {
		return nil, core.Errorf(core.Invalid, "The time range ends (%s) before it starts (%s).", opt.To.Format(time.RFC3339), opt.From.Format(time.RFC3339))
	}
	var ref *dataset.Version
	if m.RefVersion != "" {
		v, err := s.datasets.Version(m.RefVersion)
		if err != nil {
			return nil, err
		}
		ref = &v
	}
	name := opt.Dataset
	if name == "" {
		if ref == nil {
			return nil, core.Errorf(core.Invalid, "Monitor %q has no reference dataset version: name the dataset the traffic should go to.", m.Name)
		}
		name = ref.Dataset
	}
	labels, err := s.labelsOf(m.Deployment)
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		return nil, core.Errorf(core.NotFound, "Deployment %s has no labels yet: drop a label file (request_id, label) on its monitor first.", m.Deployment)
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

	// Join: one output row per label whose request qualifies.
	type row struct {
		at     int64 // the request's time, then its row: rows come in the order they were served
		n      int
		values map[string]any
		label  string
	}
	var rows []row
	skipped := map[string]int{}
	backends := map[string]bool{}
	requests := 0
	var parsedID string
	var parsed []map[string]any
	for i, l := range labels {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, core.Errorf(core.Unavailable, "Making a dataset from the traffic was cancelled; nothing was written.")
		}
		rec, ok := recs[l.RequestID]
		switch {
		case !ok:
			skipped[skipUnmatched]++
			continue
		case rec.Shadow:
			skipped[skipShadow]++
			continue
		case rec.Status < 200 || rec.Status >= 300:
			skipped[skipFailed]++
			continue
		}
		at := time.Unix(0, rec.Time)
		if (!opt.From.IsZero() && at.Before(opt.From)) || (!opt.To.IsZero() && !at.Before(opt.To)) {
			skipped[skipOutOfRange]++
			continue
		}
		if parsedID != l.RequestID {
			parsedID, parsed = l.RequestID, nil
			if p, err := ParseRequest(rec.Request); err == nil {
				parsed = p
			}
			if parsed != nil {
				requests++
			}
		}
		if l.Row < 0 || l.Row >= len(parsed) {
			skipped[skipNoRow]++
			continue
		}
		backends[rec.Backend] = true
		rows = append(rows, row{at: rec.Time, n: l.Row, values: parsed[l.Row], label: l.Value})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].at != rows[j].at {
			return rows[i].at < rows[j].at
		}
		return rows[i].n < rows[j].n
	})
	if len(rows) == 0 {
		return nil, core.Errorf(core.NotFound, "No labelled prediction of %s qualifies%s: %s.", m.Deployment, rangeWords(opt), skippedWords(skipped))
	}

	// Columns: the reference data's, in its order, the target holding the
	// label; without reference data, the inputs' names as first seen.
	var cols []string
	target := opt.Label
	if ref != nil {
		for _, c := range ref.Schema {
			cols = append(cols, c.Name)
			if c.Role == table.Target && opt.Label == "" {
				target = c.Name
			}
		}
	}
	if target == "" {
		target = "label"
	}
	if ref == nil {
		seen := map[string]bool{}
		for _, r := range rows {
			keys := make([]string, 0, len(r.values))
			for k := range r.values {
				keys = append(keys, k)
			}
			sort.Strings(keys) // a JSON object's order is not kept by the parse
			for _, k := range keys {
				if !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
	}
	if !slices.Contains(cols, target) {
		cols = append(cols, target)
	}
	// The file's name is the version's source name, so it says what it is.
	dir, err := os.MkdirTemp("", "tern-traffic-")
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write a temporary file for the traffic: %v", err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, fileName(m.Name)+" labelled "+s.clock.Now().UTC().Format("2006-01-02 1504")+".csv"))
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write a temporary file for the traffic: %v", err)
	}
	w := csv.NewWriter(f)
	w.Write(cols)
	rec := make([]string, len(cols))
	for _, r := range rows {
		for i, c := range cols {
			if c == target {
				rec[i] = r.label
			} else {
				rec[i] = csvField(r.values[c])
			}
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write a temporary file for the traffic: %v", err)
	}
	if err := f.Close(); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern could not write a temporary file for the traffic: %v", err)
	}
	files, err := s.labelFiles(m.Deployment)
	if err != nil {
		return nil, err
	}
	origin := &dataset.Origin{Kind: "traffic", Deployment: m.Deployment, Monitor: m.ID, From: opt.From, To: opt.To,
		Requests: requests, Rows: len(rows), Labels: files}
	for b := range backends {
		origin.Backends = append(origin.Backends, b)
	}
	sort.Strings(origin.Backends)
	if len(skipped) > 0 {
		origin.Skipped = skipped
	}
	v, err := s.datasets.ImportPath(ctx, f.Name(), dataset.Options{Name: name, ImportID: opt.ImportID, Origin: origin, Target: target})
	if err != nil {
		return nil, err
	}
	res := &TrafficResult{Version: v}
	if len(skipped) > 0 {
		res.Skipped = skipped
	}
	return res, nil
}

// fileName keeps a name usable as a file name on every system.
func fileName(s string) string {
	out := []rune{}
	for _, r := range s {
		if strings.ContainsRune(`/\:*?"<>|`, r) || r < 32 {
			r = '-'
		}
		out = append(out, r)
	}
	if len(out) > 60 {
		out = out[:60]
	}
	return string(out)
}

// labelFiles lists the label files a deployment received, oldest first.
func (s *Service) labelFiles(deployment string) ([]dataset.LabelFile, error) {
	var out []dataset.LabelFile
	err := s.db.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = store.Key(prefixLabelFile, []byte(deployment), []byte{0})
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var f dataset.LabelFile
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &f) }); err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The label files of %q could not be read.", deployment)
	}
	return out, nil
}

// csvField writes one parsed JSON value as CSV text: numbers in the shortest
// form that reads back exactly, missing values empty.
func csvField(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func rangeWords(opt TrafficOptions) string {
	switch {
	case opt.From.IsZero() && opt.To.IsZero():
		return ""
	case opt.To.IsZero():
		return " since " + opt.From.Format(time.RFC3339)
	case opt.From.IsZero():
		return " before " + opt.To.Format(time.RFC3339)
	}
	return fmt.Sprintf(" between %s and %s", opt.From.Format(time.RFC3339), opt.To.Format(time.RFC3339))
}

func skippedWords(skipped map[string]int) string {
	if len(skipped) == 0 {
		return "nothing was labelled"
	}
	keys := make([]string, 0, len(skipped))
	for k := range skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d labels: %s", skipped[k], k)
	}
	return out
}
