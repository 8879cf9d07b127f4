package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout of the monitoring range (0x50–0x5f):
//
//	0x50 monitor id -> Monitor (JSON)
//	0x51 report id  -> Report (JSON; aggregates only, ~kB per column)
//	0x52 alert id   -> Alert (JSON)
//
// IDs are time-ordered, so reverse iteration is newest first. Reference
// profiles can be megabytes and live as files under <data>/monitor/profiles.
const (
	prefixMonitor = store.PrefixMonitor
	prefixReport  = store.PrefixMonitor + 1
	prefixAlert   = store.PrefixMonitor + 2
)

// Source kinds a monitor can hold.
const (
	KindDeployment = "deployment" // prediction log vs a frozen profile
	KindVersions   = "versions"   // two dataset versions
)

// Monitor is a stored comparison run per window, with its alert rules.
type Monitor struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Deployment string `json:"deployment,omitempty"`
	RefVersion string `json:"refVersion,omitempty"`
	CurVersion string `json:"curVersion,omitempty"`
	ProfileID  string `json:"profileId,omitempty"`
	// PredictionProfileID is the frozen baseline of the model's outputs,
	// taken from the first window when the reference data holds none.
	PredictionProfileID string        `json:"predictionProfileId,omitempty"`
	Window              Window        `json:"window"`
	Every               time.Duration `json:"every,omitempty"` // run on its own this often; 0 = on demand
	Drift               drift.Options `json:"drift"`
	Rules               []Rule        `json:"rules,omitempty"`
	// Task and PerfWindow tune realised performance once labels arrive
	// ("" and 0: decided from the data).
	Task       string        `json:"task,omitempty"`
	PerfWindow time.Duration `json:"perfWindow,omitempty"`
	Created    time.Time     `json:"created"`
	LastRun    time.Time     `json:"lastRun,omitzero"`
	LastReport string        `json:"lastReport,omitempty"`
}

// ReportSummary is a report without its per-column detail, for lists.
type ReportSummary struct {
	ID        string    `json:"id"`
	Monitor   string    `json:"monitor,omitempty"`
	Title     string    `json:"title"`
	Created   time.Time `json:"created"`
	Drift     bool      `json:"drift"`
	Drifted   int       `json:"drifted"`
	Evaluated int       `json:"evaluated"`
	Share     float64   `json:"share"`
	Alerts    int       `json:"alerts"`
}

// Service keeps monitors, reports and alerts, runs monitors per window and
// raises alerts: an event on the bus ("monitor.alert") and a webhook POST.
type Service struct {
	db       *store.Store
	bus      *core.Bus
	dir      string
	tables   TableReader
	datasets DatasetWriter
	logs     LogReader
	client   *http.Client
	clock    core.Clock
	// sealing seals frozen profiles (nil: plaintext).
	sealing sealed.Key
	// importances weight deployment drift (nil: not weighted).
	importances Importances
	mu          sync.Mutex // one run per monitor at a time is enough for a laptop
	wg          sync.WaitGroup
}

// Config wires a Service. Tables and Logs may be nil (those monitor kinds
// then answer "unavailable").
type Config struct {
	Store   *store.Store
	Bus     *core.Bus
	DataDir string
	Tables  TableReader
	// Datasets receive the versions made from labelled traffic (nil:
	// TrafficDataset answers "unavailable").
	Datasets DatasetWriter
	Logs     LogReader
	Client   *http.Client
	// Clock stamps monitors, reports and performance and decides which
	// scheduled monitors are due; nil is the wall clock.
	Clock core.Clock
	// Sealing seals frozen profiles at rest (they hold a dataset's
	// category values); nil keeps them plain.
	Sealing sealed.Key
	// Importances, when set, weight a deployment monitor's drift by the
	// deployed version's explanation.
	Importances Importances
}

func NewService(c Config) *Service {
	s := &Service{db: c.Store, bus: c.Bus, dir: filepath.Join(c.DataDir, "monitor"), tables: c.Tables, datasets: c.Datasets, logs: c.Logs, client: c.Client, clock: core.OrSystem(c.Clock), sealing: c.Sealing, importances: c.Importances}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.bus == nil {
		s.bus = core.NewBus()
	}
	return s
}

// put writes v, with the audit records of the change when it is one a
// person made (bookkeeping such as a monitor's last-run time has none).
func (s *Service) put(prefix byte, id string, v any, recs ...audit.Record) error {
	b, err := json.Marshal(v)
	if err != nil {
		return core.Wrap(err, core.Internal, "Could not encode %s.", id)
	}
	return s.db.DB.Update(func(txn *badger.Txn) error {
		for _, r := range recs {
			if err := audit.Append(txn, r); err != nil {
				return err
			}
		}
		return txn.Set(store.Key(prefix, []byte(id)), b)
	})
}

func monitorObj(m Monitor) []audit.Object {
	return []audit.Object{{Kind: "monitor", ID: m.ID, Name: m.Name}}
}

func (s *Service) get(prefix byte, id string, v any, what string) error {
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return store.GetJSON(txn, store.Key(prefix, []byte(id)), v)
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, "There is no %s %q.", what, id)
	}
	if err != nil {
		return core.Wrap(err, core.Internal, "The %s %q could not be read.", what, id)
	}
	return nil
}

func (s *Service) list(prefix byte, limit int, each func([]byte) error) error {
	return s.db.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Reverse = true
		opt.Prefix = []byte{prefix}
		it := txn.NewIterator(opt)
		defer it.Close()
		n := 0
		for it.Seek(store.PrefixEnd([]byte{prefix})); it.ValidForPrefix([]byte{prefix}); it.Next() {
			if limit > 0 && n >= limit {
				break
			}
			if err := it.Item().Value(each); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}

// FreezeProfile stores a reference profile from columns and returns its ID.
// The file is written to a temp name and renamed, so a crash leaves none.
func (s *Service) FreezeProfile(cols []drift.Column) (string, error) {
	p := drift.BuildProfile(cols, drift.ProfileOptions{})
	id := core.NewID()
	dir := filepath.Join(s.dir, "profiles")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", core.Wrap(err, core.Unavailable, "The profile folder cannot be created.")
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", core.Wrap(err, core.Internal, "The profile could not be encoded.")
	}
	if _, err := s.sealing.WriteFile(filepath.Join(dir, id+".json"), bytes.NewReader(b), 0o600); err != nil {
		return "", core.Wrap(err, core.Unavailable, "The profile could not be saved (disk full?).")
	}
	return id, nil
}

// Profile loads a frozen profile.
func (s *Service) Profile(id string) (*drift.Profile, error) {
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return nil, core.Errorf(core.Invalid, "%q is not a profile ID.", id)
	}
	f, err := s.sealing.Open(filepath.Join(s.dir, "profiles", id+".json"))
	if err != nil {
		return nil, core.Errorf(core.NotFound, "The reference profile %s is missing or cannot be decrypted.", id)
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The reference profile %s cannot be read.", id)
	}
	var p drift.Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, core.Wrap(err, core.Internal, "The reference profile %s is damaged.", id)
	}
	return &p, nil
}

// CreateMonitor validates and stores a monitor. A deployment monitor
// freezes its reference from RefVersion now (unless ProfileID is given):
// later runs never read the reference data again.
func (s *Service) CreateMonitor(ctx context.Context, m Monitor) (Monitor, error) {
	m.Name = strings.TrimSpace(m.Name)
	if m.Name == "" {
		return Monitor{}, core.Errorf(core.Invalid, "A monitor needs a name.")
	}
	for i := range m.Rules {
		if m.Rules[i].ID == "" {
			m.Rules[i].ID = core.NewID()
		}
		if err := m.Rules[i].Validate(); err != nil {
			return Monitor{}, err
		}
	}
	switch m.Kind {
	case KindDeployment:
		if m.Deployment == "" {
			return Monitor{}, core.Errorf(core.Invalid, "Choose the deployment to watch.")
		}
		if m.ProfileID == "" {
			if m.RefVersion == "" {
				return Monitor{}, core.Errorf(core.Invalid, "Choose the dataset version the model was trained on as the reference.")
			}
			if s.tables == nil {
				return Monitor{}, core.Errorf(core.Unavailable, "Datasets are not available in this Tern.")
			}
			cols, err := s.tables.ReadColumns(ctx, m.RefVersion)
			if err != nil {
				return Monitor{}, err
			}
			if m.ProfileID, err = s.FreezeProfile(cols); err != nil {
				return Monitor{}, err
			}
		} else if _, err := s.Profile(m.ProfileID); err != nil {
			return Monitor{}, err
		}
	case KindVersions:
		if m.RefVersion == "" || m.CurVersion == "" {
			return Monitor{}, core.Errorf(core.Invalid, "Choose a reference version and a current version.")
		}
	default:
		return Monitor{}, core.Errorf(core.Invalid, "Unknown monitor kind %q (use deployment or versions).", m.Kind)
	}
	if m.Window.LastN < 0 || m.Window.Last < 0 || m.Every < 0 {
		return Monitor{}, core.Errorf(core.Invalid, "Window sizes and intervals cannot be negative.")
	}
	if m.Kind == KindDeployment && m.Window.LastN == 0 && m.Window.Last == 0 {
		m.Window.LastN = 1000
	}
	m.ID, m.Created = core.NewID(), s.clock.Now().UTC()
	if err := s.put(prefixMonitor, m.ID, m, audit.Record{Action: "monitor.create", Objects: monitorObj(m), After: m.Kind + " " + m.Deployment + m.CurVersion}); err != nil {
		return Monitor{}, err
	}
	return m, nil
}

// Monitors lists monitors, newest first.
func (s *Service) Monitors() ([]Monitor, error) {
	return listAs(s, prefixMonitor, 0, "Monitors", same[Monitor])
}

// Monitor reads one monitor.
func (s *Service) Monitor(id string) (Monitor, error) {
	var m Monitor
	return m, s.get(prefixMonitor, id, &m, "monitor")
}

// SetRules replaces a monitor's alert rules.
func (s *Service) SetRules(id string, rules []Rule) (Monitor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.Monitor(id)
	if err != nil {
		return Monitor{}, err
	}
	for i := range rules {
		if rules[i].ID == "" {
			rules[i].ID = core.NewID()
		}
		if err := rules[i].Validate(); err != nil {
			return Monitor{}, err
		}
	}
	rec := audit.Record{Action: "monitor.rules", Objects: monitorObj(m), Before: fmt.Sprintf("%d rules", len(m.Rules)), After: fmt.Sprintf("%d rules", len(rules))}
	m.Rules = rules
	return m, s.put(prefixMonitor, m.ID, m, rec)
}

// DeleteMonitor removes a monitor; its reports and alerts stay readable.
func (s *Service) DeleteMonitor(id string) error {
	m, err := s.Monitor(id)
	if err != nil {
		return err
	}
	return s.db.DB.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "monitor.delete", Objects: monitorObj(m)}); err != nil {
			return err
		}
		return txn.Delete(store.Key(prefixMonitor, []byte(id)))
	})
}

func (s *Service) source(m Monitor) (Source, error) {
	switch m.Kind {
	case KindDeployment:
		if s.logs == nil {
			return nil, core.Errorf(core.Unavailable, "Prediction logs are not available in this Tern.")
		}
		p, err := s.Profile(m.ProfileID)
		if err != nil {
			return nil, err
		}
		return PredictionLog{Log: s.logs, Deployment: m.Deployment, Ref: p, Clock: s.clock}, nil
	case KindVersions:
		if s.tables == nil {
			return nil, core.Errorf(core.Unavailable, "Datasets are not available in this Tern.")
		}
		return Versions{Tables: s.tables, RefID: m.RefVersion, CurID: m.CurVersion}, nil
	}
	return nil, core.Errorf(core.Invalid, "Unknown monitor kind %q.", m.Kind)
}

// RunMonitor evaluates a monitor on its current window: a report, the
// alerts its rules raise (events now, webhooks in the background).
func (s *Service) RunMonitor(ctx context.Context, id string) (*Report, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.Monitor(id)
	if err != nil {
		return nil, err
	}
	src, err := s.source(m)
	if err != nil {
		return nil, err
	}
	var baseline *drift.Column
	opts := BuildOptions{Title: m.Name, Window: m.Window, Drift: m.Drift, Clock: s.clock}
	if pl, ok := src.(PredictionLog); ok && pl.Ref.Column(PredictionColumn) == nil {
		if m.PredictionProfileID != "" {
			pp, err := s.Profile(m.PredictionProfileID)
			if err != nil {
				return nil, err
			}
			merged := *pl.Ref
			merged.Columns = append(append([]drift.ColumnProfile(nil), pl.Ref.Columns...), pp.Columns...)
			pl.Ref = &merged
			src = pl
		} else {
			opts.Sample = func(cur Sample) {
				for i := range cur.Columns {
					if cur.Columns[i].Name == PredictionColumn {
						baseline = &cur.Columns[i]
					}
				}
			}
		}
	}
	r, err := Build(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	if baseline != nil {
		if id, err := s.FreezeProfile([]drift.Column{*baseline}); err == nil {
			m.PredictionProfileID = id
			r.Notes = append(r.Notes, "The reference data holds no model outputs, so this window's predictions were frozen as their baseline: prediction drift is measured from the next run on.")
		}
	} else if m.PredictionProfileID != "" {
		r.Notes = append(r.Notes, "Prediction drift is measured against the predictions of the monitor's first window.")
	}
	r.Monitor = m.ID
	s.weigh(r, m)
	if r.Performance, err = s.refreshPerformance(m); err != nil {
		return nil, err
	}
	r.Alerts = Evaluate(m.Rules, r, core.NewID)
	if err := s.saveReport(r); err != nil {
		return nil, err
	}
	m.LastRun, m.LastReport = r.Created, r.ID
	if err := s.put(prefixMonitor, m.ID, m); err != nil {
		return nil, err
	}
	s.raise(r.Alerts)
	return r, nil
}

// weigh adds the deployed version's importance to a deployment monitor's
// report, or a note saying why there is none.
func (s *Service) weigh(r *Report, m Monitor) {
	if s.importances == nil || m.Deployment == "" {
		return
	}
	g, ok, err := s.importances.Deployed(m.Deployment)
	switch {
	case err != nil:
		r.Notes = append(r.Notes, "Drift is not weighted by importance: "+core.ErrorMessage(err))
	case !ok:
		r.Notes = append(r.Notes, "Drift is not weighted by importance: the deployed version has no explanation yet (compute one on its model version page).")
	default:
		if r.Importance = weigh(r, g); r.Importance == nil {
			r.Notes = append(r.Notes, fmt.Sprintf("Drift is not weighted by importance: no input column of %s v%d was tested in this window.", g.Model, g.Version))
		}
	}
}

// CompareColumns makes a one-off report (an uploaded file against a frozen
// profile, two files) and stores it.
func (s *Service) CompareColumns(ctx context.Context, title string, ref *drift.Profile, cur []drift.Column, opt drift.Options) (*Report, error) {
	r, err := Build(ctx, Static{Name: title, Ref: ref, Cur: cur}, BuildOptions{Title: title, Drift: opt, Clock: s.clock})
	if err != nil {
		return nil, err
	}
	return r, s.saveReport(r)
}

// CompareFiles compares a current CSV file with a reference CSV file (both
// on this machine) and stores the report.
func (s *Service) CompareFiles(ctx context.Context, refPath, curPath string) (*Report, error) {
	ref, err := readCSVFile(ctx, refPath)
	if err != nil {
		return nil, err
	}
	cur, err := readCSVFile(ctx, curPath)
	if err != nil {
		return nil, err
	}
	return s.CompareColumns(ctx, "Drift of a file", drift.BuildProfile(ref, drift.ProfileOptions{}), cur, drift.Options{})
}

func (s *Service) saveReport(r *Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return core.Wrap(err, core.Internal, "The report could not be encoded.")
	}
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		if err := txn.Set(store.Key(prefixReport, []byte(r.ID)), b); err != nil {
			return err
		}
		objs := []audit.Object{{Kind: "report", ID: r.ID, Name: r.Title}}
		if r.Monitor != "" {
			objs = append(objs, audit.Object{Kind: "monitor", ID: r.Monitor})
		}
		if err := audit.Append(txn, audit.Record{Action: "report.create", Objects: objs, After: fmt.Sprintf("%d rows, %d alerts", r.Rows, len(r.Alerts))}); err != nil {
			return err
		}
		for _, a := range r.Alerts {
			ab, _ := json.Marshal(a)
			if err := txn.Set(store.Key(prefixAlert, []byte(a.ID)), ab); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return core.Wrap(err, core.Unavailable, "The report could not be saved.")
	}
	s.bus.Publish("monitor.report", summarize(r))
	return nil
}

func (s *Service) raise(alerts []Alert) {
	for _, a := range alerts {
		s.bus.Publish("monitor.alert", a)
		if a.Webhook == "" {
			continue
		}
		s.wg.Add(1)
		go func(a Alert) {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a.Delivery = Deliver(ctx, s.client, a)
			_ = s.put(prefixAlert, a.ID, a)
			s.bus.Publish("monitor.alert.delivery", a)
		}(a)
	}
}

// Wait blocks until webhook deliveries in flight are done (shutdown, tests).
func (s *Service) Wait() { s.wg.Wait() }

func summarize(r *Report) ReportSummary {
	out := ReportSummary{ID: r.ID, Monitor: r.Monitor, Title: r.Title, Created: r.Created, Alerts: len(r.Alerts)}
	if r.Drift != nil {
		out.Drift, out.Drifted, out.Evaluated, out.Share = r.Drift.Drift, r.Drift.Drifted, r.Drift.Evaluated, r.Drift.Share
	}
	return out
}

// Reports lists report summaries, newest first.
func (s *Service) Reports(limit int) ([]ReportSummary, error) {
	return listAs(s, prefixReport, limit, "Reports", summarize)
}

// Report reads a stored report.
func (s *Service) Report(id string) (*Report, error) {
	var r Report
	if err := s.get(prefixReport, id, &r, "report"); err != nil {
		return nil, err
	}
	return &r, nil
}

// Alerts lists alerts, newest first.
func (s *Service) Alerts(limit int) ([]Alert, error) {
	return listAs(s, prefixAlert, limit, "Alerts", same[Alert])
}

// listAs reads up to limit records of one kind (0 = all), newest first,
// each decoded as T and kept as conv makes it; what names them in the
// error.
func listAs[T, U any](s *Service, prefix byte, limit int, what string, conv func(*T) U) ([]U, error) {
	out := []U{}
	err := s.list(prefix, limit, func(b []byte) error {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		out = append(out, conv(&v))
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "%s could not be listed.", what)
	}
	return out, nil
}

func same[T any](v *T) T { return *v }

// Start runs monitors that have an interval, each when it is due, until
// ctx ends. A failing run is published as "monitor.error" and retried at
// the next interval; it never stops the loop.
func (s *Service) Start(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = 15 * time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ms, err := s.Monitors()
		if err != nil {
			continue
		}
		for _, m := range ms {
			if m.Every <= 0 || s.clock.Now().Sub(m.LastRun) < m.Every {
				continue
			}
			func() {
				defer func() {
					if p := recover(); p != nil {
						s.bus.Publish("monitor.error", map[string]any{"monitor": m.ID, "message": "the run failed unexpectedly"})
					}
				}()
				if _, err := s.RunMonitor(ctx, m.ID); err != nil {
					s.bus.Publish("monitor.error", map[string]any{"monitor": m.ID, "message": core.ErrorMessage(err)})
				}
			}()
		}
	}
}
