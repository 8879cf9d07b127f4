package predlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/diskspace"
	"github.com/tern-studio/tern/backend/store"
)

// Retention keeps the prediction log to a size a laptop can hold: keep N
// days, or the newest N bytes, of each deployment's log (one limit for
// all, overridable per deployment). Preview is the dry run — what a run
// would delete and roughly how much space it frees — and Start runs it as
// a job with progress and cancel; a schedule runs it on its own.
//
// Deleting keys alone frees nothing on disk: Badger keeps the old tables
// until compaction rewrites them and the value log until GC does. A run
// therefore ends by flattening the LSM tree (which drops deleted keys)
// and running value-log GC, and reports the store's size before and after;
// what the memtable still holds comes back at the next start (reclaim).
//
// A limit never takes what another part of Tern still reads (Needs: a
// monitor's window, requests with labels) unless the person starting the
// run chose, in the run's own words, to delete those too
// (StartOptions.DeleteNeeded); a scheduled run never does. The dry run
// counts what is kept that way and says who needs it.
//
// The policy lives at 0x43 "policy" in the serving range.
const prefixRetention = store.PrefixServing + 3

var policyKey = store.Key(prefixRetention, []byte("policy"))

// Limit is how much of one deployment's log to keep; zero fields set no
// limit. Records older than KeepDays, or beyond the newest KeepBytes, go.
type Limit struct {
	KeepDays  int   `json:"keepDays"`
	KeepBytes int64 `json:"keepBytes"`
}

func (l Limit) none() bool { return l.KeepDays <= 0 && l.KeepBytes <= 0 }

func (l Limit) String() string {
	var parts []string
	if l.KeepDays > 0 {
		parts = append(parts, fmt.Sprintf("%d days", l.KeepDays))
	}
	if l.KeepBytes > 0 {
		parts = append(parts, fmt.Sprintf("%.3g GB", float64(l.KeepBytes)/1e9))
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, " and at most ")
}

// Policy is what retention keeps and when it runs by itself.
type Policy struct {
	// Global applies to every deployment without its own limit.
	Global Limit `json:"global"`
	// PerDeployment overrides Global for a deployment (by ID).
	PerDeployment map[string]Limit `json:"perDeployment,omitempty"`
	// EveryHours runs retention on its own at that interval; 0: only when asked.
	EveryHours int `json:"everyHours"`
	// LastRun (unix ms), LastDeleted, LastFreed and LastError describe the
	// last run that ended.
	LastRun     int64  `json:"lastRun,omitempty"`
	LastDeleted int64  `json:"lastDeleted,omitempty"`
	LastFreed   int64  `json:"lastFreed,omitempty"`
	LastError   string `json:"lastError,omitempty"`
}

func (p Policy) limit(deployment string) Limit {
	if l, ok := p.PerDeployment[deployment]; ok {
		return l
	}
	return p.Global
}

func (p Policy) String() string {
	s := "keep " + p.Global.String()
	for _, id := range sortedKeys(p.PerDeployment) {
		s += fmt.Sprintf("; %s: %s", id, p.PerDeployment[id])
	}
	if p.EveryHours > 0 {
		s += fmt.Sprintf("; every %d h", p.EveryHours)
	}
	return s
}

func sortedKeys(m map[string]Limit) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p Policy) validate() error {
	check := func(who string, l Limit) error {
		if l.KeepDays < 0 || l.KeepBytes < 0 {
			return core.Errorf(core.Invalid, "%s: days and size to keep cannot be negative.", who)
		}
		if l.KeepDays > 36500 {
			return core.Errorf(core.Invalid, "%s: keep at most 36500 days (100 years), or no limit.", who)
		}
		return nil
	}
	if err := check("All deployments", p.Global); err != nil {
		return err
	}
	for id, l := range p.PerDeployment {
		if id == "" {
			return core.Errorf(core.Invalid, "A per-deployment limit needs the deployment.")
		}
		if err := check("Deployment "+id, l); err != nil {
			return err
		}
	}
	if p.EveryHours < 0 || p.EveryHours > 24*365 {
		return core.Errorf(core.Invalid, "Run retention every 1 to 8760 hours, or 0 for only when asked.")
	}
	return nil
}

// Need is part of a deployment's log that something else in Tern still
// reads. The monitor service lists them (monitor.Service.RetentionNeeds);
// predlog cannot import it, so main wires them as a NeedsFunc.
type Need struct {
	Deployment string
	// What names the reader in the person's words: `monitor "fraud drift"
	// (last 1000 requests)`, `labelled predictions (…)`.
	What string
	// A window reads the newest LastN records (0: no count limit) that are
	// no older than Since (unix ns; 0: any age); one of them is set.
	LastN int
	Since int64
	// RequestIDs are requests with labels, joined to the log by ID.
	RequestIDs []string
}

func (n Need) window() bool { return n.LastN > 0 || n.Since != 0 }

// reads says whether the window reads the record at rank (0 = newest)
// logged at t.
func (n Need) reads(rank int64, t int64) bool {
	return n.window() && (n.LastN <= 0 || rank < int64(n.LastN)) && (n.Since == 0 || t >= n.Since)
}

// NeedsFunc lists what is needed now.
type NeedsFunc func() ([]Need, error)

// NeedCount is how many records the limit would remove that one reader
// still needs.
type NeedCount struct {
	What    string `json:"what"`
	Records int64  `json:"records"`
}

// DeploymentEstimate is one deployment's log and what a run would delete.
type DeploymentEstimate struct {
	Deployment string `json:"deployment"`
	Limit      Limit  `json:"limit"`
	Records    int64  `json:"records"`
	Bytes      int64  `json:"bytes"`
	// DeleteRecords and DeleteBytes are what the limit removes; Bytes
	// count keys and values as stored, before compression and overhead.
	DeleteRecords int64 `json:"deleteRecords"`
	DeleteBytes   int64 `json:"deleteBytes"`
	// NeededRecords and NeededBytes are what the limit would remove but a
	// monitor or labels still need (Needs says which): a run keeps them
	// unless told to delete them too. The Delete figures leave them out.
	NeededRecords int64       `json:"neededRecords"`
	NeededBytes   int64       `json:"neededBytes"`
	Needs         []NeedCount `json:"needs"`
	// Oldest is the oldest record's time (unix ns).
	Oldest int64 `json:"oldest"`
	// boundary is the newest key the limit removes (every older key goes
	// too), except the needed keys in keep.
	boundary []byte
	keep     map[string]struct{}
}

// Estimate is a dry run over every deployment's log.
type Estimate struct {
	Deployments   []DeploymentEstimate `json:"deployments"`
	Records       int64                `json:"records"`
	Bytes         int64                `json:"bytes"`
	DeleteRecords int64                `json:"deleteRecords"`
	DeleteBytes   int64                `json:"deleteBytes"`
	NeededRecords int64                `json:"neededRecords"`
	NeededBytes   int64                `json:"neededBytes"`
}

// StartOptions are the choices of one run.
type StartOptions struct {
	// DeleteNeeded deletes what monitors and labels still need too; only a
	// person starting a run chooses it (the schedule never does).
	DeleteNeeded bool `json:"deleteNeeded"`
}

// Removed is what a run deleted from one deployment's log.
type Removed struct {
	Deployment string `json:"deployment"`
	Records    int64  `json:"records"`
	// Bytes as stored (keys and values), like the estimate's.
	Bytes int64 `json:"bytes"`
	// Needed counts removed records a monitor or labels needed (only
	// with DeleteNeeded).
	Needed int64 `json:"needed"`
}

// Job is one retention run.
type Job struct {
	ID      string `json:"id"`
	Trigger string `json:"trigger"` // "manual" or "schedule"
	// State is running, done, failed or cancelled.
	State string `json:"state"`
	// Phase is "deleting" then "reclaiming" (compaction and value-log GC).
	Phase   string `json:"phase"`
	Done    int64  `json:"done"`
	Total   int64  `json:"total"`
	Started int64  `json:"started"`
	Ended   int64  `json:"ended,omitempty"`
	// Deleted records and the store's size on disk before and after.
	Deleted    int64  `json:"deleted"`
	DiskBefore int64  `json:"diskBefore"`
	DiskAfter  int64  `json:"diskAfter"`
	Error      string `json:"error,omitempty"`
	// DeleteNeeded is the person's choice to delete needed records too.
	DeleteNeeded bool `json:"deleteNeeded"`
	// Removed is what went, per deployment; Kept counts the records the
	// limits would have removed but monitors or labels needed.
	Removed []Removed `json:"removed"`
	Kept    int64     `json:"kept"`
}

// clone copies a job for a reader while the run goes on changing it
// (callers hold Retention.mu).
func (j *Job) clone() *Job {
	c := *j
	c.Removed = slices.Clone(j.Removed)
	return &c
}

// RetentionStatus is the policy, the running job and the last one.
type RetentionStatus struct {
	Policy  Policy `json:"policy"`
	Running *Job   `json:"running"`
	Last    *Job   `json:"last"`
}

// Retention runs the policy.
type Retention struct {
	st  *store.Store
	now func() time.Time
	// BatchSize is how many records one write batch deletes.
	BatchSize int
	// Needs lists what other parts of Tern still read (nil: nothing).
	Needs NeedsFunc

	mu      sync.Mutex
	running *Job
	last    *Job
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewRetention builds retention over st's prediction log.
func NewRetention(st *store.Store) *Retention {
	return &Retention{st: st, now: time.Now, BatchSize: 5000}
}

// Policy reads the stored policy (none stored: keep everything).
func (r *Retention) Policy() (Policy, error) {
	var p Policy
	err := r.st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, policyKey, &p) })
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return p, core.Wrap(err, core.Internal, "The retention policy could not be read.")
	}
	return p, nil
}

// SetPolicy stores the limits and the schedule (the last run's figures are
// kept as they are).
func (r *Retention) SetPolicy(p Policy) (Policy, error) {
	if err := p.validate(); err != nil {
		return Policy{}, err
	}
	var out Policy
	err := r.st.DB.Update(func(txn *badger.Txn) error {
		var old Policy
		if err := store.GetJSON(txn, policyKey, &old); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		out = old
		out.Global, out.PerDeployment, out.EveryHours = p.Global, p.PerDeployment, p.EveryHours
		if err := audit.Append(txn, audit.Record{Action: "prediction_log.retention_policy", Objects: []audit.Object{retentionObj}, Before: old.String(), After: out.String()}); err != nil {
			return err
		}
		return store.SetJSON(txn, policyKey, out)
	})
	if err != nil {
		return Policy{}, core.Wrap(err, core.Internal, "The retention policy could not be saved.")
	}
	return out, nil
}

var retentionObj = audit.Object{Kind: "prediction_log", ID: "retention", Name: "prediction log retention"}

// Preview is the dry run of p: each deployment's log, what p would delete
// and how many bytes that is. It changes nothing.
func (r *Retention) Preview(ctx context.Context, p Policy) (Estimate, error) {
	if err := p.validate(); err != nil {
		return Estimate{}, err
	}
	needs := map[string][]Need{}
	if r.Needs != nil {
		list, err := r.Needs()
		if err != nil {
			// Not knowing what monitors need, a run could take it.
			return Estimate{}, core.Wrap(err, core.Internal, "Retention could not tell which predictions monitors and labels still need, so it deletes nothing.")
		}
		for _, n := range list {
			needs[n.Deployment] = append(needs[n.Deployment], n)
		}
	}
	est := Estimate{Deployments: []DeploymentEstimate{}}
	now := r.now().UnixNano()
	err := r.st.DB.View(func(txn *badger.Txn) error {
		for _, dep := range logDeployments(txn) {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := estimateOne(txn, dep, p.limit(dep), now, needs[dep])
			est.Deployments = append(est.Deployments, d)
			est.Records += d.Records
			est.Bytes += d.Bytes
			est.DeleteRecords += d.DeleteRecords
			est.DeleteBytes += d.DeleteBytes
			est.NeededRecords += d.NeededRecords
			est.NeededBytes += d.NeededBytes
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return Estimate{}, core.Errorf(core.Invalid, "The estimate was cancelled.")
		}
		return Estimate{}, core.Wrap(err, core.Internal, "The prediction log could not be read.")
	}
	return est, nil
}

// logDeployments lists the deployments with a log, jumping from one to the
// next without reading their records.
func logDeployments(txn *badger.Txn) []string {
	var out []string
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Prefix = []byte{prefixPredLog}
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Seek([]byte{prefixPredLog}); it.ValidForPrefix([]byte{prefixPredLog}); {
		k := it.Item().Key()
		i := bytes.IndexByte(k[1:], 0)
		if i < 0 {
			it.Next()
			continue
		}
		dep := string(k[1 : 1+i])
		out = append(out, dep)
		it.Seek(store.PrefixEnd(logPrefix(dep)))
	}
	return out
}

// estimateOne walks a deployment's log newest first: a record goes when it
// is older than the day limit or when the bytes kept so far, itself
// included, pass the size limit. Both rules only ever grow older, so the
// first record to go marks the boundary and everything older goes too —
// except what needs still read, which is kept and counted apart.
func estimateOne(txn *badger.Txn, dep string, l Limit, now int64, needs []Need) DeploymentEstimate {
	d := DeploymentEstimate{Deployment: dep, Limit: l, Needs: []NeedCount{}}
	cutoff := int64(-1 << 63)
	if l.KeepDays > 0 {
		cutoff = now - int64(l.KeepDays)*int64(24*time.Hour)
	}
	labelled, labelNeed := labelledKeys(txn, dep, needs)
	counts := make([]int64, len(needs))
	prefix := logPrefix(dep)
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	opt.Reverse = true
	opt.Prefix = prefix
	it := txn.NewIterator(opt)
	defer it.Close()
	var kept, rank int64
	for it.Seek(store.PrefixEnd(prefix)); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		size := int64(len(item.Key())) + int64(item.ValueSize())
		t := keyTime(item.Key(), len(prefix))
		d.Records++
		d.Bytes += size
		d.Oldest = t
		if d.boundary == nil && !l.none() && (t < cutoff || (l.KeepBytes > 0 && kept+size > l.KeepBytes)) {
			d.boundary = item.KeyCopy(nil)
		}
		if d.boundary == nil {
			kept += size
			rank++
			continue
		}
		needed := false
		for i, n := range needs {
			if n.reads(rank, t) {
				counts[i]++
				needed = true
			}
		}
		if _, ok := labelled[string(item.Key())]; ok {
			counts[labelNeed]++
			needed = true
		}
		rank++
		if !needed {
			d.DeleteRecords++
			d.DeleteBytes += size
			continue
		}
		d.NeededRecords++
		d.NeededBytes += size
		if d.keep == nil {
			d.keep = map[string]struct{}{}
		}
		d.keep[string(item.Key())] = struct{}{}
	}
	for i, n := range needs {
		if counts[i] > 0 {
			d.Needs = append(d.Needs, NeedCount{What: n.What, Records: counts[i]})
		}
	}
	return d
}

// labelledKeys finds the log keys of the labelled requests of needs
// through the request-ID index (every record of a reused ID), and the
// index of the need that lists them (the last one listing any, -1 none).
func labelledKeys(txn *badger.Txn, dep string, needs []Need) (map[string]struct{}, int) {
	at := -1
	var keys map[string]struct{}
	opt := badger.DefaultIteratorOptions
	opt.PrefetchValues = false
	var it *badger.Iterator
	for i, n := range needs {
		if len(n.RequestIDs) == 0 {
			continue
		}
		at = i
		if it == nil {
			it = txn.NewIterator(opt)
			defer it.Close()
			keys = map[string]struct{}{}
		}
		for _, id := range n.RequestIDs {
			if id == "" || strings.IndexByte(id, 0) >= 0 {
				continue
			}
			prefix := store.Key(prefixRequestID, []byte(dep), []byte{0}, []byte(id), []byte{0})
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				if tail := it.Item().Key()[len(prefix):]; len(tail) == 16 {
					keys[string(append(logPrefix(dep), tail...))] = struct{}{}
				}
			}
		}
	}
	return keys, at
}

// keyTime reads the I64 time after a log key's deployment prefix.
func keyTime(k []byte, at int) int64 {
	if len(k) < at+8 {
		return 0
	}
	return store.DecodeI64(k[at : at+8])
}

// Start runs the stored policy as a job and returns at once; Status
// follows it and Cancel stops it between batches (what was deleted stays
// deleted). One run at a time. It keeps what monitors and labels need
// unless opt.DeleteNeeded.
func (r *Retention) Start(ctx context.Context, opt StartOptions) (Job, error) {
	return r.start(ctx, "manual", opt)
}

func (r *Retention) start(_ context.Context, trigger string, opt StartOptions) (Job, error) {
	p, err := r.Policy()
	if err != nil {
		return Job{}, err
	}
	r.mu.Lock()
	if r.running != nil {
		r.mu.Unlock()
		return Job{}, core.Errorf(core.Conflict, "Retention is already running; wait for it or cancel it.")
	}
	job := &Job{ID: core.NewID(), Trigger: trigger, State: "running", Phase: "deleting", Started: r.now().UnixMilli(),
		DeleteNeeded: opt.DeleteNeeded, Removed: []Removed{}}
	r.running = job
	jctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	done := r.done
	r.mu.Unlock()

	// The call's own record says who asked for what; how the run ended is
	// Tern's record, written when it ends.
	what := trigger + ": " + p.String()
	if opt.DeleteNeeded {
		what += "; also what monitors and labels still need (chosen when starting)"
	}
	rec := audit.Record{Action: "prediction_log.retention.start", Objects: []audit.Object{retentionObj}, After: what}
	if trigger == "schedule" {
		rec.Actor = audit.Actor{Face: audit.Tern, Who: "retention schedule"}
	}
	if err := audit.Write(r.st.DB, rec); err != nil {
		r.finish(job, nil, err)
		close(done)
		cancel()
		return Job{}, core.Wrap(err, core.Internal, "Retention could not start.")
	}
	r.mu.Lock()
	snapshot := *job.clone()
	r.mu.Unlock()
	go func() {
		defer close(done)
		defer cancel()
		err := r.run(jctx, job, p)
		r.finish(job, &p, err)
	}()
	return snapshot, nil
}

func (r *Retention) run(ctx context.Context, job *Job, p Policy) error {
	dbDir := filepath.Join(r.st.Dir, "db")
	before := diskspace.Allocated(dbDir)
	est, err := r.Preview(ctx, p)
	if err != nil {
		return err
	}
	r.progress(func(j *Job) {
		j.Total, j.DiskBefore, j.Kept = est.DeleteRecords, before, est.NeededRecords
		if j.DeleteNeeded {
			j.Total, j.Kept = est.DeleteRecords+est.NeededRecords, 0
		}
	})
	for _, d := range est.Deployments {
		if d.boundary == nil {
			continue
		}
		if err := r.deleteThrough(ctx, d, job.DeleteNeeded); err != nil {
			return err
		}
	}
	r.progress(func(j *Job) { j.Phase = "reclaiming" })
	if err := r.reclaim(); err != nil {
		return core.Wrap(err, core.Internal, "The records are deleted but Badger could not compact its tables.")
	}
	r.st.RunGC()
	after := diskspace.Allocated(dbDir)
	r.progress(func(j *Job) { j.DiskAfter = after })
	return nil
}

// reclaimSettle is how long ReclaimPending lets Badger's read watermark
// catch up after Open before it compacts.
const reclaimSettle = time.Second

// reclaimKey marks deletes whose space may not have come back yet.
var reclaimKey = store.Key(prefixRetention, []byte("reclaim"))

// reclaim gives deleted records' space back as far as Badger allows
// without holding up other writers. Deleting writes tombstones to the
// memtable; the records they hide sit in SSTables, and only a compaction
// that sees both drops them. Flatten compacts every level into the last
// (tombstones already flushed — most of them in a large run, since a
// memtable flushes every 64 MB — drop there with their records), and
// value-log GC rewrites what large values left behind. The tombstones
// still in the memtable reach the tables when it fills or when Tern
// closes; reclaimKey makes the next start (ReclaimPending) finish the job.
// Forcing a flush now (DropPrefix) would fail every other write in Tern
// for as long as it takes.
func (r *Retention) reclaim() error {
	if err := r.st.DB.Update(func(txn *badger.Txn) error { return txn.Set(reclaimKey, nil) }); err != nil {
		return err
	}
	if err := r.st.DB.Flatten(1); err != nil {
		return err
	}
	r.st.RunGC()
	return nil
}

// ReclaimPending finishes the reclaim of an earlier run, once its
// tombstones are in the tables (at start, after the last close flushed
// the memtable); false when nothing was pending.
func (r *Retention) ReclaimPending() (bool, error) {
	err := r.st.DB.View(func(txn *badger.Txn) error { _, err := txn.Get(reclaimKey); return err })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A compaction drops a deleted record only at or below Badger's
	// discard timestamp, its read watermark, which a goroutine advances
	// after Open. Flattening at once on a busy machine moved the records
	// and their tombstones into the last level with the mark still at 0,
	// and a second Flatten then finds one level and does nothing. There is
	// no call to wait for the mark, so give it time.
	time.Sleep(reclaimSettle)
	if err := r.st.DB.Flatten(1); err != nil {
		return false, err
	}
	r.st.RunGC()
	return true, r.st.DB.Update(func(txn *badger.Txn) error { return txn.Delete(reclaimKey) })
}

// deleteThrough deletes a deployment's records from the oldest through
// its boundary, with their request-ID index entries, in batches; the
// needed keys stay unless deleteNeeded.
func (r *Retention) deleteThrough(ctx context.Context, d DeploymentEstimate, deleteNeeded bool) error {
	dep := d.Deployment
	prefix := logPrefix(dep)
	from := prefix
	r.progress(func(j *Job) { j.Removed = append(j.Removed, Removed{Deployment: dep}) })
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var keys [][]byte
		var n, size, needed int64
		err := r.st.DB.View(func(txn *badger.Txn) error {
			opt := badger.DefaultIteratorOptions
			opt.Prefix = prefix
			it := txn.NewIterator(opt)
			defer it.Close()
			for it.Seek(from); it.ValidForPrefix(prefix) && n < int64(r.BatchSize); it.Next() {
				item := it.Item()
				k := item.KeyCopy(nil)
				if bytes.Compare(k, d.boundary) > 0 {
					break
				}
				// The next batch starts after this key, deleted or kept.
				from = append(k[:len(k):len(k)], 0)
				if _, ok := d.keep[string(k)]; ok {
					if !deleteNeeded {
						continue
					}
					needed++
				}
				keys = append(keys, k)
				n++
				size += int64(len(k)) + int64(item.ValueSize())
				var rec Record
				if err := item.Value(func(v []byte) error { return decodeRecord(v, &rec) }); err == nil && rec.RequestID != "" {
					seq := store.DecodeU64(k[len(k)-8:])
					keys = append(keys, requestIDKey(dep, rec.RequestID, keyTime(k, len(prefix)), seq))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		wb := r.st.DB.NewWriteBatch()
		for _, k := range keys {
			if err := wb.Delete(k); err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
		r.progress(func(j *Job) {
			j.Done += n
			j.Deleted += n
			last := &j.Removed[len(j.Removed)-1]
			last.Records += n
			last.Bytes += size
			last.Needed += needed
		})
	}
}

func (r *Retention) progress(f func(*Job)) {
	r.mu.Lock()
	if r.running != nil {
		f(r.running)
	}
	r.mu.Unlock()
}

// finish ends the job, stores the outcome in the policy and records it.
func (r *Retention) finish(job *Job, p *Policy, err error) {
	r.mu.Lock()
	job.Ended = r.now().UnixMilli()
	switch {
	case err == nil:
		job.State = "done"
	case errors.Is(err, context.Canceled):
		job.State, job.Error = "cancelled", fmt.Sprintf("Cancelled after deleting %d records; those stay deleted.", job.Deleted)
	default:
		job.State, job.Error = "failed", core.ErrorMessage(err)
	}
	j := *job.clone()
	r.last, r.running = &j, nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	after := fmt.Sprintf("%s: deleted %d records", j.State, j.Deleted)
	for _, rm := range j.Removed {
		after += fmt.Sprintf("; %s: %d records (%d bytes as stored)", rm.Deployment, rm.Records, rm.Bytes)
		if rm.Needed > 0 {
			after += fmt.Sprintf(", %d of them needed by monitors or labels", rm.Needed)
		}
	}
	if j.Kept > 0 {
		after += fmt.Sprintf("; kept %d records monitors or labels still need", j.Kept)
	}
	if j.State == "done" {
		after += fmt.Sprintf("; data folder %d → %d bytes", j.DiskBefore, j.DiskAfter)
	}
	_ = r.st.DB.Update(func(txn *badger.Txn) error {
		var cur Policy
		if err := store.GetJSON(txn, policyKey, &cur); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		cur.LastRun, cur.LastDeleted, cur.LastError = j.Ended, j.Deleted, j.Error
		cur.LastFreed = max(0, j.DiskBefore-j.DiskAfter)
		if err := audit.Append(txn, audit.Record{Actor: audit.Actor{Face: audit.Tern, Who: "retention " + j.ID}, Action: "prediction_log.retention", Objects: []audit.Object{retentionObj}, After: after}); err != nil {
			return err
		}
		return store.SetJSON(txn, policyKey, cur)
	})
}

// Status is the policy, the running job and the last one.
func (r *Retention) Status() (RetentionStatus, error) {
	p, err := r.Policy()
	if err != nil {
		return RetentionStatus{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RetentionStatus{Policy: p}
	if r.running != nil {
		st.Running = r.running.clone()
	}
	if r.last != nil {
		st.Last = r.last.clone()
	}
	return st, nil
}

// Cancel stops the running job; false when id is not running.
func (r *Retention) Cancel(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil || r.running.ID != id {
		return false
	}
	r.cancel()
	return true
}

// Wait blocks until the running job (if any) has ended.
func (r *Retention) Wait() {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Schedule runs the policy on its own every EveryHours, checking each
// tick, until ctx ends; main.go starts it.
func (r *Retention) Schedule(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = 10 * time.Minute
	}
	if _, err := r.ReclaimPending(); err != nil {
		slog.Warn("prediction-log retention: finishing the last run's reclaim", "err", err)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			if r.cancel != nil {
				r.cancel()
			}
			r.mu.Unlock()
			r.Wait()
			return
		case <-t.C:
			r.Due()
		}
	}
}

// Due starts a scheduled run when the policy asks for one and the last
// run is older than its interval; true when it started one.
func (r *Retention) Due() bool {
	p, err := r.Policy()
	if err != nil || p.EveryHours <= 0 || (p.Global.none() && allNone(p.PerDeployment)) {
		return false
	}
	if r.now().UnixMilli()-p.LastRun < int64(p.EveryHours)*int64(time.Hour/time.Millisecond) {
		return false
	}
	_, err = r.start(context.Background(), "schedule", StartOptions{})
	return err == nil
}

func allNone(m map[string]Limit) bool {
	for _, l := range m {
		if !l.none() {
			return false
		}
	}
	return true
}
