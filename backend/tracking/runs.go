package tracking

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
	"unicode"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/diskspace"
	"github.com/tern-studio/tern/backend/store"
)

// TagRunName is the tag MLflow keeps the run name in.
const TagRunName = "mlflow.runName"

// CreateRun starts a run (RUNNING unless spec says otherwise).
func (s *Service) CreateRun(spec RunSpec) (Run, error) {
	expID := spec.ExperimentID
	if expID == "" {
		expID = DefaultExperimentID
	}
	s.mu.RLock()
	e, ok := s.exps[expID]
	stage := ""
	if ok {
		stage = e.LifecycleStage
	}
	s.mu.RUnlock()
	if !ok {
		return Run{}, core.Errorf(core.NotFound, "No experiment with id %q.", expID)
	}
	if stage != StageActive {
		return Run{}, core.Errorf(core.Invalid, "Experiment %q is deleted; restore it before adding runs.", expID)
	}
	status := spec.Status
	if status == "" {
		status = StatusRunning
	}
	if !status.valid() {
		return Run{}, core.Errorf(core.Invalid, "Unknown run status %q.", status)
	}
	params := make([]Param, 0, len(spec.Params))
	for k, v := range spec.Params {
		params = append(params, Param{k, v})
	}
	tags := make([]Tag, 0, len(spec.Tags)+1)
	for k, v := range spec.Tags {
		if k != TagRunName {
			tags = append(tags, Tag{k, v})
		}
	}
	name := spec.Name
	if name == "" {
		name = spec.Tags[TagRunName]
	}
	if name == "" {
		name = randomName()
	}
	tags = append(tags, Tag{TagRunName, name})
	if err := validateBatch(Batch{Params: params, Tags: tags}, false); err != nil {
		return Run{}, err
	}
	now := s.nowMs()
	start := spec.StartTime
	if start == 0 {
		start = now
	}
	id := core.NewID()
	r := &Run{RunInfo: RunInfo{
		ID: id, ExperimentID: expID, Name: name, Status: status, StartTime: start, UserID: spec.UserID,
		LifecycleStage: StageActive, ArtifactURI: "mlflow-artifacts:/" + expID + "/" + id + "/artifacts",
		Source: spec.Source, DatasetVersion: spec.DatasetVersion, ImageDigest: spec.ImageDigest, GitCommit: spec.GitCommit,
		HeartbeatTimeoutMs: spec.HeartbeatTimeout.Milliseconds(),
	}, Params: map[string]string{}, Tags: map[string]string{}, Metrics: map[string]Point{}, LastHeartbeat: now}
	if status.Terminal() {
		r.EndTime = now
	}
	n, _ := parseExpID(expID)
	info, _ := json.Marshal(r.RunInfo)
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(runKey(id), info); err != nil {
			return err
		}
		if err := txn.Set(expRunKey(n, id), nil); err != nil {
			return err
		}
		if err := txn.Set(beatKey(id), store.I64(now)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "run.create", Objects: runObj(id, name), After: "experiment " + expID + ", " + string(status)}); err != nil {
			return err
		}
		return writeParamsTags(txn, id, r, params, tags)
	})
	if err != nil {
		return Run{}, core.Wrap(err, core.Internal, "Tern could not save the new run.")
	}
	applyParamsTags(r, params, tags)
	s.mu.Lock()
	s.runs[id] = r
	c := copyRun(r)
	s.mu.Unlock()
	s.bus.Publish("tracking.run.created", map[string]string{"runId": id, "experimentId": expID})
	return c, nil
}

var nameA = []string{"amber", "brisk", "calm", "deft", "eager", "fair", "gentle", "hardy", "keen", "lucid", "merry", "nimble", "proud", "quiet", "rapid", "sunny", "tidy", "vivid", "wise", "zesty"}
var nameB = []string{"tern", "heron", "finch", "otter", "lynx", "crane", "wren", "badger", "ibis", "kite", "moth", "newt", "owl", "pike", "robin", "seal", "stoat", "swift", "vole", "yak"}

func randomName() string {
	return fmt.Sprintf("%s-%s-%d", nameA[rand.IntN(len(nameA))], nameB[rand.IntN(len(nameB))], rand.IntN(1000))
}

// writeParamsTags adds params and tags (and their index entries) to txn,
// dropping the index entry of a tag value being replaced.
func writeParamsTags(txn *badger.Txn, id string, r *Run, params []Param, tags []Tag) error {
	for _, p := range params {
		if _, had := r.Params[p.Key]; had {
			continue
		}
		if err := txn.Set(runScoped(kParam, id, p.Key), []byte(p.Value)); err != nil {
			return err
		}
		if err := txn.Set(indexKey(kParamIdx, p.Key, p.Value, id), nil); err != nil {
			return err
		}
	}
	for _, t := range tags {
		if old, had := r.Tags[t.Key]; had {
			if old == t.Value {
				continue
			}
			if err := txn.Delete(indexKey(kTagIdx, t.Key, old, id)); err != nil {
				return err
			}
		}
		if err := txn.Set(runScoped(kTag, id, t.Key), []byte(t.Value)); err != nil {
			return err
		}
		if err := txn.Set(indexKey(kTagIdx, t.Key, t.Value, id), nil); err != nil {
			return err
		}
	}
	return nil
}

// paramTagOps is writeParamsTags as ops for the group committer.
func paramTagOps(ops []op, id string, r *Run, params []Param, tags []Tag) []op {
	seen := map[string]bool{}
	for _, p := range params {
		if _, had := r.Params[p.Key]; had || seen[p.Key] {
			continue
		}
		seen[p.Key] = true
		ops = append(ops, op{key: runScoped(kParam, id, p.Key), val: []byte(p.Value)}, op{key: indexKey(kParamIdx, p.Key, p.Value, id)})
	}
	last := map[string]string{}
	for _, t := range tags {
		last[t.Key] = t.Value
	}
	for k, v := range last {
		if old, had := r.Tags[k]; had {
			if old == v {
				continue
			}
			ops = append(ops, op{key: indexKey(kTagIdx, k, old, id), del: true})
		}
		ops = append(ops, op{key: runScoped(kTag, id, k), val: []byte(v)}, op{key: indexKey(kTagIdx, k, v, id)})
	}
	return ops
}

func applyParamsTags(r *Run, params []Param, tags []Tag) {
	for _, p := range params {
		if _, had := r.Params[p.Key]; !had {
			r.Params[p.Key] = p.Value
		}
	}
	for _, t := range tags {
		r.Tags[t.Key] = t.Value
		if t.Key == TagRunName {
			r.Name = t.Value
		}
	}
}

// validName applies MLflow's rule for metric, param and tag keys: letters,
// digits, _ - . space / and :, and nothing that a path would rewrite.
func validName(kind, k string) error {
	if k == "" {
		return core.Errorf(core.Invalid, "A %s name is empty.", kind)
	}
	if len(k) > MaxKeyLength {
		return core.Errorf(core.Invalid, "%s name %.40q… is %d characters; the limit is %d.", kind, k, len(k), MaxKeyLength)
	}
	for _, c := range k {
		if !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '-' || c == '.' || c == ' ' || c == '/' || c == ':') {
			return core.Errorf(core.Invalid, "%s name %q has the character %q; names may only contain letters, digits, _ - . space / and :.", kind, k, c)
		}
	}
	if n := path.Clean(k); n != k || n == "." || n[0] == '/' || (len(n) >= 2 && n[:2] == "..") {
		return core.Errorf(core.Invalid, "%s name %q would resolve to %q as a path; pick a name without empty, '.' or '..' parts.", kind, k, n)
	}
	return nil
}

// validateBatch checks a batch whole, so a bad entry anywhere rejects all
// of it before anything is written. limits applies MLflow's per-request
// caps (the Go API may send bigger metric batches).
func validateBatch(b Batch, limits bool) error {
	if limits {
		if len(b.Metrics) > MaxMetricsPerBatch {
			return core.Errorf(core.Invalid, "A batch may hold at most %d metrics; this one has %d.", MaxMetricsPerBatch, len(b.Metrics))
		}
		if len(b.Params) > MaxParamsTagsPerBatch {
			return core.Errorf(core.Invalid, "A batch may hold at most %d params; this one has %d.", MaxParamsTagsPerBatch, len(b.Params))
		}
		if len(b.Tags) > MaxParamsTagsPerBatch {
			return core.Errorf(core.Invalid, "A batch may hold at most %d tags; this one has %d.", MaxParamsTagsPerBatch, len(b.Tags))
		}
		if n := len(b.Metrics) + len(b.Params) + len(b.Tags); n > MaxEntitiesPerBatch {
			return core.Errorf(core.Invalid, "A batch may hold at most %d metrics, params and tags together; this one has %d.", MaxEntitiesPerBatch, n)
		}
	}
	for i, m := range b.Metrics {
		if err := validName("Metric", m.Key); err != nil {
			return core.Errorf(core.Invalid, "metrics[%d]: %s", i, core.ErrorMessage(err))
		}
		if m.Timestamp < 0 {
			return core.Errorf(core.Invalid, "metrics[%d] (%s): timestamp %d is negative.", i, m.Key, m.Timestamp)
		}
	}
	seen := map[string]string{}
	for i, p := range b.Params {
		if err := validName("Param", p.Key); err != nil {
			return core.Errorf(core.Invalid, "params[%d]: %s", i, core.ErrorMessage(err))
		}
		if len(p.Value) > MaxParamValueLength {
			return core.Errorf(core.Invalid, "params[%d] (%s): value is %d characters; the limit is %d.", i, p.Key, len(p.Value), MaxParamValueLength)
		}
		if v, dup := seen[p.Key]; dup && v != p.Value {
			return core.Errorf(core.Invalid, "params[%d]: param %q appears twice in the batch with different values.", i, p.Key)
		}
		seen[p.Key] = p.Value
	}
	for i, t := range b.Tags {
		if err := validName("Tag", t.Key); err != nil {
			return core.Errorf(core.Invalid, "tags[%d]: %s", i, core.ErrorMessage(err))
		}
		if len(t.Value) > MaxTagValueLength {
			return core.Errorf(core.Invalid, "tags[%d] (%s): value is %d characters; the limit is %d.", i, t.Key, len(t.Value), MaxTagValueLength)
		}
	}
	return nil
}

// newer orders points as MLflow does for "latest": by step, then
// timestamp, then value.
func newer(a, b Point) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	av, bv := float64(a.Value), float64(b.Value)
	if av != av { // NaN sorts above numbers in MLflow
		return bv == bv
	}
	return av > bv
}

// metricChunk bounds one transaction of the Go API's LogMetrics; MLflow
// batches are far smaller and always go in one.
const metricChunk = 20_000

// LogBatch writes metrics, params and tags in one transaction, with
// MLflow's per-request limits. Params are immutable: the same value again
// is accepted, a different one is an Invalid error and nothing is written.
func (s *Service) LogBatch(runID string, b Batch) error {
	if err := validateBatch(b, true); err != nil {
		return err
	}
	return s.write(runID, b)
}

// LogMetrics appends points to the run's series. Timestamp 0 means now.
// Any number of points is accepted; each chunk of 20,000 is atomic.
func (s *Service) LogMetrics(runID string, ms []Metric) error {
	if err := validateBatch(Batch{Metrics: ms}, false); err != nil {
		return err
	}
	for len(ms) > 0 {
		n := min(len(ms), metricChunk)
		if err := s.write(runID, Batch{Metrics: ms[:n]}); err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

// LogParams records inputs; see LogBatch for immutability.
func (s *Service) LogParams(runID string, params map[string]string) error {
	b := Batch{}
	for k, v := range params {
		b.Params = append(b.Params, Param{k, v})
	}
	sort.Slice(b.Params, func(i, j int) bool { return b.Params[i].Key < b.Params[j].Key })
	if err := validateBatch(b, false); err != nil {
		return err
	}
	return s.write(runID, b)
}

// SetTags sets (or replaces) tags. Setting mlflow.runName renames the run.
func (s *Service) SetTags(runID string, tags map[string]string) error {
	b := Batch{}
	for k, v := range tags {
		b.Tags = append(b.Tags, Tag{k, v})
	}
	if err := validateBatch(b, false); err != nil {
		return err
	}
	return s.write(runID, b)
}

// write is the one path every metric, param and tag takes: checks against
// the run's current state, one transaction, then the summary update.
func (s *Service) write(runID string, b Batch) error {
	var stage string
	latest := map[string]Point{}
	var nameChange bool
	var conflict error
	var info RunInfo
	r, unlock, err := s.lockRun(runID, func(r *Run) {
		stage = r.LifecycleStage
		for _, m := range b.Metrics {
			if p, ok := r.Metrics[m.Key]; ok {
				latest[m.Key] = p
			}
		}
		for _, t := range b.Tags {
			if t.Key == TagRunName && t.Value != r.Name {
				nameChange = true
			}
		}
		for _, p := range b.Params {
			if old, had := r.Params[p.Key]; had && old != p.Value {
				conflict = core.Errorf(core.Invalid, "Param %q of run %s is already %q; params cannot change (got %q).", p.Key, runID, old, p.Value)
				break
			}
		}
		info = r.RunInfo
	})
	if err != nil {
		return err
	}
	defer unlock()
	if stage != StageActive {
		return core.Errorf(core.Invalid, "Run %s is deleted; restore it before logging to it.", runID)
	}
	if conflict != nil {
		return conflict
	}

	now := s.nowMs()
	changed := map[string]Point{}
	for i := range b.Metrics {
		m := &b.Metrics[i]
		if m.Timestamp == 0 {
			m.Timestamp = now
		}
		p := Point{Value: m.Value, Timestamp: m.Timestamp, Step: m.Step}
		cur, ok := changed[m.Key]
		if !ok {
			cur, ok = latest[m.Key]
		}
		if !ok || newer(p, cur) {
			changed[m.Key] = p
		}
	}
	if nameChange {
		for _, t := range b.Tags {
			if t.Key == TagRunName {
				info.Name = t.Value
			}
		}
	}

	ops := make([]op, 0, len(b.Metrics)+len(changed)+2*len(b.Params)+3*len(b.Tags)+2)
	for _, m := range b.Metrics {
		ops = append(ops, op{key: histKey(runID, m)})
	}
	for k, p := range changed {
		ops = append(ops, op{key: runScoped(kLatest, runID, k), val: encodePoint(p)})
	}
	if nameChange {
		bi, _ := json.Marshal(info)
		ops = append(ops, op{key: runKey(runID), val: bi})
	}
	// Logging counts as a sign of life.
	ops = append(ops, op{key: beatKey(runID), val: store.I64(now)})
	s.mu.RLock()
	ops = paramTagOps(ops, runID, r, b.Params, b.Tags)
	s.mu.RUnlock()
	if !b.partOf {
		ak, av := audit.Entry(audit.Record{Action: "run.log", Objects: runObj(runID, info.Name),
			After: fmt.Sprintf("%d metric points, %d params, %d tags", len(b.Metrics), len(b.Params), len(b.Tags))})
		if ak != nil {
			ops = append(ops, op{key: ak, val: av})
		}
	}
	err = s.group.commit(ops)
	if err != nil {
		if errors.Is(err, badger.ErrTxnTooBig) {
			return core.Wrap(err, core.Invalid, "This batch is too big to write at once; send it in smaller parts.")
		}
		return core.Wrap(err, core.Internal, "Tern could not save to run %s.", runID)
	}

	s.mu.Lock()
	for k, p := range changed {
		r.Metrics[k] = p
	}
	applyParamsTags(r, b.Params, b.Tags)
	r.LastHeartbeat = now
	s.mu.Unlock()

	if len(b.Metrics) > 0 {
		t := s.Now()
		if last, ok := s.lastEvent.Load(runID); !ok || t.Sub(last.(time.Time)) >= 100*time.Millisecond {
			s.lastEvent.Store(runID, t)
			s.bus.Publish("tracking.run.metrics", map[string]string{"runId": runID})
		}
	}
	return nil
}

// DeleteTag removes a tag.
func (s *Service) DeleteTag(runID, key string) error {
	var old string
	var had bool
	r, unlock, err := s.lockRun(runID, func(r *Run) { old, had = r.Tags[key] })
	if err != nil {
		return err
	}
	defer unlock()
	if !had {
		return core.Errorf(core.NotFound, "Run %s has no tag %q.", runID, key)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(runScoped(kTag, runID, key)); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "run.tag.delete", Objects: runObj(runID, r.Name), Before: key + "=" + old}); err != nil {
			return err
		}
		return txn.Delete(indexKey(kTagIdx, key, old, runID))
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern could not remove tag %q.", key)
	}
	s.mu.Lock()
	delete(r.Tags, key)
	s.mu.Unlock()
	return nil
}

// RunUpdate changes a run's record; zero fields are left alone.
type RunUpdate struct {
	Status  Status
	Reason  string
	EndTime int64
	Name    string
	Note    *string
	Stage   string
}

// UpdateRun applies u. Status rules: a terminal status is never replaced
// by another terminal one (the first end wins, so a late "FINISHED" from a
// client cannot hide a crash, and a retried end is harmless); RUNNING on an
// ended run resumes it, as MLflow's start_run(run_id=...) does.
func (s *Service) UpdateRun(runID string, u RunUpdate) (Run, error) {
	if u.Status != "" && !u.Status.valid() {
		return Run{}, core.Errorf(core.Invalid, "Unknown run status %q; use RUNNING, SCHEDULED, FINISHED, FAILED, KILLED or CRASHED.", u.Status)
	}
	if u.Stage != "" && u.Stage != StageActive && u.Stage != StageDeleted {
		return Run{}, core.Errorf(core.Invalid, "Lifecycle stage must be %q or %q.", StageActive, StageDeleted)
	}
	if u.Name != "" {
		if err := validateBatch(Batch{Tags: []Tag{{TagRunName, u.Name}}}, false); err != nil {
			return Run{}, err
		}
	}
	var info RunInfo
	r, unlock, err := s.lockRun(runID, func(r *Run) { info = r.RunInfo })
	if err != nil {
		return Run{}, err
	}
	defer unlock()
	old := info
	now := s.nowMs()
	statusChanged := false
	if u.Status != "" && u.Status != info.Status {
		switch {
		case info.Status.Terminal() && u.Status.Terminal():
			// first end wins
		case info.Status.Terminal() && u.Status == StatusRunning:
			info.Status, info.EndTime, info.StatusReason = StatusRunning, 0, ""
			statusChanged = true
		case info.Status.Terminal():
			// SCHEDULED after an end is meaningless; ignore
		default:
			info.Status = u.Status
			info.StatusReason = u.Reason
			if u.Status.Terminal() {
				info.EndTime = now
			}
			statusChanged = true
		}
	}
	if u.EndTime > 0 && info.Status.Terminal() && (statusChanged || u.Status == "") {
		info.EndTime = u.EndTime
	}
	var tags []Tag
	if u.Name != "" && u.Name != info.Name {
		info.Name = u.Name
		tags = append(tags, Tag{TagRunName, u.Name})
	}
	if u.Note != nil {
		info.Note = *u.Note
	}
	if u.Stage != "" && u.Stage != info.LifecycleStage {
		info.LifecycleStage = u.Stage
		info.DeletedTime = 0
		if u.Stage == StageDeleted {
			info.DeletedTime = now
		}
	}
	bi, _ := json.Marshal(info)
	rec := runUpdateRecord(runID, old, info)
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(runKey(runID), bi); err != nil {
			return err
		}
		if err := audit.Append(txn, rec); err != nil {
			return err
		}
		if info.Status == StatusRunning {
			if err := txn.Set(beatKey(runID), store.I64(now)); err != nil {
				return err
			}
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		return writeParamsTags(txn, runID, r, nil, tags)
	})
	if err != nil {
		return Run{}, core.Wrap(err, core.Internal, "Tern could not update run %s.", runID)
	}
	s.mu.Lock()
	r.RunInfo = info
	applyParamsTags(r, nil, tags)
	if info.Status == StatusRunning {
		r.LastHeartbeat = now
	}
	c := copyRun(r)
	s.mu.Unlock()
	if statusChanged {
		s.bus.Publish("tracking.run.status", map[string]string{"runId": runID, "status": string(info.Status)})
	}
	if old.LifecycleStage != info.LifecycleStage {
		// Into or out of the trash: the runs table and the Trash reload.
		s.bus.Publish("tracking.run.stage", map[string]string{"runId": runID, "stage": info.LifecycleStage})
	}
	return c, nil
}

// SetStatus moves a run to status; reason is shown for failed and crashed
// runs. See UpdateRun for the rules.
func (s *Service) SetStatus(runID string, status Status, reason string) error {
	_, err := s.UpdateRun(runID, RunUpdate{Status: status, Reason: reason})
	return err
}

// EndRun ends a run with a terminal status (FINISHED, FAILED, KILLED or
// CRASHED) and stamps its end time.
func (s *Service) EndRun(runID string, status Status) error {
	if !status.Terminal() {
		return core.Errorf(core.Invalid, "EndRun needs a terminal status, not %q.", status)
	}
	return s.SetStatus(runID, status, "")
}

// SetNote replaces the run's markdown note.
func (s *Service) SetNote(runID, markdown string) error {
	_, err := s.UpdateRun(runID, RunUpdate{Note: &markdown})
	return err
}

// Heartbeat records that the run's process is alive.
func (s *Service) Heartbeat(runID string) error {
	s.mu.RLock()
	_, err := s.runOrErr(runID)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	now := s.nowMs()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(beatKey(runID), store.I64(now)) }); err != nil {
		return core.Wrap(err, core.Internal, "Tern could not record a heartbeat for run %s.", runID)
	}
	s.mu.Lock()
	if r := s.runs[runID]; r != nil && now > r.LastHeartbeat {
		r.LastHeartbeat = now
	}
	s.mu.Unlock()
	return nil
}

// ReapCrashed marks CRASHED every running run with crash detection whose
// last sign of life is older than its timeout; it returns their ids.
func (s *Service) ReapCrashed() []string {
	now := s.nowMs()
	var dead []string
	var reasons []string
	s.mu.RLock()
	for id, r := range s.runs {
		if r.Status != StatusRunning || r.HeartbeatTimeoutMs <= 0 {
			continue
		}
		last := max(r.LastHeartbeat, r.StartTime)
		if now-last > r.HeartbeatTimeoutMs {
			dead = append(dead, id)
			reasons = append(reasons, fmt.Sprintf("No heartbeat for %s (timeout %s): the process or container stopped without ending the run.",
				fmtDur(time.Duration(now-last)*time.Millisecond), fmtDur(time.Duration(r.HeartbeatTimeoutMs)*time.Millisecond)))
		}
	}
	s.mu.RUnlock()
	for i, id := range dead {
		_ = s.SetStatus(id, StatusCrashed, reasons[i])
	}
	return dead
}

// SoftDelete moves a run to the trash (MLflow's delete-run: lifecycle
// stage "deleted"); searches hide it unless asked for deleted runs, and
// Restore brings it back with everything it held.
func (s *Service) SoftDelete(runID string) error {
	_, err := s.UpdateRun(runID, RunUpdate{Stage: StageDeleted})
	return err
}

// Restore undoes SoftDelete.
func (s *Service) Restore(runID string) error {
	_, err := s.UpdateRun(runID, RunUpdate{Stage: StageActive})
	return err
}

// TrashRuns moves runs to the trash, one audit record each. A live run
// among them stops the call before anything moves: a job still logging
// to a trashed run would have its writes refused.
func (s *Service) TrashRuns(runIDs []string) error {
	for _, id := range runIDs {
		r, err := s.GetRun(id)
		if err != nil {
			return err
		}
		if !r.Status.Terminal() {
			return core.Errorf(core.Conflict, "Run %q is still %s; stop it before moving it to the trash.", r.Name, r.Status)
		}
	}
	for _, id := range runIDs {
		if err := s.SoftDelete(id); err != nil {
			return err
		}
	}
	return nil
}

// RestoreRuns brings runs back from the trash.
func (s *Service) RestoreRuns(runIDs []string) error {
	for _, id := range runIDs {
		if _, err := s.GetRun(id); err != nil {
			return err
		}
	}
	for _, id := range runIDs {
		if err := s.Restore(id); err != nil {
			return err
		}
	}
	return nil
}

// TrashedRun is one run in the trash, with what deleting it for good frees.
type TrashedRun struct {
	Run            RunInfo `json:"run"`
	ExperimentName string  `json:"experimentName"`
	// ArtifactBytes is the disk its artifact files take, freed by a
	// permanent delete.
	ArtifactBytes int64 `json:"artifactBytes"`
}

// Trash lists the runs in the trash, most recently deleted first.
func (s *Service) Trash() []TrashedRun {
	s.mu.RLock()
	out := []TrashedRun{}
	for _, r := range s.runs {
		if r.LifecycleStage != StageDeleted {
			continue
		}
		t := TrashedRun{Run: r.RunInfo}
		if e := s.exps[r.ExperimentID]; e != nil {
			t.ExperimentName = e.Name
		}
		out = append(out, t)
	}
	s.mu.RUnlock()
	for i := range out {
		out[i].ArtifactBytes = diskspace.Size(filepath.Join(s.artRoot, out[i].Run.ID))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Run.DeletedTime != out[j].Run.DeletedTime {
			return out[i].Run.DeletedTime > out[j].Run.DeletedTime
		}
		return out[i].Run.ID < out[j].Run.ID
	})
	return out
}

// DeleteRuns removes runs from the trash for good and returns the artifact
// bytes freed. A run not in the trash, or still live, stops the whole call
// before anything is deleted: a permanent delete is always the second step.
func (s *Service) DeleteRuns(runIDs []string) (int64, error) {
	for _, id := range runIDs {
		r, err := s.GetRun(id)
		if err != nil {
			return 0, err
		}
		if !r.Status.Terminal() {
			return 0, core.Errorf(core.Conflict, "Run %q is still %s; stop it before deleting.", r.Name, r.Status)
		}
		if r.LifecycleStage != StageDeleted {
			return 0, core.Errorf(core.Conflict, "Run %q is not in the trash; move it to the trash first, then delete it permanently from there.", r.Name)
		}
	}
	var freed int64
	for _, id := range runIDs {
		n, err := s.DeleteRun(id)
		if err != nil {
			return freed, err
		}
		freed += n
	}
	return freed, nil
}

// DeleteRun removes a finished, failed, killed or crashed run for good:
// its record, series, params, tags and artifact files. It returns the
// bytes of artifact disk freed. A live run must be ended first.
func (s *Service) DeleteRun(runID string) (int64, error) {
	var c Run
	_, unlock, err := s.lockRun(runID, func(r *Run) { c = copyRun(r) })
	if err != nil {
		return 0, err
	}
	defer unlock()
	if !c.Status.Terminal() {
		return 0, core.Errorf(core.Conflict, "Run %s is %s; stop it before deleting it.", runID, c.Status)
	}
	n, _ := parseExpID(c.ExperimentID)
	// The record and indexes go in one transaction, so the run vanishes at
	// once; the series, which can be millions of keys, follow in batches.
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "run.purge", Objects: runObj(runID, c.Name), Before: string(c.Status) + ", " + c.LifecycleStage}); err != nil {
			return err
		}
		for _, k := range [][]byte{runKey(runID), beatKey(runID), expRunKey(n, runID)} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		for k, v := range c.Params {
			if err := txn.Delete(runScoped(kParam, runID, k)); err != nil {
				return err
			}
			if err := txn.Delete(indexKey(kParamIdx, k, v, runID)); err != nil {
				return err
			}
		}
		for k, v := range c.Tags {
			if err := txn.Delete(runScoped(kTag, runID, k)); err != nil {
				return err
			}
			if err := txn.Delete(indexKey(kTagIdx, k, v, runID)); err != nil {
				return err
			}
		}
		for k := range c.Metrics {
			if err := txn.Delete(runScoped(kLatest, runID, k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, core.Wrap(err, core.Internal, "Tern could not delete run %s.", runID)
	}
	s.mu.Lock()
	delete(s.runs, runID)
	s.mu.Unlock()
	if err := s.dropPrefix(runPrefix(kHist, runID)); err != nil {
		return 0, core.Wrap(err, core.Internal, "Run %s is deleted but some of its metric history could not be removed.", runID)
	}
	if err := s.dropPrefix(runPrefix(kInput, runID)); err != nil {
		return 0, core.Wrap(err, core.Internal, "Run %s is deleted but some of its dataset inputs could not be removed.", runID)
	}
	freed := diskspace.Size(filepath.Join(s.artRoot, runID))
	if err := os.RemoveAll(filepath.Join(s.artRoot, runID)); err != nil {
		return 0, core.Wrap(err, core.Internal, "Run %s is deleted but its artifact files could not be removed.", runID)
	}
	s.bus.Publish("tracking.run.deleted", map[string]any{"runId": runID, "freedBytes": freed})
	return freed, nil
}

func (s *Service) dropPrefix(p []byte) error {
	var keys [][]byte
	if err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, p, false, func(k, _ []byte) error { keys = append(keys, k); return nil })
	}); err != nil {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}
