package tracking

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// DatasetInput is a dataset a run read, as MLflow's runs/log-inputs
// records it (what mlflow.log_input sends): the dataset's name, digest,
// source and, optionally, schema and profile, with the input's tags
// (mlflow.data.context: training, …). DatasetVersion names the Tern dataset
// version the digest matched, when one did.
type DatasetInput struct {
	Name           string            `json:"name"`
	Digest         string            `json:"digest"`
	SourceType     string            `json:"sourceType"`
	Source         string            `json:"source"`
	Schema         string            `json:"schema,omitempty"`
	Profile        string            `json:"profile,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	DatasetVersion string            `json:"datasetVersion,omitempty"`
}

// Limits MLflow's server puts on a logged dataset (mlflow/utils/validation.py).
const (
	maxInputsPerCall  = 1000
	maxDatasetName    = 500
	maxDatasetDigest  = 36
	maxDatasetSrcType = 36
	maxDatasetSource  = 65535
	maxDatasetSchema  = 1048575
	maxDatasetProfile = 16384
	maxInputTagKey    = 255
	maxInputTagValue  = 500
)

func inputKey(run, name, digest string) []byte {
	return store.Key(kInput, []byte(run), sep, []byte(name), sep, []byte(digest))
}

func validateInputs(inputs []DatasetInput) error {
	if len(inputs) > maxInputsPerCall {
		return core.Errorf(core.Invalid, "A call may log at most %d dataset inputs; this one has %d.", maxInputsPerCall, len(inputs))
	}
	for i, in := range inputs {
		field := func(what, v string, limit int) error {
			if v == "" {
				return core.Errorf(core.Invalid, "Dataset input %d has no %s.", i+1, what)
			}
			if len(v) > limit {
				return core.Errorf(core.Invalid, "The %s of dataset input %d is %d characters; the limit is %d.", what, i+1, len(v), limit)
			}
			return nil
		}
		for _, f := range []struct {
			what, v string
			limit   int
		}{{"name", in.Name, maxDatasetName}, {"digest", in.Digest, maxDatasetDigest}, {"source type", in.SourceType, maxDatasetSrcType}, {"source", in.Source, maxDatasetSource}} {
			if err := field(f.what, f.v, f.limit); err != nil {
				return err
			}
		}
		if len(in.Schema) > maxDatasetSchema || len(in.Profile) > maxDatasetProfile {
			return core.Errorf(core.Invalid, "The schema or profile of dataset input %q is over MLflow's limits (%d and %d characters).", in.Name, maxDatasetSchema, maxDatasetProfile)
		}
		for k, v := range in.Tags {
			if k == "" || len(k) > maxInputTagKey || len(v) > maxInputTagValue {
				return core.Errorf(core.Invalid, "Dataset input %q has a tag whose key is empty or over %d characters, or whose value is over %d.", in.Name, maxInputTagKey, maxInputTagValue)
			}
		}
	}
	return nil
}

// LogInputs records the datasets a run read. Logging the same dataset
// (name and digest) again merges its tags, as MLflow does. When an input
// names a Tern dataset version (DatasetVersion, set by the caller after
// matching the digest) and the run has no dataset version yet, the run
// takes it as its lineage. Inputs are checked first; a refused call writes
// nothing.
func (s *Service) LogInputs(runID string, inputs []DatasetInput) error {
	if err := validateInputs(inputs); err != nil {
		return err
	}
	var info RunInfo
	r, unlock, err := s.lockRun(runID, func(r *Run) { info = r.RunInfo })
	if err != nil {
		return err
	}
	defer unlock()
	if info.LifecycleStage == StageDeleted {
		return core.Errorf(core.Conflict, "Run %s is in the trash; restore it before logging inputs.", runID)
	}
	linked := ""
	var names []string
	err = s.db.Update(func(txn *badger.Txn) error {
		for _, in := range inputs {
			k := inputKey(runID, in.Name, in.Digest)
			var old DatasetInput
			if err := store.GetJSON(txn, k, &old); err == nil {
				merged := cloneMap(old.Tags)
				if merged == nil {
					merged = map[string]string{}
				}
				for tk, tv := range in.Tags {
					merged[tk] = tv
				}
				in.Tags = merged
				if in.DatasetVersion == "" {
					in.DatasetVersion = old.DatasetVersion
				}
			}
			if err := store.SetJSON(txn, k, in); err != nil {
				return err
			}
			names = append(names, in.Name+" ("+in.Digest+")")
			if linked == "" && in.DatasetVersion != "" && info.DatasetVersion == "" {
				linked = in.DatasetVersion
			}
		}
		rec := audit.Record{Action: "run.inputs", Objects: runObj(runID, info.Name), After: strings.Join(names, ", ")}
		if linked != "" {
			info.DatasetVersion = linked
			b, _ := json.Marshal(info)
			if err := txn.Set(runKey(runID), b); err != nil {
				return err
			}
			rec.After += "; dataset version " + linked
		}
		return audit.Append(txn, rec)
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern could not record the inputs of run %s.", runID)
	}
	if linked != "" {
		s.mu.Lock()
		r.DatasetVersion = linked
		s.mu.Unlock()
	}
	return nil
}

// Inputs returns the datasets a run read, by name then digest.
func (s *Service) Inputs(runID string) ([]DatasetInput, error) {
	if _, err := s.GetRun(runID); err != nil {
		return nil, err
	}
	out := []DatasetInput{}
	err := s.db.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, runPrefix(kInput, runID), false, func(in DatasetInput) error {
			out = append(out, in)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read the inputs of run %s.", runID)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
