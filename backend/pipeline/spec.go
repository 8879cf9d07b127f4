package pipeline

import (
	"encoding/json"
	"time"
)

// Pipeline is a DAG of typed steps plus the triggers that start it. It is
// what the UI's builder edits and what the YAML file holds.
type Pipeline struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// OnActive says what a trigger does while a run of this pipeline is
	// queued or running: OnActiveCoalesce (the default) or OnActiveQueue.
	OnActive OnActive  `json:"onActive,omitempty"`
	Triggers []Trigger `json:"triggers"`
	Steps    []Step    `json:"steps"`
	Created  time.Time `json:"created,omitzero"`
	Updated  time.Time `json:"updated,omitzero"`
}

// Step is one node: an instance of a step type, its field values, and its
// inputs wired to upstream steps' named outputs.
type Step struct {
	// ID names the step inside its pipeline (letters, digits, - and _).
	ID   string `json:"id"`
	Type string `json:"type"`
	// Fields are the values of the type's fields, canonical JSON values
	// (numbers are float64, objects map[string]any, lists []any).
	Fields map[string]any `json:"fields"`
	// Inputs maps each input of the type to "stepID.output".
	Inputs map[string]string `json:"inputs"`
}

// OnActive is what happens to a trigger that fires while the pipeline
// already has a run queued or running.
type OnActive string

const (
	// OnActiveCoalesce folds the firing into the run that is already
	// queued (or queues one when only a run is running): a storm of alerts
	// or files gives at most one run waiting, which reads the newest data
	// when it starts. The run's Firings list every trigger it absorbed.
	OnActiveCoalesce OnActive = "coalesce"
	// OnActiveQueue queues one run per firing, for pipelines where every
	// firing matters (each run reads what was newest when it starts).
	OnActiveQueue OnActive = "queue"
)

// TriggerKind is what starts a run.
type TriggerKind string

const (
	TriggerManual   TriggerKind = "manual"
	TriggerSchedule TriggerKind = "schedule"
	TriggerDataset  TriggerKind = "dataset"
	TriggerAlert    TriggerKind = "alert"
	TriggerWebhook  TriggerKind = "webhook"
	// TriggerFolder watches a folder: each new file is imported as the
	// next version of Dataset, then a run starts (unless ImportOnly).
	TriggerFolder TriggerKind = "folder"
)

// Trigger starts runs of its pipeline. Which fields matter depends on Kind:
// Cron for schedule (five fields, or @hourly/@daily…), Dataset (a dataset's
// name or ID) for dataset, Monitor (a monitor ID, empty for any) and
// optionally Rule (a rule's name or ID, empty for any) for alert, Folder
// and Dataset (the dataset its files become versions of) for folder. Manual
// and webhook take none (the webhook route is behind the HTTP face's
// token, see Engine.FireWebhook).
type Trigger struct {
	Kind    TriggerKind `json:"kind"`
	Cron    string      `json:"cron,omitempty"`
	Dataset string      `json:"dataset,omitempty"`
	Monitor string      `json:"monitor,omitempty"`
	Rule    string      `json:"rule,omitempty"`
	// Folder is the absolute path a folder trigger watches.
	Folder string `json:"folder,omitempty"`
	// ImportOnly makes a folder trigger import its new files without
	// starting a run: new labelled data lands as the next version, and
	// another trigger (a monitor's drift alert) decides when retraining is
	// worth the machine. The run it starts reads the newest version.
	ImportOnly bool `json:"importOnly,omitempty"`
}

// canonical turns decoded field values (from YAML or JSON) into the
// shapes encoding/json gives back, so a spec compares equal after a trip
// through the store, the UI or a YAML file.
func canonical(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Clone deep-copies p through JSON, so a run's snapshot never shares maps
// with the stored pipeline.
func (p Pipeline) Clone() Pipeline {
	b, _ := json.Marshal(p)
	var out Pipeline
	_ = json.Unmarshal(b, &out)
	return out
}

// step finds a step by ID.
func (p *Pipeline) step(id string) (*Step, bool) {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i], true
		}
	}
	return nil, false
}
