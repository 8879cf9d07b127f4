package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/store"
)

// monitorAlertTopic is the topic the monitor service publishes alerts on.
const monitorAlertTopic = "monitor.alert"

// triggerState is what a trigger has already fired for (key kTrigger), so
// a restart neither repeats nor loses a firing.
type triggerState struct {
	// Seen is the highest dataset version number a dataset trigger fired for.
	Seen int `json:"seen,omitempty"`
	// Last is when a schedule last fired (or was first seen).
	Last time.Time `json:"last,omitzero"`
	// Files are a folder trigger's files already handled: name → size and
	// modification time, so a file replaced in place counts as new.
	Files map[string]string `json:"files,omitempty"`
	// Looked says the folder was looked at once: an empty Files does not
	// survive JSON, and without this a folder empty at first sight would
	// take its first file for one that was there before.
	Looked bool `json:"looked,omitempty"`
}

func triggerKey(pid string, t Trigger) []byte {
	h := sha256.Sum256([]byte(string(t.Kind) + "\x00" + t.Cron + "\x00" + t.Dataset + "\x00" + t.Monitor + "\x00" + t.Rule + "\x00" + t.Folder))
	return append(triggerPrefix(pid), hex.EncodeToString(h[:8])...)
}

// watchTriggers fires the automatic triggers until ctx ends: new dataset
// versions and monitor alerts from the bus, schedules on a tick.
func (e *Engine) watchTriggers(ctx context.Context, events <-chan core.Event) {
	defer audit.Bind(audit.Actor{Face: audit.Tern})() // runs started by triggers are Tern's doing
	tick := e.cfg.Tick
	if tick <= 0 {
		tick = 15 * time.Second
	}
	timer := time.NewTicker(tick)
	defer timer.Stop()
	e.checkSchedules(e.now())
	e.checkFolders(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			e.onEvent(ev)
		case <-timer.C:
			e.checkSchedules(e.now())
			e.checkFolders(ctx)
		}
	}
}

func (e *Engine) onEvent(ev core.Event) {
	defer func() {
		if p := recover(); p != nil { // a trigger must never take the engine down
			e.log.Error("pipeline trigger panicked", "topic", ev.Topic, "panic", p)
		}
	}()
	switch ev.Topic {
	case dataset.TopicChanged:
		m, _ := ev.Data.(map[string]string)
		if m["versionId"] != "" {
			e.onVersion(m["versionId"])
		}
	case monitorAlertTopic:
		if a, ok := ev.Data.(monitor.Alert); ok {
			e.onAlert(a)
		}
	}
}

// eachTrigger hands every trigger of kind in every pipeline to fn.
func (e *Engine) eachTrigger(kind TriggerKind, fn func(p Pipeline, t Trigger)) {
	var ps []Pipeline
	_ = e.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kPipeline}, false, func(p Pipeline) error {
			ps = append(ps, p)
			return nil
		})
	})
	for _, p := range ps {
		for _, t := range p.Triggers {
			if t.Kind == kind {
				fn(p, t)
			}
		}
	}
}

// advance updates a trigger's state in one transaction and says whether
// to fire: fn returns the new state and true to fire.
func (e *Engine) advance(pid string, t Trigger, fn func(st triggerState) (triggerState, bool)) bool {
	fire := false
	err := e.update(func(txn *badger.Txn) error {
		var st triggerState
		if err := store.GetJSON(txn, triggerKey(pid, t), &st); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		next, ok := fn(st)
		fire = ok
		return store.SetJSON(txn, triggerKey(pid, t), next)
	})
	if err != nil {
		e.log.Error("pipeline trigger state", "pipeline", pid, "err", err)
		return false
	}
	return fire
}

// onVersion fires dataset triggers for a new version: newer than any the
// trigger fired for, imported after the pipeline was last saved (an edit
// or a trash of an old version also announces it), not in the trash.
func (e *Engine) onVersion(versionID string) {
	if e.cfg.Datasets == nil {
		return
	}
	v, err := e.cfg.Datasets.Version(versionID)
	if err != nil || v.Trashed {
		return
	}
	e.eachTrigger(TriggerDataset, func(p Pipeline, t Trigger) {
		if t.Dataset != v.DatasetID && !strings.EqualFold(t.Dataset, v.Dataset) {
			return
		}
		if v.Imported.Before(p.Updated) {
			return
		}
		if !e.advance(p.ID, t, func(st triggerState) (triggerState, bool) {
			if v.Number <= st.Seen {
				return st, false
			}
			st.Seen = v.Number
			return st, true
		}) {
			return
		}
		e.fireLogged(p, Firing{Kind: TriggerDataset, Detail: fmt.Sprintf("new version %s v%d", v.Dataset, v.Number)})
	})
}

// onAlert fires alert triggers whose monitor (empty: any) and rule (empty:
// any; by name or ID) match.
func (e *Engine) onAlert(a monitor.Alert) {
	e.eachTrigger(TriggerAlert, func(p Pipeline, t Trigger) {
		if t.Monitor != "" && t.Monitor != a.Monitor {
			return
		}
		if t.Rule != "" && !strings.EqualFold(t.Rule, a.Rule) && t.Rule != a.RuleID {
			return
		}
		e.fireLogged(p, Firing{Kind: TriggerAlert, Detail: fmt.Sprintf("alert %q on monitor %s: %s", a.Rule, a.Monitor, a.Message)})
	})
}

// checkSchedules fires each schedule whose next time after its last firing
// has come. A schedule seen for the first time starts counting from now;
// times missed while Tern was closed fire once at the next start, not once
// per missed time.
func (e *Engine) checkSchedules(now time.Time) {
	e.eachTrigger(TriggerSchedule, func(p Pipeline, t Trigger) {
		sched, err := ParseCron(t.Cron)
		if err != nil {
			return
		}
		var due time.Time
		if !e.advance(p.ID, t, func(st triggerState) (triggerState, bool) {
			if st.Last.IsZero() {
				st.Last = now
				return st, false
			}
			due = sched.Next(st.Last)
			if now.Before(due) {
				return st, false
			}
			st.Last = now
			return st, true
		}) {
			return
		}
		e.fireLogged(p, Firing{Kind: TriggerSchedule, Detail: fmt.Sprintf("schedule %s (due %s UTC)", t.Cron, due.UTC().Format("2006-01-02 15:04"))})
	})
}

func (e *Engine) fireLogged(p Pipeline, f Firing) {
	if _, err := e.Fire(p.ID, f); err != nil {
		e.log.Error("firing pipeline trigger", "pipeline", p.Name, "trigger", f.Kind, "err", err)
	}
}

// FireWebhook fires pipeline id's webhook trigger (the HTTP face's
// token-protected route calls it); a pipeline without one refuses.
func (e *Engine) FireWebhook(id, detail string) (Run, error) {
	p, err := e.Get(id)
	if err != nil {
		return Run{}, err
	}
	for _, t := range p.Triggers {
		if t.Kind == TriggerWebhook {
			if detail == "" {
				detail = "webhook"
			}
			return e.Fire(id, Firing{Kind: TriggerWebhook, Detail: detail})
		}
	}
	return Run{}, core.Errorf(core.Conflict, "Pipeline %q has no webhook trigger; add one to start it from outside.", p.Name)
}

// HookRun is FireWebhook in plain values, for the HTTP face's route.
func (e *Engine) HookRun(id, detail string) (runID string, number, firings int, err error) {
	r, err := e.FireWebhook(id, detail)
	return r.ID, r.Number, len(r.Firings), err
}

// maxFolderFiles bounds one look at a watched folder: a folder holding
// more is someone's archive, not an inbox.
const maxFolderFiles = 10000

// checkFolders looks at each watched folder: a file not seen before, and
// the same size and time as at the previous look (so one still being
// written waits), is imported as the next version of the trigger's
// dataset, oldest first, and a run fires (an ImportOnly trigger imports
// and leaves starting to another trigger). Files present when a trigger is
// first seen count as already handled.
func (e *Engine) checkFolders(ctx context.Context) {
	if e.cfg.Datasets == nil {
		return
	}
	e.folderMu.Lock()
	defer e.folderMu.Unlock()
	e.eachTrigger(TriggerFolder, func(p Pipeline, t Trigger) {
		if ctx.Err() != nil {
			return
		}
		entries, err := os.ReadDir(t.Folder)
		if err != nil {
			e.log.Warn("watched folder", "pipeline", p.Name, "folder", t.Folder, "err", err)
			return
		}
		type file struct {
			name, stamp string
			mod         time.Time
		}
		var files []file
		for i, de := range entries {
			if i == maxFolderFiles {
				break
			}
			if !de.Type().IsRegular() || strings.HasPrefix(de.Name(), ".") {
				continue
			}
			fi, err := de.Info()
			if err != nil {
				continue
			}
			files = append(files, file{de.Name(), fmt.Sprintf("%d %d", fi.Size(), fi.ModTime().UnixNano()), fi.ModTime()})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
		var fresh []file
		e.advance(p.ID, t, func(st triggerState) (triggerState, bool) {
			first := st.Files == nil && !st.Looked
			st.Looked = true
			if st.Files == nil {
				st.Files = map[string]string{}
			}
			for _, f := range files {
				if first {
					st.Files[f.name] = f.stamp
					continue
				}
				if st.Files[f.name] == f.stamp {
					continue
				}
				key := t.Folder + "\x00" + f.name
				e.mu.Lock()
				prev := e.settling[key]
				e.settling[key] = f.stamp
				e.mu.Unlock()
				if prev == f.stamp { // unchanged since the last look: written
					fresh = append(fresh, f)
				}
			}
			return st, false
		})
		for _, f := range fresh {
			v, err := e.cfg.Datasets.ImportPath(ctx, filepath.Join(t.Folder, f.name), dataset.Options{Name: t.Dataset})
			if err != nil {
				e.log.Warn("importing a watched file", "pipeline", p.Name, "file", f.name, "err", core.ErrorMessage(err))
				if ctx.Err() != nil {
					return
				}
			}
			// Handled either way: a file that cannot be imported is not
			// retried every tick; replacing it makes it new again.
			e.advance(p.ID, t, func(st triggerState) (triggerState, bool) {
				if st.Files == nil {
					st.Files = map[string]string{}
				}
				st.Files[f.name] = f.stamp
				return st, false
			})
			e.mu.Lock()
			delete(e.settling, t.Folder+"\x00"+f.name)
			e.mu.Unlock()
			if err != nil {
				continue
			}
			if t.ImportOnly {
				e.log.Info("imported a watched file", "pipeline", p.Name, "file", f.name, "version", v.Number)
				continue
			}
			e.fireLogged(p, Firing{Kind: TriggerFolder, Detail: fmt.Sprintf("new file %s imported as %s v%d", f.name, v.Dataset, v.Number)})
		}
	})
}
