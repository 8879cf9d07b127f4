package tracking

import (
	"log/slog"
	"strings"

	"github.com/tern-studio/tern/backend/audit"
)

// What the audit trail says about tracking changes (see backend/audit).

func runObj(id, name string) []audit.Object {
	return []audit.Object{{Kind: "run", ID: id, Name: name}}
}

func expObj(id, name string) []audit.Object {
	return []audit.Object{{Kind: "experiment", ID: id, Name: name}}
}

// runUpdateRecord names an UpdateRun by what it changed: moving to or out
// of the trash is a delete or restore, else a status change, else an edit.
func runUpdateRecord(id string, old, cur RunInfo) audit.Record {
	rec := audit.Record{Action: "run.update", Objects: runObj(id, cur.Name)}
	var before, after []string
	diff := func(what, a, b string) {
		if a != b {
			before, after = append(before, what+" "+a), append(after, what+" "+b)
		}
	}
	switch {
	case old.LifecycleStage != cur.LifecycleStage && cur.LifecycleStage == StageDeleted:
		rec.Action = "run.trash"
	case old.LifecycleStage != cur.LifecycleStage:
		rec.Action = "run.restore"
	case old.Status != cur.Status:
		rec.Action = "run.status"
	}
	diff("stage", old.LifecycleStage, cur.LifecycleStage)
	diff("status", string(old.Status), string(cur.Status))
	diff("name", old.Name, cur.Name)
	if old.Note != cur.Note {
		before, after = append(before, "note "+firstLine(old.Note)), append(after, "note "+firstLine(cur.Note))
	}
	rec.Before, rec.After = strings.Join(before, ", "), strings.Join(after, ", ")
	return rec
}

func firstLine(s string) string {
	if s == "" {
		return "(empty)"
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// noteArtifact records an artifact file written or removed. Files have no
// Badger transaction to share, so the record follows the change in its
// own; a failure to record is logged, not returned, because the file has
// already changed and the caller cannot undo it.
func (s *Service) noteArtifact(runID, action, before, after string) {
	s.mu.RLock()
	name := ""
	if r := s.runs[runID]; r != nil {
		name = r.Name
	}
	s.mu.RUnlock()
	if err := audit.Write(s.db, audit.Record{Action: action, Objects: runObj(runID, name), Before: before, After: after}); err != nil {
		slog.Error("audit: recording an artifact change", "run", runID, "err", err)
	}
}
