package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Job states.
const (
	Running   = "running"
	Done      = "done"
	Failed    = "failed"
	Cancelled = "cancelled"
)

// Job is one backup or restore, running or finished.
type Job struct {
	ID string `json:"id"`
	// Kind is "backup" or "restore".
	Kind string `json:"kind"`
	// Trigger is "manual" or "schedule".
	Trigger  string    `json:"trigger"`
	State    string    `json:"state"`
	Progress Progress  `json:"progress"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	// Target is the backup file being written, or the folder restored into.
	Target string   `json:"target"`
	Result *Summary `json:"result"`
	Error  string   `json:"error"`
}

// Schedule is when backups run by themselves and what they keep.
type Schedule struct {
	// EveryHours is the interval; 0 turns the schedule off.
	EveryHours int `json:"everyHours"`
	// Keep is how many scheduled and manual backup files to keep in
	// Folder; older ones are deleted after each success. 0 keeps all.
	Keep int `json:"keep"`
	// Folder receives the files; empty means the default folder.
	Folder string `json:"folder"`
	// LastRun and LastPath describe the last successful backup, LastError
	// the last failure (cleared by a success).
	LastRun   time.Time `json:"lastRun"`
	LastPath  string    `json:"lastPath"`
	LastError string    `json:"lastError"`
	// LastTry is when the last backup (manual or scheduled) started: the
	// next scheduled one is an interval after it, so a failing one is not
	// retried every minute.
	LastTry time.Time `json:"lastTry"`
}

// Status is what the Settings screen shows.
type Status struct {
	Current       *Job      `json:"current"`
	Last          *Job      `json:"last"`
	Schedule      Schedule  `json:"schedule"`
	DefaultFolder string    `json:"defaultFolder"`
	NextRun       time.Time `json:"nextRun"`
}

// Service runs one backup or restore at a time, by hand or on schedule.
type Service struct {
	src   Source
	clock core.Clock

	mu     sync.Mutex
	cur    *Job
	cancel context.CancelFunc
	last   *Job
	wg     sync.WaitGroup
}

var scheduleKey = store.Key(store.PrefixMeta, []byte("backup/schedule"))

// NewService backs up src; clock nil is the wall clock.
func NewService(src Source, clock core.Clock) *Service {
	return &Service{src: src, clock: core.OrSystem(clock)}
}

// DefaultFolder is where backups go unless the schedule names another:
// inside the data dir (which backups skip), so one click always works;
// pick a folder on another disk to survive losing this one.
func (s *Service) DefaultFolder() string { return filepath.Join(s.src.DataDir, "backups") }

// Status reports the running job, the last finished one and the schedule.
func (s *Service) Status() (Status, error) {
	sc, err := s.Schedule()
	if err != nil {
		return Status{}, err
	}
	st := Status{Schedule: sc, DefaultFolder: s.DefaultFolder()}
	if sc.EveryHours > 0 {
		st.NextRun = s.nextRun(sc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		c := *s.cur
		st.Current = &c
	}
	if s.last != nil {
		l := *s.last
		st.Last = &l
	}
	return st, nil
}

func (s *Service) nextRun(sc Schedule) time.Time {
	if sc.LastTry.IsZero() {
		return s.clock.Now().UTC()
	}
	return sc.LastTry.Add(time.Duration(sc.EveryHours) * time.Hour)
}

// Schedule reads the stored schedule.
func (s *Service) Schedule() (Schedule, error) {
	var sc Schedule
	err := s.src.Store.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, scheduleKey, &sc) })
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return sc, core.Wrap(err, core.Internal, "Tern could not read its backup settings.")
	}
	return sc, nil
}

// SetSchedule stores the interval, how many files to keep and the folder;
// the record of the last run is kept as it was.
func (s *Service) SetSchedule(in Schedule) (Schedule, error) {
	if in.EveryHours < 0 || in.EveryHours > 24*365 {
		return Schedule{}, core.Errorf(core.Invalid, "Back up every 1 to 8760 hours, or 0 for never.")
	}
	if in.Keep < 0 || in.Keep > 1000 {
		return Schedule{}, core.Errorf(core.Invalid, "Keep 1 to 1000 backups, or 0 to keep them all.")
	}
	in.Folder = strings.TrimSpace(in.Folder)
	if in.Folder != "" && !filepath.IsAbs(in.Folder) {
		return Schedule{}, core.Errorf(core.Invalid, "The backup folder must be a full path (%q is not).", in.Folder)
	}
	var out Schedule
	err := s.update(func(sc *Schedule) *audit.Record {
		before := scheduleText(*sc)
		sc.EveryHours, sc.Keep, sc.Folder = in.EveryHours, in.Keep, in.Folder
		out = *sc
		return &audit.Record{Action: "setting.backup_schedule", Objects: []audit.Object{{Kind: "setting", ID: "backup.schedule", Name: "backup schedule"}},
			Before: before, After: scheduleText(*sc)}
	})
	return out, err
}

func scheduleText(sc Schedule) string {
	every := "never"
	if sc.EveryHours > 0 {
		every = fmt.Sprintf("every %d h", sc.EveryHours)
	}
	folder := sc.Folder
	if folder == "" {
		folder = "the default folder"
	}
	return fmt.Sprintf("%s, keep %d, to %s", every, sc.Keep, folder)
}

// update changes the stored schedule in one transaction, with the audit
// record fn returns (nil for bookkeeping that changes no setting).
func (s *Service) update(fn func(*Schedule) *audit.Record) error {
	err := s.src.Store.DB.Update(func(txn *badger.Txn) error {
		var sc Schedule
		if err := store.GetJSON(txn, scheduleKey, &sc); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if rec := fn(&sc); rec != nil {
			if err := audit.Append(txn, *rec); err != nil {
				return err
			}
		}
		return store.SetJSON(txn, scheduleKey, sc)
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern could not save its backup settings.")
	}
	return nil
}

// Start begins a backup into folder (empty: the schedule's folder, else
// the default) and returns at once; Status follows it.
func (s *Service) Start(ctx context.Context, folder string) (Job, error) {
	return s.startBackup(ctx, folder, "manual")
}

func (s *Service) startBackup(ctx context.Context, folder, trigger string) (Job, error) {
	if err := s.busy(); err != nil {
		return Job{}, err
	}
	sc, err := s.Schedule()
	if err != nil {
		return Job{}, err
	}
	folder = strings.TrimSpace(folder)
	if folder == "" {
		folder = sc.Folder
	}
	if folder == "" {
		folder = s.DefaultFolder()
	}
	if !filepath.IsAbs(folder) {
		return Job{}, core.Errorf(core.Invalid, "The backup folder must be a full path (%q is not).", folder)
	}
	now := s.clock.Now().UTC()
	path := filepath.Join(folder, "tern-backup-"+now.Format("20060102-150405")+".tar")
	src := s.src
	if rel, err := filepath.Rel(src.DataDir, folder); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		// A folder inside the data dir is left out of the backups it receives.
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		src.Skip = append(append([]string(nil), src.Skip...), top)
	}
	// The call's own record says who asked for which file; how the job
	// ended is job bookkeeping, recorded by Tern when it ends.
	if err := s.update(func(sc *Schedule) *audit.Record {
		sc.LastTry = now
		return &audit.Record{Action: "backup.start", Objects: []audit.Object{backupObj(path)}, After: trigger}
	}); err != nil {
		return Job{}, err
	}
	return s.run(ctx, Job{Kind: "backup", Trigger: trigger, Target: path}, func(ctx context.Context, id string, progress func(Progress)) (Summary, error) {
		sum, err := WriteFile(ctx, src, path, progress)
		s.afterBackup(id, folder, sc.Keep, path, sum, err)
		return sum, err
	})
}

func backupObj(path string) audit.Object {
	return audit.Object{Kind: "backup", ID: path, Name: filepath.Base(path)}
}

// afterBackup records the outcome in the schedule and, on success, keeps
// only the newest Keep backup files in folder.
func (s *Service) afterBackup(jobID, folder string, keep int, path string, sum Summary, err error) {
	_ = s.update(func(sc *Schedule) *audit.Record {
		rec := &audit.Record{Actor: audit.Actor{Face: audit.Tern, Who: "backup " + jobID}, Action: "backup.write", Objects: []audit.Object{backupObj(path)}}
		if err != nil {
			sc.LastError = core.ErrorMessage(err)
			rec.Action, rec.After = "backup.fail", sc.LastError
			return rec
		}
		sc.LastRun, sc.LastPath, sc.LastError = sum.Created, sum.Path, ""
		rec.After = fmt.Sprintf("%d records, %d stored files, %d other files as of read timestamp %d", sum.Records, sum.Blobs, sum.Files, sum.ReadTs)
		return rec
	})
	if err != nil || keep <= 0 {
		return
	}
	ents, _ := os.ReadDir(folder)
	var names []string
	for _, e := range ents {
		// Only files this service named: nothing else in the folder is touched.
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, "tern-backup-") && strings.HasSuffix(n, ".tar") {
			names = append(names, n)
		}
	}
	sort.Strings(names) // the name is the time, so oldest first
	for len(names) > keep {
		os.Remove(filepath.Join(folder, names[0]))
		names = names[1:]
	}
}

// StartRestore begins restoring file into dir (a new, empty folder).
func (s *Service) StartRestore(ctx context.Context, file, dir string) (Job, error) {
	file, dir = strings.TrimSpace(file), strings.TrimSpace(dir)
	if !filepath.IsAbs(file) || !filepath.IsAbs(dir) {
		return Job{}, core.Errorf(core.Invalid, "Give the backup file and the new data folder as full paths.")
	}
	if rel, err := filepath.Rel(s.src.DataDir, dir); err == nil && !strings.HasPrefix(rel, "..") {
		return Job{}, core.Errorf(core.Invalid, "Restore into a folder outside the data folder Tern is using (%s).", s.src.DataDir)
	}
	return s.run(ctx, Job{Kind: "restore", Trigger: "manual", Target: dir}, func(ctx context.Context, _ string, progress func(Progress)) (Summary, error) {
		return Restore(ctx, file, dir, progress)
	})
}

// run starts job in the background unless one is running.
func (s *Service) run(ctx context.Context, job Job, work func(ctx context.Context, id string, progress func(Progress)) (Summary, error)) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.busyLocked(); err != nil {
		return Job{}, err
	}
	job.ID = core.NewID()
	job.State = Running
	job.Started = s.clock.Now().UTC()
	// The job outlives the bound call that started it; Close ends it with the app.
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cur, s.cancel = &job, cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		sum, err := work(jctx, job.ID, func(p Progress) {
			s.mu.Lock()
			s.cur.Progress = p
			s.mu.Unlock()
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		j := s.cur
		j.Ended = s.clock.Now().UTC()
		switch {
		case err == nil:
			j.State, j.Result = Done, &sum
		case jctx.Err() != nil:
			j.State, j.Error = Cancelled, fmt.Sprintf("The %s was cancelled; nothing was left behind.", j.Kind)
		default:
			j.State, j.Error = Failed, core.ErrorMessage(err)
		}
		s.last, s.cur, s.cancel = j, nil, nil
	}()
	return job, nil
}

func (s *Service) busy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busyLocked()
}

func (s *Service) busyLocked() error {
	if s.cur != nil {
		return core.Errorf(core.Conflict, "A %s is already running; wait for it or cancel it.", s.cur.Kind)
	}
	return nil
}

// Cancel stops the running job with that ID; false if none.
func (s *Service) Cancel(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.ID != id {
		return false
	}
	s.cancel()
	return true
}

// Wait blocks until no job runs (tests, and Close).
func (s *Service) Wait() { s.wg.Wait() }

// Close cancels a running job and waits for it: the store it reads
// closes next.
func (s *Service) Close() {
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// RunSchedule starts scheduled backups when due, checking every tick
// until ctx ends.
func (s *Service) RunSchedule(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick starts a scheduled backup if one is due and none is running;
// it reports whether it started one.
func (s *Service) Tick(ctx context.Context) bool {
	sc, err := s.Schedule()
	if err != nil || sc.EveryHours <= 0 || s.clock.Now().Before(s.nextRun(sc)) {
		return false
	}
	_, err = s.startBackup(ctx, "", "schedule")
	return err == nil
}
