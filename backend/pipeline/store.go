package pipeline

import (
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Keys (prefix range 0x80–0x8f), see doc.go.
const (
	kPipeline = store.PrefixPipelines + iota // 0x80 pipelineID → Pipeline
	kRun                                     // 0x81 runID → Run
	kStep                                    // 0x82 runID 0x00 step → StepRecord
	kCache                                   // 0x83 cacheKey → cacheEntry
	kRunIndex                                // 0x84 pipelineID 0x00 runID → (nothing)
	kTrigger                                 // 0x85 pipelineID 0x00 trigger hash → triggerState
)

type cacheEntry struct {
	RunID string `json:"runId"`
	Step  string `json:"step"`
}

func pipelineKey(id string) []byte { return store.Key(kPipeline, []byte(id)) }
func runKey(id string) []byte      { return store.Key(kRun, []byte(id)) }
func stepPrefix(runID string) []byte {
	return store.Key(kStep, []byte(runID), []byte{0})
}
func stepKey(runID, step string) []byte { return append(stepPrefix(runID), step...) }
func cacheKey(k string) []byte          { return store.Key(kCache, []byte(k)) }
func runIndexPrefix(pid string) []byte  { return store.Key(kRunIndex, []byte(pid), []byte{0}) }
func runIndexKey(pid, runID string) []byte {
	return append(runIndexPrefix(pid), runID...)
}
func triggerPrefix(pid string) []byte { return store.Key(kTrigger, []byte(pid), []byte{0}) }

func getPipeline(txn *badger.Txn, id string) (Pipeline, error) {
	var p Pipeline
	err := store.GetJSON(txn, pipelineKey(id), &p)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return p, core.Errorf(core.NotFound, "There is no pipeline %s.", id)
	}
	if err != nil {
		return p, core.Wrap(err, core.Internal, "Tern could not read pipeline %s.", id)
	}
	return p, nil
}

func getRun(txn *badger.Txn, id string) (Run, error) {
	var r Run
	err := store.GetJSON(txn, runKey(id), &r)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return r, core.Errorf(core.NotFound, "There is no pipeline run %s.", id)
	}
	if err != nil {
		return r, core.Wrap(err, core.Internal, "Tern could not read pipeline run %s.", id)
	}
	return r, nil
}

// getSteps returns a run's step records in the order of its pipeline.
func getSteps(txn *badger.Txn, r Run) ([]StepRecord, error) {
	byID := map[string]StepRecord{}
	err := store.EachJSON(txn, stepPrefix(r.ID), false, func(s StepRecord) error {
		byID[s.Step] = s
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read the steps of run %s.", r.ID)
	}
	out := make([]StepRecord, 0, len(byID))
	for _, s := range r.Pipeline.Steps {
		if rec, ok := byID[s.ID]; ok {
			out = append(out, rec)
		}
	}
	return out, nil
}

// runsOf lists a pipeline's run IDs, oldest first.
func runsOf(txn *badger.Txn, pid string) ([]string, error) {
	var ids []string
	p := runIndexPrefix(pid)
	err := store.EachKey(txn, p, func(k []byte) error {
		ids = append(ids, string(k[len(p):]))
		return nil
	})
	return ids, err
}
