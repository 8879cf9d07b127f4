package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
)

// Datasets is what the data and validate steps call (*dataset.Service).
type Datasets interface {
	List() ([]dataset.Summary, error)
	Versions(datasetID string) ([]dataset.Version, error)
	Version(versionID string) (dataset.Version, error)
	VersionFile(versionID string) (string, error)
	Rules(datasetID string) ([]dataset.Rule, error)
	Check(ctx context.Context, versionID string) (dataset.Validation, error)
}

// Trainer is what the train step calls (*runner.Runner).
type Trainer interface {
	Train(req runner.TrainRequest, data func(versionID string) (runner.TrainData, error)) (runner.Job, error)
	Get(id string) (runner.Job, error)
	List() ([]runner.Job, error)
	Wait(ctx context.Context, id string) (runner.Job, error)
	Cancel(id string) error
}

// Registrar is what the register step calls (*registry.Service).
type Registrar interface {
	RegisterRunMeta(name, runID, artifactPath string, extra registry.Meta) (registry.Version, error)
	Versions(name string) ([]registry.Version, error)
	SetAliases(name string, moves map[string]int) (registry.Model, error)
}

// Services are the real services steps call; a nil one leaves its step
// types unregistered.
type Services struct {
	Datasets Datasets
	Trainer  Trainer
	// ImageIdentity names the code a train step runs, for its cache key:
	// the built-in runtime's digest when image is "", else the image's ID.
	// Nil keys on the image's name alone.
	ImageIdentity func(ctx context.Context, image string) (string, error)
	Registry      Registrar
	Bus           *core.Bus
	// HTTP posts notify steps' webhooks; nil uses a client with a 10 s
	// timeout.
	HTTP *http.Client
	// Evaluator compares candidate and champion (evaluate, gate).
	Evaluator Evaluator
	// Ramper ramps a candidate into a deployment and watches it (deploy,
	// watch).
	Ramper Ramper
	// Fairness, when set, gives the gate its fairness rule (a metric's
	// difference across a protected column's groups).
	Fairness Fairness
}

// Tags a registered version carries to tie it to the pipeline run that made
// it (its lineage: pipeline run → data version → run → version).
const (
	TagPipeline    = "tern.pipeline"
	TagPipelineRun = "tern.pipeline.run"
	TagStep        = "tern.pipeline.step"
)

// TopicNotify carries a Notification from a notify step.
const TopicNotify = "pipeline.notify"

// Notification is what a notify step announces (and posts to a webhook).
type Notification struct {
	PipelineID string           `json:"pipelineId"`
	Pipeline   string           `json:"pipeline"`
	RunID      string           `json:"runId"`
	Run        int              `json:"run"`
	Step       string           `json:"step"`
	Message    string           `json:"message"`
	Inputs     map[string]Value `json:"inputs"`
	At         time.Time        `json:"at"`
}

// RegisterSteps adds the step types whose services exist.
func RegisterSteps(t *Types, s Services) {
	if s.Datasets != nil {
		t.Register(Def{Type: StepType{Name: "data.version", Title: "Dataset version", Category: "data", Cacheable: true,
			Help:    "A pinned dataset version: the run always reads exactly these rows.",
			Fields:  []Field{{Name: "version", Label: "Version", Kind: KindString, Required: true, Help: "the dataset version's ID"}},
			Outputs: []Port{{Name: "version", Type: DatasetVersion}}}, Exec: pinnedData{s.Datasets}})
		t.Register(Def{Type: StepType{Name: "data.newest", Title: "Newest version", Category: "data", Cacheable: true,
			Help:    "The newest version of a dataset when the run starts (a new file imported as a version makes the next run read it).",
			Fields:  []Field{{Name: "dataset", Label: "Dataset", Kind: KindString, Required: true, Help: "the dataset's name or ID"}},
			Outputs: []Port{{Name: "version", Type: DatasetVersion}}}, Exec: newestData{s.Datasets}})
		t.Register(Def{Type: StepType{Name: "validate", Title: "Validate", Category: "check", Cacheable: true,
			Help:    "Checks the version against its dataset's rules (schema, missing share, ranges, categories, rows, drift from the previous version); a failed rule stops the run and names the rule, column and value.",
			Inputs:  []Port{{Name: "version", Type: DatasetVersion}},
			Outputs: []Port{{Name: "version", Type: DatasetVersion, Help: "the same version, once it passed"}}}, Exec: validateStep{s.Datasets}})
	}
	if s.Trainer != nil && s.Datasets != nil {
		var models []string
		for _, m := range ml.Models() {
			models = append(models, m.Name)
		}
		t.Register(Def{Type: StepType{Name: "train", Title: "Train", Category: "train", Cacheable: true,
			Help: "A training job on the runner: a built-in model with parameters, or your own image. Same data, fields and image: the earlier run is reused.",
			Fields: []Field{
				{Name: "model", Label: "Model", Kind: KindEnum, Options: models, Default: ml.AlgoGBDT, Help: "the built-in model (ignored with an image)"},
				{Name: "target", Label: "Target column", Kind: KindString, Help: "the column to predict (empty: the dataset's target role)"},
				{Name: "task", Label: "Task", Kind: KindEnum, Options: []string{"auto", ml.Classification, ml.Regression}, Default: "auto", Help: "classification, regression or auto (from the target)"},
				{Name: "params", Label: "Parameters", Kind: KindObject, Help: "the model's parameters, e.g. learning_rate: 0.1"},
				{Name: "features", Label: "Features", Kind: KindList, Help: "feature columns (empty: the dataset's feature roles)"},
				{Name: "image", Label: "Image", Kind: KindString, Help: "your own training image (empty: the built-in runtime)"},
				{Name: "experiment", Label: "Experiment", Kind: KindString, Help: "experiment ID for the run (empty: the default experiment)"},
			},
			Inputs:  []Port{{Name: "version", Type: DatasetVersion}},
			Outputs: []Port{{Name: "run", Type: RunOutput}}}, Exec: trainStep{data: s.Datasets, runner: s.Trainer, image: s.ImageIdentity}})
	}
	if s.Registry != nil {
		t.Register(Def{Type: StepType{Name: "register", Title: "Register", Category: "model", Cacheable: true,
			Help: "Registers the run's model as a new version with an alias (@challenger) and its lineage: pipeline run → data version → run → version.",
			Fields: []Field{
				{Name: "model", Label: "Registered model", Kind: KindString, Required: true, Help: "the registered model's name (made if new)"},
				{Name: "alias", Label: "Alias", Kind: KindString, Default: "challenger", Help: "the alias the new version gets"},
				{Name: "artifact_path", Label: "Artifact path", Kind: KindString, Default: "model", Help: "the model's folder in the run's artifacts"},
			},
			Inputs:  []Port{{Name: "run", Type: RunOutput}},
			Outputs: []Port{{Name: "model_version", Type: ModelVersion}}}, Exec: registerStep{s.Registry}})
	}
	registerRelease(t, s)
	if s.Bus != nil {
		client := s.HTTP
		if client == nil {
			client = &http.Client{Timeout: 10 * time.Second}
		}
		t.Register(Def{Type: StepType{Name: "notify", Title: "Notify", Category: "notify", Cacheable: true,
			Help: "Announces the run in the app (an event and a desktop notification) and, when set, posts it as JSON to a webhook.",
			Fields: []Field{
				{Name: "message", Label: "Message", Kind: KindString, Default: "{pipeline} run {run}: {after}", Help: "the text; {pipeline}, {run} and {after} (what the wired step made) are filled in"},
				{Name: "webhook", Label: "Webhook URL", Kind: KindString, Help: "an http(s) URL that receives the notification as a JSON POST"},
			},
			Inputs: []Port{{Name: "after", Type: AnyType, Optional: true, Help: "the step to announce"}}}, Exec: notifyStep{bus: s.Bus, client: client}})
	}
}

func versionValue(v dataset.Version) Value {
	return Value{Type: DatasetVersion, ID: v.ID, Label: fmt.Sprintf("%s v%d", v.Dataset, v.Number), Identity: "sha256:" + v.Digest,
		Attrs: map[string]string{"dataset": v.Dataset, "datasetId": v.DatasetID, "number": strconv.Itoa(v.Number)}}
}

type pinnedData struct{ d Datasets }

func (s pinnedData) Run(_ context.Context, x *Exec) (map[string]Value, error) {
	v, err := s.d.Version(x.String("version"))
	if err != nil {
		return nil, err
	}
	x.Logf("Read %s (%d rows, %d columns).", versionValue(v).Label, v.Rows, v.Columns)
	x.Link(Link{Kind: "dataset_version", ID: v.ID, Label: versionValue(v).Label})
	return map[string]Value{"version": versionValue(v)}, nil
}

type newestData struct{ d Datasets }

// find resolves a dataset by name or ID to its newest live version.
func (s newestData) find(name string) (dataset.Version, error) {
	list, err := s.d.List()
	if err != nil {
		return dataset.Version{}, err
	}
	for _, ds := range list {
		if ds.ID == name || strings.EqualFold(ds.Name, name) {
			vs, err := s.d.Versions(ds.ID)
			if err != nil {
				return dataset.Version{}, err
			}
			if len(vs) == 0 {
				return dataset.Version{}, core.Errorf(core.NotFound, "Dataset %q has no versions yet.", ds.Name)
			}
			return vs[0], nil
		}
	}
	return dataset.Version{}, core.Errorf(core.NotFound, "There is no dataset called %q.", name)
}

// Key resolves the newest version now and pins it for Run, so the cache
// key and the output name the same version even if a new one lands
// between them.
func (s newestData) Key(_ context.Context, x *Exec) (string, error) {
	v, err := s.find(x.String("dataset"))
	if err != nil {
		return "", err
	}
	x.Remember("version", v.ID)
	return v.ID + " " + v.Digest, nil
}

func (s newestData) Run(_ context.Context, x *Exec) (map[string]Value, error) {
	var v dataset.Version
	var err error
	if id := x.Recall("version"); id != "" {
		v, err = s.d.Version(id)
	} else {
		v, err = s.find(x.String("dataset"))
	}
	if err != nil {
		return nil, err
	}
	x.Logf("The newest version of %s is v%d (%d rows).", v.Dataset, v.Number, v.Rows)
	x.Link(Link{Kind: "dataset_version", ID: v.ID, Label: versionValue(v).Label})
	return map[string]Value{"version": versionValue(v)}, nil
}

type validateStep struct{ d Datasets }

// Key adds the dataset's rules: the same version checked against changed
// rules is checked again.
func (s validateStep) Key(_ context.Context, x *Exec) (string, error) {
	in := x.Inputs["version"]
	v, err := s.d.Version(in.ID)
	if err != nil {
		return "", err
	}
	rules, err := s.d.Rules(v.DatasetID)
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(rules)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func (s validateStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	in := x.Inputs["version"]
	val, err := s.d.Check(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if len(val.Results) == 0 {
		x.Logf("%s: the dataset has no rules; nothing to check (add rules on the dataset's Rules tab).", in.Label)
	}
	var first *dataset.RuleResult
	for i, r := range val.Results {
		mark := "passed"
		if !r.Passed {
			mark = "FAILED"
			if first == nil {
				first = &val.Results[i]
			}
		}
		x.Logf("%s %s: %s", mark, ruleName(r), r.Message)
	}
	x.Link(Link{Kind: "dataset_version", ID: in.ID, Label: in.Label})
	if first != nil {
		where := ""
		if first.Column != "" {
			where = fmt.Sprintf(" on column %q", first.Column)
		}
		value := ""
		if first.Value != "" {
			value = fmt.Sprintf(" (value %s", first.Value)
			if first.Line > 0 {
				value += fmt.Sprintf(", line %d", first.Line)
			}
			value += ")"
		}
		more := ""
		if val.Failed > 1 {
			more = fmt.Sprintf(" %d rules failed in all.", val.Failed)
		}
		return nil, core.Errorf(core.Invalid, "%s failed rule %s%s%s: %s%s", in.Label, ruleName(*first), where, value, strings.TrimSuffix(first.Message, "."), "."+more)
	}
	x.Logf("%s passed all %d rules.", in.Label, len(val.Results))
	return map[string]Value{"version": in}, nil
}

func ruleName(r dataset.RuleResult) string { return string(r.Rule.Kind) }

type trainStep struct {
	data   Datasets
	runner Trainer
	image  func(ctx context.Context, image string) (string, error)
}

// Key adds the code that trains: the built-in runtime's digest, or the
// image's ID, so a rebuilt image trains again.
func (s trainStep) Key(ctx context.Context, x *Exec) (string, error) {
	img := x.String("image")
	if s.image == nil {
		return "image " + img, nil
	}
	id, err := s.image(ctx, img)
	if err != nil {
		return "", err
	}
	return "image " + id, nil
}

func (s trainStep) trainData(versionID string) (runner.TrainData, error) {
	v, err := s.data.Version(versionID)
	if err != nil {
		return runner.TrainData{}, err
	}
	path, err := s.data.VersionFile(versionID)
	if err != nil {
		return runner.TrainData{}, err
	}
	reading := v.Reading() // the job reads the file as the import did
	return runner.TrainData{Path: path, Reading: &reading, Dataset: v.Dataset, Number: v.Number, Features: v.FeatureColumns}, nil
}

func (s trainStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	in := x.Inputs["version"]
	name := fmt.Sprintf("%s #%d · %s", x.Run.Pipeline.Name, x.Run.Number, x.Step.ID)
	jobID := x.Recall("job")
	if jobID == "" && x.Recall("submitting") != "" {
		// Stopped between submitting and remembering: find the job by the
		// name this step gave it, so it is never submitted twice.
		since, _ := time.Parse(time.RFC3339Nano, x.Recall("submitting"))
		jobs, err := s.runner.List()
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if j.Spec.Name == name && !j.CreatedAt.Before(since.Add(-time.Second)) {
				jobID = j.ID
				x.Remember("job", jobID)
				break
			}
		}
	}
	if jobID == "" {
		v, err := s.data.Version(in.ID)
		if err != nil {
			return nil, err
		}
		target := x.String("target")
		if target == "" {
			target = v.TargetColumn()
		}
		if target == "" {
			return nil, core.Errorf(core.Invalid, "Step %q: name the target column (the dataset %s marks none).", x.Step.ID, v.Dataset)
		}
		task := x.String("task")
		if task == "auto" {
			task = ""
		}
		req := runner.TrainRequest{DatasetVersionID: in.ID, ExperimentID: x.String("experiment"), Name: name, Target: target,
			Model: x.String("model"), Task: task, Features: x.List("features"), Params: x.Object("params"), Image: x.String("image")}
		x.Remember("submitting", time.Now().UTC().Format(time.RFC3339Nano))
		j, err := s.runner.Train(req, s.trainData)
		if err != nil {
			return nil, err
		}
		jobID = j.ID
		x.Remember("job", jobID)
		x.Logf("Started training job %s (run %s) on %s.", j.ID, j.RunID, in.Label)
	} else {
		x.Logf("Reattached to training job %s.", jobID)
	}
	x.SetJob(jobID)
	for {
		j, err := s.runner.Wait(ctx, jobID)
		if err != nil {
			if ctx.Err() != nil {
				if x.Cancelled() {
					_ = s.runner.Cancel(jobID) // the run was cancelled: so is its job
				}
				return nil, ctx.Err()
			}
			return nil, err
		}
		if j.RunID != "" {
			x.Link(Link{Kind: "run", ID: j.RunID, Label: j.Spec.Name})
		}
		if !j.State.Final() {
			// The runner does not follow this job yet (it is reattaching
			// after a restart); look again shortly.
			select {
			case <-ctx.Done():
				continue
			case <-time.After(time.Second):
			}
			continue
		}
		if j.State != runner.Succeeded {
			reason := j.Reason
			if reason == "" {
				reason = string(j.State)
			}
			return nil, core.Errorf(core.Invalid, "Training job %s %s: %s", j.ID, j.State, strings.TrimSuffix(reason, ".")+".")
		}
		x.Logf("Training job %s succeeded: run %s.", j.ID, j.RunID)
		return map[string]Value{"run": {Type: RunOutput, ID: j.RunID, Label: j.Spec.Name, Identity: "run:" + j.RunID,
			Attrs: map[string]string{"job": j.ID, "experimentId": j.Spec.ExperimentID, "datasetVersion": in.ID}}}, nil
	}
}

type registerStep struct{ r Registrar }

func modelVersionValue(v registry.Version) Value {
	id := fmt.Sprintf("%s:%d", v.Model, v.Version)
	return Value{Type: ModelVersion, ID: id, Label: fmt.Sprintf("%s v%d", v.Model, v.Version), Identity: "model:" + id,
		Attrs: map[string]string{"model": v.Model, "version": strconv.Itoa(v.Version), "runId": v.RunID, "datasetVersion": v.DatasetVersion}}
}

func (s registerStep) Run(_ context.Context, x *Exec) (map[string]Value, error) {
	run := x.Inputs["run"]
	name := x.String("model")
	var v registry.Version
	found := false
	// A step resumed after a restart may have registered already: the
	// version carries the step's key, so look before registering.
	if vs, err := s.r.Versions(name); err == nil {
		for _, have := range vs {
			if have.Tags[TagStep] == x.Key() {
				v, found = have, true
				break
			}
		}
	}
	if !found {
		var err error
		v, err = s.r.RegisterRunMeta(name, run.ID, x.String("artifact_path"), registry.Meta{
			Description: fmt.Sprintf("Made by pipeline %s, run %d.", x.Run.Pipeline.Name, x.Run.Number),
			Tags:        map[string]string{TagPipeline: x.Run.PipelineID, TagPipelineRun: x.Run.ID, TagStep: x.Key()},
		})
		if err != nil {
			return nil, err
		}
		x.Logf("Registered %s v%d from run %s.", v.Model, v.Version, run.ID)
	}
	if alias := strings.TrimPrefix(x.String("alias"), "@"); alias != "" {
		if _, err := s.r.SetAliases(name, map[string]int{alias: v.Version}); err != nil {
			return nil, err
		}
		x.Logf("@%s → %s v%d.", alias, v.Model, v.Version)
	}
	out := modelVersionValue(v)
	x.Link(Link{Kind: "model_version", ID: out.ID, Label: out.Label})
	return map[string]Value{"model_version": out}, nil
}

type notifyStep struct {
	bus    *core.Bus
	client *http.Client
}

func (s notifyStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	after := "done"
	if v, ok := x.Inputs["after"]; ok {
		after = v.Label
	}
	msg := strings.NewReplacer("{pipeline}", x.Run.Pipeline.Name, "{run}", strconv.Itoa(x.Run.Number), "{after}", after).Replace(x.String("message"))
	n := Notification{PipelineID: x.Run.PipelineID, Pipeline: x.Run.Pipeline.Name, RunID: x.Run.ID, Run: x.Run.Number,
		Step: x.Step.ID, Message: msg, Inputs: x.Inputs, At: time.Now().UTC()}
	s.bus.Publish(TopicNotify, n)
	x.Logf("Announced: %s", msg)
	hook := x.String("webhook")
	if hook == "" {
		return nil, nil
	}
	u, err := url.Parse(hook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.Errorf(core.Invalid, "Step %q: the webhook %q is not an http(s) URL.", x.Step.ID, hook)
	}
	body, _ := json.Marshal(n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "Step %q: the webhook URL cannot be used.", x.Step.ID)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tern pipeline")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Step %q: the webhook at %s did not answer.", x.Step.ID, u.Host)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return nil, core.Errorf(core.Unavailable, "Step %q: the webhook at %s answered %s.", x.Step.ID, u.Host, resp.Status)
	}
	x.Link(Link{Kind: "webhook", ID: u.Host, Label: "posted to " + u.Host})
	x.Logf("Posted to %s: %s.", u.Host, resp.Status)
	return nil, nil
}
