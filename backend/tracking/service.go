package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/sealed"
	"github.com/tern-studio/tern/backend/store"
)

// Service is the tracking store. Construct with NewService; call Start to
// run crash detection and Stop to end it.
type Service struct {
	db      *badger.DB
	bus     *core.Bus
	artRoot string

	// Now is the clock; tests replace it.
	Now func() time.Time
	// ReapEvery is how often running runs are checked for missed
	// heartbeats (default 5 s).
	ReapEvery time.Duration
	// Sealing seals artifact files at rest (nil: plaintext). Set it before
	// the first artifact is written; a data dir's files are all sealed or
	// all plain (package atrest converts them together).
	Sealing sealed.Key

	mu   sync.RWMutex // guards exps, runs and what they point to
	exps map[string]*Experiment
	runs map[string]*Run

	// Writes to one run are serialised (the cache must follow commit
	// order); writes to different runs go in parallel.
	stripes [128]sync.Mutex
	expMu   sync.Mutex // experiment create/rename

	group groupCommit

	lastEvent sync.Map // runID → time of the last metrics event, for throttling

	stop context.CancelFunc
	done chan struct{}
}

// NewService opens tracking over st, loading the run summaries that search
// works on. Artifacts live under dataDir/artifacts/<runID>/.
func NewService(st *store.Store, bus *core.Bus, dataDir string) (*Service, error) {
	if bus == nil {
		bus = core.NewBus()
	}
	s := &Service{
		db:        st.DB,
		bus:       bus,
		artRoot:   filepath.Join(dataDir, "artifacts"),
		Now:       time.Now,
		ReapEvery: 5 * time.Second,
		exps:      map[string]*Experiment{},
		runs:      map[string]*Run{},
	}
	s.group.db = st.DB
	if err := os.MkdirAll(s.artRoot, 0o700); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot create its artifacts folder in %s.", dataDir)
	}
	if err := s.load(); err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern cannot read its experiment tracking data.")
	}
	if err := s.ensureDefault(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start runs crash detection until Stop; a first pass runs at once, so runs
// that were live when Tern last stopped are settled on start-up.
func (s *Service) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.stop = cancel
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		defer audit.Bind(audit.Actor{Face: audit.Tern})() // runs it marks crashed are Tern's doing
		t := time.NewTicker(s.ReapEvery)
		defer t.Stop()
		for {
			s.ReapCrashed()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends crash detection.
func (s *Service) Stop() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
}

func (s *Service) nowMs() int64 { return s.Now().UnixMilli() }

func (s *Service) stripe(runID string) *sync.Mutex {
	var h uint32 = 2166136261
	for i := 0; i < len(runID); i++ {
		h = (h ^ uint32(runID[i])) * 16777619
	}
	return &s.stripes[h%uint32(len(s.stripes))]
}

// load fills the in-memory summaries from Badger.
func (s *Service) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		if err := scan(txn, []byte{kExp}, true, func(k, v []byte) error {
			var e Experiment
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			s.exps[e.ID] = &e
			return nil
		}); err != nil {
			return err
		}
		if err := scan(txn, []byte{kRun}, true, func(k, v []byte) error {
			var info RunInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return err
			}
			s.runs[info.ID] = &Run{RunInfo: info, Params: map[string]string{}, Tags: map[string]string{}, Metrics: map[string]Point{}}
			return nil
		}); err != nil {
			return err
		}
		each := func(kind byte, fn func(r *Run, key string, v []byte)) error {
			return scan(txn, []byte{kind}, true, func(k, v []byte) error {
				i := bytes.IndexByte(k[1:], 0)
				if i < 0 {
					return nil
				}
				if r := s.runs[string(k[1:1+i])]; r != nil {
					fn(r, string(k[2+i:]), v)
				}
				return nil
			})
		}
		if err := each(kLatest, func(r *Run, key string, v []byte) { r.Metrics[key] = decodePoint(v) }); err != nil {
			return err
		}
		if err := each(kParam, func(r *Run, key string, v []byte) { r.Params[key] = string(v) }); err != nil {
			return err
		}
		if err := each(kTag, func(r *Run, key string, v []byte) { r.Tags[key] = string(v) }); err != nil {
			return err
		}
		return scan(txn, []byte{kBeat}, true, func(k, v []byte) error {
			if r := s.runs[string(k[1:])]; r != nil && len(v) == 8 {
				r.LastHeartbeat = store.DecodeI64(v)
			}
			return nil
		})
	})
}

// scan calls fn for every key with prefix p; values are only read when
// withValues, so index scans stay in the LSM tree.
func scan(txn *badger.Txn, p []byte, withValues bool, fn func(k, v []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = withValues
	opt.Prefix = p
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		item := it.Item()
		var v []byte
		if withValues {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		if err := fn(item.KeyCopy(nil), v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) ensureDefault() error {
	s.mu.RLock()
	_, ok := s.exps[DefaultExperimentID]
	s.mu.RUnlock()
	if ok {
		return nil
	}
	now := s.nowMs()
	e := &Experiment{ID: DefaultExperimentID, Name: "Default", ArtifactLocation: "mlflow-artifacts:/0",
		LifecycleStage: StageActive, CreationTime: now, LastUpdateTime: now, Tags: map[string]string{}}
	b, _ := json.Marshal(e)
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(expKey(0), b); err != nil {
			return err
		}
		if err := txn.Set(expNameKey(e.Name), store.U64(0)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Actor: audit.Actor{Face: audit.Tern}, Action: "experiment.create", Objects: expObj(e.ID, e.Name)}); err != nil {
			return err
		}
		return txn.Set(store.Key(kSeq, []byte("expseq")), store.U64(1))
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern cannot create the Default experiment.")
	}
	s.mu.Lock()
	s.exps[e.ID] = e
	s.mu.Unlock()
	return nil
}

// CreateExperiment makes a new experiment; the name must be unused (also
// by a deleted experiment, as in MLflow).
func (s *Service) CreateExperiment(name string, tags map[string]string) (Experiment, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return Experiment{}, core.Errorf(core.Invalid, "An experiment needs a name.")
	}
	if len(name) > MaxExperimentNameLen {
		return Experiment{}, core.Errorf(core.Invalid, "Experiment name is %d characters; the limit is %d.", len(name), MaxExperimentNameLen)
	}
	s.expMu.Lock()
	defer s.expMu.Unlock()
	if _, err := s.ExperimentByName(name); err == nil {
		return Experiment{}, core.Errorf(core.Conflict, "An experiment named %q already exists.", name)
	}
	now := s.nowMs()
	e := &Experiment{Name: name, LifecycleStage: StageActive, CreationTime: now, LastUpdateTime: now, Tags: map[string]string{}}
	for k, v := range tags {
		e.Tags[k] = v
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		seqKey := store.Key(kSeq, []byte("expseq"))
		var id uint64 = 1
		if item, err := txn.Get(seqKey); err == nil {
			if err := item.Value(func(v []byte) error { id = store.DecodeU64(v); return nil }); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		e.ID = strconv.FormatUint(id, 10)
		e.ArtifactLocation = "mlflow-artifacts:/" + e.ID
		b, _ := json.Marshal(e)
		if err := txn.Set(seqKey, store.U64(id+1)); err != nil {
			return err
		}
		if err := txn.Set(expKey(id), b); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "experiment.create", Objects: expObj(e.ID, name)}); err != nil {
			return err
		}
		return txn.Set(expNameKey(name), store.U64(id))
	})
	if err != nil {
		return Experiment{}, core.Wrap(err, core.Internal, "Tern could not save experiment %q.", name)
	}
	s.mu.Lock()
	s.exps[e.ID] = e
	s.mu.Unlock()
	s.bus.Publish("tracking.experiment.created", e.ID)
	return s.copyExp(e), nil
}

func (s *Service) copyExp(e *Experiment) Experiment {
	c := *e
	c.Tags = cloneMap(e.Tags)
	return c
}

// Experiment reads one experiment by id.
func (s *Service) Experiment(id string) (Experiment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.exps[id]
	if !ok {
		return Experiment{}, core.Errorf(core.NotFound, "No experiment with id %q.", id)
	}
	c := s.copyExp(e)
	for _, r := range s.runs {
		if r.ExperimentID == id && r.LifecycleStage == StageActive {
			c.RunCount++
		}
	}
	return c, nil
}

// ExperimentByName finds an experiment by its exact name.
func (s *Service) ExperimentByName(name string) (Experiment, error) {
	s.mu.RLock()
	var found *Experiment
	for _, e := range s.exps {
		if e.Name == name {
			found = e
			break
		}
	}
	s.mu.RUnlock()
	if found == nil {
		return Experiment{}, core.Errorf(core.NotFound, "No experiment named %q.", name)
	}
	return s.Experiment(found.ID)
}

// Experiments lists experiments, newest first; deleted ones only when asked.
func (s *Service) Experiments(includeDeleted bool) []Experiment {
	s.mu.RLock()
	counts := map[string]int{}
	for _, r := range s.runs {
		if r.LifecycleStage == StageActive {
			counts[r.ExperimentID]++
		}
	}
	out := make([]Experiment, 0, len(s.exps))
	for _, e := range s.exps {
		if e.LifecycleStage == StageDeleted && !includeDeleted {
			continue
		}
		c := s.copyExp(e)
		c.RunCount = counts[e.ID]
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreationTime != out[j].CreationTime {
			return out[i].CreationTime > out[j].CreationTime
		}
		a, _ := strconv.ParseUint(out[i].ID, 10, 64)
		b, _ := strconv.ParseUint(out[j].ID, 10, 64)
		return a > b
	})
	return out
}

// UpdateExperiment renames, deletes/restores (stage) or tags an
// experiment; empty arguments leave things as they are.
func (s *Service) UpdateExperiment(id, newName, stage string, tags map[string]string) (Experiment, error) {
	s.expMu.Lock()
	defer s.expMu.Unlock()
	s.mu.RLock()
	cur, ok := s.exps[id]
	var e Experiment
	if ok {
		e = s.copyExp(cur)
	}
	s.mu.RUnlock()
	if !ok {
		return Experiment{}, core.Errorf(core.NotFound, "No experiment with id %q.", id)
	}
	oldName := e.Name
	if newName = strings.TrimSpace(newName); newName != "" && newName != e.Name {
		if other, err := s.ExperimentByName(newName); err == nil && other.ID != id {
			return Experiment{}, core.Errorf(core.Conflict, "An experiment named %q already exists.", newName)
		}
		e.Name = newName
	}
	if stage != "" {
		if stage != StageActive && stage != StageDeleted {
			return Experiment{}, core.Errorf(core.Invalid, "Lifecycle stage must be %q or %q.", StageActive, StageDeleted)
		}
		if stage == StageDeleted && id == DefaultExperimentID {
			return Experiment{}, core.Errorf(core.Invalid, "The Default experiment cannot be deleted.")
		}
		e.LifecycleStage = stage
	}
	for k, v := range tags {
		e.Tags[k] = v
	}
	e.LastUpdateTime = s.nowMs()
	n, _ := parseExpID(id)
	b, _ := json.Marshal(e)
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "experiment.update", Objects: expObj(id, e.Name),
			Before: oldName + ", " + cur.LifecycleStage, After: e.Name + ", " + e.LifecycleStage}); err != nil {
			return err
		}
		if oldName != e.Name {
			if err := txn.Delete(expNameKey(oldName)); err != nil {
				return err
			}
			if err := txn.Set(expNameKey(e.Name), store.U64(n)); err != nil {
				return err
			}
		}
		return txn.Set(expKey(n), b)
	})
	if err != nil {
		return Experiment{}, core.Wrap(err, core.Internal, "Tern could not save experiment %q.", e.Name)
	}
	s.mu.Lock()
	saved := e
	s.exps[id] = &saved
	s.mu.Unlock()
	return s.Experiment(id)
}

// lockRun serialises the writers of one run: it takes the run's stripe
// lock, to be released with unlock, and calls read on the run under the
// summaries' read lock, so the writer decides on a state no other writer
// of that run can change before it commits. On error nothing stays locked.
func (s *Service) lockRun(runID string, read func(*Run)) (r *Run, unlock func(), err error) {
	mu := s.stripe(runID)
	mu.Lock()
	s.mu.RLock()
	r, err = s.runOrErr(runID)
	if err == nil {
		read(r)
	}
	s.mu.RUnlock()
	if err != nil {
		mu.Unlock()
		return nil, nil, err
	}
	return r, mu.Unlock, nil
}

func (s *Service) runOrErr(id string) (*Run, error) {
	r := s.runs[id]
	if r == nil {
		return nil, core.Errorf(core.NotFound, "No run with id %q.", id)
	}
	return r, nil
}

// copyRun returns a deep copy; callers hold s.mu.
func copyRun(r *Run) Run {
	c := *r
	c.Params = cloneMap(r.Params)
	c.Tags = cloneMap(r.Tags)
	c.Metrics = cloneMap(r.Metrics)
	return c
}

// GetRun reads one run with its params, tags and latest metrics.
func (s *Service) GetRun(id string) (Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.runOrErr(id)
	if err != nil {
		return Run{}, err
	}
	return copyRun(r), nil
}

func fmtDur(d time.Duration) string { return fmt.Sprint(d.Round(time.Second)) }

func sortStrings(s []string) { sort.Strings(s) }

// cloneMap copies m; unlike maps.Clone it never returns nil, so a copy
// encodes as {} rather than null.
func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
