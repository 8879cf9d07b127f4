package registry

import (
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// 0x32 id -> LoggedModel (JSON)
const prefixLogged = store.PrefixRegistry + 2

// LoggedModel is MLflow 3's logged model: the files one log_model call
// wrote, before (or without) registration. Tern keeps its files among its
// run's artifacts, at ArtifactPath, so they live and go with the run.
type LoggedModel struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	ExperimentID string            `json:"experimentId"`
	RunID        string            `json:"runId"`
	ArtifactPath string            `json:"artifactPath"`
	ModelType    string            `json:"modelType,omitempty"`
	Status       string            `json:"status"`
	StatusNote   string            `json:"statusNote,omitempty"`
	Created      int64             `json:"created"`
	Updated      int64             `json:"updated"`
	Tags         map[string]string `json:"tags,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
}

// Logged model statuses, as MLflow names them.
const (
	LoggedPending = "LOGGED_MODEL_PENDING"
	LoggedReady   = "LOGGED_MODEL_READY"
	LoggedFailed  = "LOGGED_MODEL_UPLOAD_FAILED"
)

func loggedKey(id string) []byte { return store.Key(prefixLogged, []byte(id)) }

// CreateLoggedModel starts a logged model of runID; the client then
// uploads its files to ArtifactPath of the run and finalizes it.
func (s *Service) CreateLoggedModel(runID, name, modelType string, tags, params map[string]string) (LoggedModel, error) {
	if s.runs == nil {
		return LoggedModel{}, core.Errorf(core.Unavailable, "Run tracking is not available.")
	}
	if runID == "" {
		return LoggedModel{}, core.Errorf(core.Invalid, "Tern keeps a logged model with the run that made it; give source_run_id (log the model inside a run).")
	}
	run, err := s.runs.GetRun(runID)
	if err != nil {
		return LoggedModel{}, err
	}
	for k, v := range tags {
		if err := checkTag(k, v); err != nil {
			return LoggedModel{}, err
		}
	}
	if name == "" {
		name = "model"
	}
	now := time.Now().UnixMilli()
	// "m-" and 32 hex digits, the shape MLflow's IDs have.
	id := "m-" + strings.ReplaceAll(core.NewID(), "-", "")
	lm := LoggedModel{ID: id, Name: name, ExperimentID: run.ExperimentID, RunID: runID, ArtifactPath: "models/" + id,
		ModelType: modelType, Status: LoggedPending, Created: now, Updated: now, Tags: tags, Params: params}
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		if err := audit.Append(txn, audit.Record{Action: "logged_model.create", Objects: loggedObj(id, name, runID)}); err != nil {
			return err
		}
		return store.SetJSON(txn, loggedKey(id), lm)
	})
	return lm, wrap(err, "record logged model %q", name)
}

// LoggedModel returns one logged model.
func (s *Service) LoggedModel(id string) (LoggedModel, error) {
	var lm LoggedModel
	err := s.st.DB.View(func(txn *badger.Txn) error { return getLogged(txn, id, &lm) })
	return lm, wrap(err, "read logged model %q", id)
}

func getLogged(txn *badger.Txn, id string, lm *LoggedModel) error {
	err := store.GetJSON(txn, loggedKey(id), lm)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return core.Errorf(core.NotFound, "There is no logged model %q.", id)
	}
	return err
}

// LoggedModelEdit is a change to a logged model; nil fields are kept.
type LoggedModelEdit struct {
	Status     string
	StatusNote string
	SetTags    map[string]string
	DeleteTag  string
	Params     map[string]string
}

// EditLoggedModel finalizes a logged model, sets or deletes tags, or logs
// params.
func (s *Service) EditLoggedModel(id string, e LoggedModelEdit) (LoggedModel, error) {
	var lm LoggedModel
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if err := getLogged(txn, id, &lm); err != nil {
			return err
		}
		switch e.Status {
		case "":
		case LoggedPending, LoggedReady, LoggedFailed:
			lm.Status, lm.StatusNote = e.Status, e.StatusNote
		default:
			return core.Errorf(core.Invalid, "Status %q is not one of %s, %s, %s.", e.Status, LoggedPending, LoggedReady, LoggedFailed)
		}
		for k, v := range e.SetTags {
			if err := checkTag(k, v); err != nil {
				return err
			}
			if lm.Tags == nil {
				lm.Tags = map[string]string{}
			}
			lm.Tags[k] = v
		}
		if e.DeleteTag != "" {
			delete(lm.Tags, e.DeleteTag)
		}
		for k, v := range e.Params {
			if lm.Params == nil {
				lm.Params = map[string]string{}
			}
			if old, ok := lm.Params[k]; ok && old != v {
				return core.Errorf(core.Invalid, "Param %q of logged model %s is already %q; params cannot change.", k, id, old)
			}
			lm.Params[k] = v
		}
		lm.Updated = time.Now().UnixMilli()
		if err := audit.Append(txn, audit.Record{Action: "logged_model.update", Objects: loggedObj(id, lm.Name, lm.RunID), After: string(lm.Status)}); err != nil {
			return err
		}
		return store.SetJSON(txn, loggedKey(id), lm)
	})
	return lm, wrap(err, "change logged model %q", id)
}

// DeleteLoggedModel forgets a logged model (its files stay with the run).
func (s *Service) DeleteLoggedModel(id string) error {
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		var lm LoggedModel
		if err := getLogged(txn, id, &lm); err != nil {
			return err
		}
		if err := audit.Append(txn, audit.Record{Action: "logged_model.delete", Objects: loggedObj(id, lm.Name, lm.RunID)}); err != nil {
			return err
		}
		return txn.Delete(loggedKey(id))
	})
	return wrap(err, "delete logged model %q", id)
}

// LoggedModels lists the logged models of the given experiments (all when
// none are given), newest first.
func (s *Service) LoggedModels(experimentIDs []string) ([]LoggedModel, error) {
	want := map[string]bool{}
	for _, e := range experimentIDs {
		want[e] = true
	}
	var out []LoggedModel
	err := s.st.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{prefixLogged}, false, func(lm LoggedModel) error {
			if len(want) == 0 || want[lm.ExperimentID] {
				out = append(out, lm)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, wrap(err, "list logged models")
}
