package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/deployment"
	"github.com/tern-studio/tern/backend/evaluate"
	"github.com/tern-studio/tern/backend/fairness"
)

// The release half of the loop: evaluate the candidate against the
// champion, gate it on the evidence (and a person), ramp it into a
// deployment and watch the ramp.

// Evaluator is what the evaluate step calls (*evaluate.Service).
type Evaluator interface {
	Compare(ctx context.Context, req evaluate.Request, progress evaluate.Progress) (*evaluate.Report, error)
}

// Fairness is what the gate's fairness rule calls (*fairness.Service).
type Fairness interface {
	Assess(ctx context.Context, req fairness.Request) (*fairness.Report, error)
}

// fairnessMetrics are the differences a gate can bound: each compares
// the candidate's behaviour across a protected column's groups.
var fairnessMetrics = []string{"demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference"}

// Ramper is what the deploy and watch steps call (*deployment.Service).
type Ramper interface {
	StartRamp(ctx context.Context, deploymentID, ref string, plan deployment.Plan) (deployment.Ramp, error)
	ActiveRamp(deploymentID string) (deployment.Ramp, bool)
	WaitRamp(ctx context.Context, id string) (deployment.Ramp, error)
	AbortRamp(id string) (deployment.Ramp, error)
	Get(id string) (deployment.Deployment, error)
	// Ramps are a deployment's ramps, newest first.
	Ramps(deploymentID string) ([]deployment.Ramp, error)
}

// registerRelease adds the step types whose services exist.
func registerRelease(t *Types, s Services) {
	if s.Evaluator != nil {
		t.Register(Def{Type: StepType{Name: "evaluate", Title: "Evaluate", Category: "evaluate", Cacheable: true,
			Help: "Scores the candidate and the current champion on the same held-out rows; each metric's difference gets a paired-bootstrap confidence interval, not a single number.",
			Fields: []Field{
				{Name: "champion", Label: "Champion", Kind: KindString, Default: "@champion", Help: "the version to beat (a number or @alias)"},
				{Name: "all_rows", Label: "Every row", Kind: KindBool, Default: false, Help: "score every labelled row of the wired dataset version instead of the candidate's held-out split"},
				{Name: "replicates", Label: "Bootstrap replicates", Kind: KindInt, Default: 1000.0, Help: "resamples behind each interval"},
				{Name: "confidence", Label: "Confidence", Kind: KindFloat, Default: 0.95, Help: "the intervals' confidence level"},
				{Name: "seed", Label: "Seed", Kind: KindInt, Default: 1.0, Help: "the resampling seed (same seed, same intervals)"},
			},
			Inputs: []Port{{Name: "candidate", Type: ModelVersion},
				{Name: "rows", Type: DatasetVersion, Optional: true, Help: "new data neither model trained on (default: the candidate's own held-out split)"}},
			Outputs: []Port{{Name: "report", Type: Report}}}, Exec: evaluateStep{s.Evaluator}})
		gateFields := []Field{
			{Name: "metric", Label: "Metric", Kind: KindString, Default: "roc_auc", Help: "roc_auc, accuracy, log_loss, f1, rmse, mae or r2"},
			{Name: "min_candidate", Label: "Candidate at least", Kind: KindFloat, Help: "the least value the candidate's metric may have"},
			{Name: "max_candidate", Label: "Candidate at most", Kind: KindFloat, Help: "the greatest value (for error metrics)"},
			{Name: "diff_above", Label: "Difference above", Kind: KindFloat, Help: "the interval of candidate − champion must lie above this margin (e.g. 0: better with confidence; -0.005: no worse than half a point)"},
			{Name: "diff_below", Label: "Difference below", Kind: KindFloat, Help: "the interval must lie below this margin (for metrics where lower is better)"},
			{Name: "approval", Label: "Manual approval", Kind: KindBool, Default: false, Help: "after the thresholds pass, wait for a person to approve or reject"},
		}
		if s.Fairness != nil {
			gateFields = append(gateFields,
				Field{Name: "fairness_column", Label: "Fairness: protected column", Kind: KindString, Help: "hold the candidate's predictions on its held-out rows to a fairness bound across this column's groups (empty: no fairness rule)"},
				Field{Name: "fairness_metric", Label: "Fairness: metric", Kind: KindEnum, Options: fairnessMetrics, Default: fairnessMetrics[0], Help: "the largest difference between any two groups of the column"},
				Field{Name: "fairness_max_diff", Label: "Fairness: largest difference", Kind: KindFloat, Default: 0.1, Help: "the difference the candidate may show at most (0.1: ten points between groups)"},
				Field{Name: "fairness_min_group", Label: "Fairness: smallest group", Kind: KindInt, Default: 30.0, Help: "groups with fewer held-out rows are left out of the comparison"})
		}
		t.Register(Def{Type: StepType{Name: "gate", Title: "Gate", Category: "evaluate", Cacheable: true,
			Help:    "Lets the candidate through only on the evidence: a bound on its own metric and a margin the whole interval of its difference from the champion must clear; optionally a bound on a fairness metric across a protected column, and a person's approval.",
			Fields:  gateFields,
			Inputs:  []Port{{Name: "report", Type: Report}},
			Outputs: []Port{{Name: "candidate", Type: ModelVersion, Help: "the candidate, once it passed"}}}, Exec: gateStep{bus: s.Bus, fair: s.Fairness}})
	}
	if s.Ramper != nil {
		// Cacheable, with Reusable: a re-run with nothing new reuses the
		// ramp while its candidate still takes all the traffic.
		t.Register(Def{Type: StepType{Name: "deploy", Title: "Deploy (canary ramp)", Category: "deploy", Cacheable: true,
			Help: "Ramps the candidate into a deployment as a canary (for example 5 % → 25 % → 50 % → 100 %, each held for minutes and requests), shadow first if asked; the deployment's watch rolls back on the first failed stage.",
			Fields: []Field{
				{Name: "deployment", Label: "Deployment", Kind: KindString, Required: true, Help: "the deployment serving the champion"},
				{Name: "stages", Label: "Stages (%)", Kind: KindString, Default: "5,25,50", Help: "the candidate's shares before 100 %, comma-separated"},
				{Name: "hold_minutes", Label: "Hold (minutes)", Kind: KindFloat, Default: 5.0, Help: "each stage is held at least this long (0: hold by requests alone)"},
				{Name: "hold_requests", Label: "Hold (requests)", Kind: KindInt, Default: 300.0, Help: "and until the candidate has answered this many requests (0: hold by minutes alone)"},
				{Name: "shadow", Label: "Shadow first", Kind: KindBool, Default: false, Help: "begin with a shadow stage: the candidate sees copies and answers no one"},
				{Name: "error_margin_pct", Label: "Error margin (points)", Kind: KindFloat, Default: 1.0, Help: "how many percentage points the candidate's error rate may exceed the champion's (Fisher's exact test per stage)"},
				{Name: "latency_margin_ms", Label: "Latency margin (ms)", Kind: KindFloat, Default: 5.0, Help: "how many ms the candidate's p95 latency may exceed the champion's (bootstrap interval per stage)"},
				{Name: "latency_margin_pct", Label: "Latency margin (%)", Kind: KindFloat, Default: 20.0, Help: "or this share of the champion's p95, whichever is larger"},
				{Name: "patience", Label: "Patience", Kind: KindFloat, Default: 3.0, Help: "a stage held this many times its hold without a verdict is rolled back for want of evidence"},
				{Name: "accuracy_margin_pct", Label: "Accuracy margin (points)", Kind: KindFloat, Default: 2.0, Help: "once labels arrive for a stage's answers, how many percentage points the candidate's realised accuracy may fall below the champion's (Fisher's exact test per stage)"},
				{Name: "min_labelled", Label: "Labelled answers needed", Kind: KindInt, Default: 0.0, Help: "each live stage passes only once this many of the candidate's answers in it have labels (0: labels are used when they come, never waited for; a stage that never gets them is rolled back when its patience runs out)"},
				{Name: "alpha", Label: "Significance level", Kind: KindFloat, Default: 0.05, Help: "each test's one-sided level (before a stage's hold is over, a rollback needs a ten times stricter one)"},
				{Name: "fallback_after_ms", Label: "Fallback deadline (ms)", Kind: KindInt, Default: 2000.0, Help: "a candidate request not answered within it is answered by the champion instead and counted as failed"},
			},
			Inputs:  []Port{{Name: "candidate", Type: ModelVersion}},
			Outputs: []Port{{Name: "deployment", Type: Deployment}}}, Exec: deployStep{s.Ramper}})
		t.Register(Def{Type: StepType{Name: "watch", Title: "Watch", Category: "deploy", Cacheable: true,
			Help:    "Waits for the ramp's verdict: each stage compares candidate and champion on live traffic (error rate, p95 latency, and realised accuracy once labels arrive); a failure rolls back, success promotes the candidate to @champion.",
			Inputs:  []Port{{Name: "deployment", Type: Deployment}},
			Outputs: []Port{{Name: "model_version", Type: ModelVersion, Help: "the promoted champion"}}}, Exec: watchStep{s.Ramper}})
	}
}

type evaluateStep struct{ ev Evaluator }

func (s evaluateStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	cand := x.Inputs["candidate"]
	model, version := cand.Attrs["model"], cand.Attrs["version"]
	if model == "" || version == "" {
		return nil, core.Errorf(core.Invalid, "Step %q: the candidate %s is not a registered model version.", x.Step.ID, cand.Label)
	}
	req := evaluate.Request{Model: model, Candidate: version, Champion: x.String("champion"), AllRows: x.Bool("all_rows"),
		Options: evaluate.Options{Replicates: x.Int("replicates"), Confidence: x.Float("confidence"), Seed: uint64(x.Int("seed"))}}
	if req.Champion == "@champion" {
		req.Champion = "" // the service's own default, which tolerates a model without one
	}
	if rows, ok := x.Inputs["rows"]; ok {
		req.DatasetVersion = rows.ID
	}
	rep, err := s.ev.Compare(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	x.Logf("%s on %d rows (%s).", strings.TrimSpace(rep.Candidate+" vs "+rep.Champion), rep.Rows, rep.Holdout)
	for _, m := range rep.Metrics {
		if rep.Champion == "" {
			x.Logf("%s: %.4f", m.Name, m.Candidate)
			continue
		}
		x.Logf("%s: candidate %.4f, champion %.4f, difference %+.4f, %g%% interval [%+.4f, %+.4f]",
			m.Name, m.Candidate, m.Champion, m.Difference, rep.Options.Confidence*100, m.Interval.Low, m.Interval.High)
	}
	for _, n := range rep.Notes {
		x.Logf("Note: %s", n)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{"model": model, "version": version, "champion": rep.Champion}
	return map[string]Value{"report": {Type: Report, ID: cand.ID, Label: "evaluation of " + cand.Label, Identity: "report:" + cand.Identity,
		Attrs: attrs, Data: data}}, nil
}

type gateStep struct {
	bus  *core.Bus
	fair Fairness
}

func optFloat(x *Exec, name string) *float64 {
	if v, ok := x.Field(name).(float64); ok {
		return &v
	}
	return nil
}

func (s gateStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	in := x.Inputs["report"]
	var rep evaluate.Report
	if err := json.Unmarshal(in.Data, &rep); err != nil || len(rep.Metrics) == 0 {
		return nil, core.Errorf(core.Invalid, "Step %q: the wired input carries no evaluation report.", x.Step.ID)
	}
	rule := evaluate.Rule{Metric: x.String("metric"), MinCandidate: optFloat(x, "min_candidate"), MaxCandidate: optFloat(x, "max_candidate"),
		DiffAbove: optFloat(x, "diff_above"), DiffBelow: optFloat(x, "diff_below")}
	verdict, err := evaluate.Gate(&rep, []evaluate.Rule{rule})
	if err != nil {
		return nil, err
	}
	for _, c := range verdict.Checks {
		x.Logf("%s", c.Sentence)
	}
	if !verdict.Pass {
		return nil, core.Errorf(core.Invalid, "The gate stopped %s: %s", in.Attrs["model"]+" v"+in.Attrs["version"], verdict.Sentence)
	}
	if col := strings.TrimSpace(x.String("fairness_column")); col != "" && s.fair != nil {
		if err := s.fairness(ctx, x, in, col); err != nil {
			return nil, err
		}
	}
	cand := Value{Type: ModelVersion, ID: in.Attrs["model"] + ":" + in.Attrs["version"], Label: in.Attrs["model"] + " v" + in.Attrs["version"],
		Identity: "model:" + in.Attrs["model"] + ":" + in.Attrs["version"], Attrs: map[string]string{"model": in.Attrs["model"], "version": in.Attrs["version"]}}
	if x.Bool("approval") {
		a := x.Approval()
		if a == nil {
			x.Logf("The thresholds pass; waiting for a person to approve or reject %s.", cand.Label)
			if s.bus != nil {
				s.bus.Publish(TopicNotify, Notification{PipelineID: x.Run.PipelineID, Pipeline: x.Run.Pipeline.Name, RunID: x.Run.ID, Run: x.Run.Number,
					Step: x.Step.ID, Message: fmt.Sprintf("%s passed the gate's thresholds and waits for your approval (run %d).", cand.Label, x.Run.Number),
					Inputs: x.Inputs})
			}
			return nil, ErrWaiting
		}
		x.Logf("Approved by a person%s.", noteSuffix(a.Note))
	}
	x.Logf("%s", verdict.Sentence)
	return map[string]Value{"candidate": cand}, nil
}

// fairness holds the candidate to the gate's fairness rule: the chosen
// difference across col's groups, on the rows its run held out, at most
// fairness_max_diff. A difference that cannot be computed (one group, too
// few rows) stops the candidate too: a rule that was asked for and not
// checked is not a pass.
func (s gateStep) fairness(ctx context.Context, x *Exec, in Value, col string) error {
	label := in.Attrs["model"] + " v" + in.Attrs["version"]
	version, err := strconv.Atoi(in.Attrs["version"])
	if err != nil {
		return core.Errorf(core.Invalid, "Step %q: the report names no model version to hold to the fairness rule.", x.Step.ID)
	}
	metric, limit := x.String("fairness_metric"), x.Float("fairness_max_diff")
	rep, err := s.fair.Assess(ctx, fairness.Request{Model: in.Attrs["model"], Version: version, Holdout: true,
		Protected: []string{col}, MinGroupSize: x.Int("fairness_min_group"), Limits: fairness.Limits{MaxDifference: limit}})
	if err != nil {
		return core.Wrap(err, core.ErrorCode(err), "The gate stopped %s: its fairness across %q could not be measured: %s", label, col, core.ErrorMessage(err))
	}
	for _, a := range rep.Analyses {
		if len(a.Columns) != 1 || a.Columns[0] != col {
			continue
		}
		for _, d := range a.Disparities {
			if d.Name != metric {
				continue
			}
			name := strings.ReplaceAll(metric, "_", " ")
			if d.Value == nil {
				why := a.Note
				if why == "" {
					why = "no group has any positive outcome to compare."
				}
				return core.Errorf(core.Invalid, "The gate stopped %s: its %s across %q cannot be computed on %d held-out rows: %s", label, name, col, rep.Rows, why)
			}
			x.Logf("Fairness: %s across %q is %.4f on %d held-out rows (at most %g allowed).", name, col, *d.Value, rep.Rows, limit)
			if *d.Value > limit {
				return core.Errorf(core.Invalid, "The gate stopped %s: its %s across %q is %.3f on its %d held-out rows, above the %g allowed.", label, name, col, *d.Value, rep.Rows, limit)
			}
			return nil
		}
	}
	return core.Errorf(core.Invalid, "The gate stopped %s: the fairness assessment gave no %s for %q.", label, metric, col)
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return ": " + n
}

type deployStep struct{ r Ramper }

// plan reads the step's fields as a ramp plan.
func rampPlan(x *Exec) (deployment.Plan, error) {
	var p deployment.Plan
	if x.Bool("shadow") {
		p.Stages = append(p.Stages, deployment.Stage{Shadow: true, Minutes: x.Float("hold_minutes"), Requests: x.Int("hold_requests")})
	}
	for _, part := range strings.Split(x.String("stages"), ",") {
		part = strings.TrimSuffix(strings.TrimSpace(part), "%")
		if part == "" {
			continue
		}
		pct, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return p, core.Errorf(core.Invalid, "Step %q: stage %q is not a percentage (write the shares as 5,25,50).", x.Step.ID, part)
		}
		p.Stages = append(p.Stages, deployment.Stage{Percent: pct, Minutes: x.Float("hold_minutes"), Requests: x.Int("hold_requests")})
	}
	p.ErrorMarginPct, p.LatencyMarginMs, p.LatencyMarginPct, p.Patience = x.Float("error_margin_pct"), x.Float("latency_margin_ms"), x.Float("latency_margin_pct"), x.Float("patience")
	p.AccuracyMarginPct, p.Alpha, p.FallbackAfterMs = x.Float("accuracy_margin_pct"), x.Float("alpha"), x.Int("fallback_after_ms")
	p.MinLabelled = x.Int("min_labelled")
	for _, f := range []struct {
		name string
		v    float64
	}{{"error_margin_pct", p.ErrorMarginPct}, {"latency_margin_ms", p.LatencyMarginMs}, {"latency_margin_pct", p.LatencyMarginPct}, {"accuracy_margin_pct", p.AccuracyMarginPct}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return p, core.Errorf(core.Invalid, "Step %q: %s must be 0 or more, not %g.", x.Step.ID, f.name, f.v)
		}
	}
	if p.FallbackAfterMs < 0 {
		return p, core.Errorf(core.Invalid, "Step %q: fallback_after_ms must be 0 or more, not %d.", x.Step.ID, p.FallbackAfterMs)
	}
	if p.Patience != 0 && (p.Patience < 1 || math.IsNaN(p.Patience) || math.IsInf(p.Patience, 0)) {
		return p, core.Errorf(core.Invalid, "Step %q: patience is how many holds a stage may take; give 1 or more, not %g.", x.Step.ID, p.Patience)
	}
	p = p.WithDefaults()
	return p, p.Validate()
}

// Reusable takes a cached ramp only while its candidate still takes all
// of the deployment's traffic and no other ramp runs there.
func (s deployStep) Reusable(_ context.Context, x *Exec, _ map[string]Value) (string, error) {
	return inPlace(s.r, x.String("deployment"), x.Inputs["candidate"].Attrs["version"])
}

// inPlace says "" when version takes all of deployment's traffic with no
// ramp in flight, else what is there instead.
func inPlace(r Ramper, depID, version string) (string, error) {
	if ramp, ok := r.ActiveRamp(depID); ok && !ramp.Done() {
		return fmt.Sprintf("a ramp of v%d is in progress on %s", ramp.Candidate, depID), nil
	}
	d, err := r.Get(depID)
	if err != nil {
		return "", err
	}
	if now := serving(d); strconv.Itoa(now) != version {
		if now == 0 {
			return fmt.Sprintf("%s splits its traffic now, v%s does not take all of it", d.Name, version), nil
		}
		return fmt.Sprintf("%s serves v%d now, not v%s", d.Name, now, version), nil
	}
	return "", nil
}

func (s deployStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	cand := x.Inputs["candidate"]
	depID := x.String("deployment")
	version := cand.Attrs["version"]
	rampID := x.Recall("ramp")
	if rampID == "" {
		// A restart between starting the ramp and remembering it finds the
		// ramp in flight for this candidate instead of starting another.
		if r, ok := s.r.ActiveRamp(depID); ok && strconv.Itoa(r.Candidate) == version && r.Model == cand.Attrs["model"] {
			rampID = r.ID
			x.Remember("ramp", rampID)
		}
	}
	d, err := s.r.Get(depID)
	if err != nil {
		return nil, err
	}
	if d.Model != cand.Attrs["model"] {
		return nil, core.Errorf(core.Invalid, "Step %q: deployment %s serves model %q, not %q.", x.Step.ID, d.Name, d.Model, cand.Attrs["model"])
	}
	x.Link(Link{Kind: "deployment", ID: d.ID, Label: d.Name})
	if rampID == "" && strconv.Itoa(serving(d)) == version {
		// Nothing to ramp: a run with nothing new must not fail, nor
		// ramp a version into its own place.
		x.Logf("%s already takes all traffic of %s; nothing to ramp.", cand.Label, d.Name)
		return map[string]Value{"deployment": {Type: Deployment, ID: d.ID, Label: d.Name, Identity: "serving:" + d.ID + ":" + version,
			Attrs: map[string]string{"model": cand.Attrs["model"], "version": version}}}, nil
	}
	if rampID == "" {
		if err := notRejected(s.r, x, d, cand.Attrs["model"], version); err != nil {
			return nil, err
		}
		plan, err := rampPlan(x)
		if err != nil {
			return nil, err
		}
		r, err := s.r.StartRamp(ctx, depID, version, plan)
		if err != nil {
			return nil, err
		}
		rampID = r.ID
		x.Remember("ramp", rampID)
		x.Logf("Started ramping %s into %s: candidate at %g %% (champion v%d).", cand.Label, depID, r.Share, r.Champion)
	}
	return map[string]Value{"deployment": {Type: Deployment, ID: d.ID, Label: d.Name, Identity: "ramp:" + rampID,
		Attrs: map[string]string{"ramp": rampID, "model": cand.Attrs["model"], "version": version}}}, nil
}

// notRejected refuses to ramp a version whose last ramp into this
// deployment was rolled back by its watch: a run queued behind the one
// that ramped it (a coalesced alert) reuses the same trained candidate,
// and ramping it again would give it another chance at the traffic on no
// new evidence — without labels, one it might pass.
func notRejected(r Ramper, x *Exec, d deployment.Deployment, model, version string) error {
	ramps, err := r.Ramps(d.ID)
	if err != nil {
		return err
	}
	for _, rp := range ramps { // newest first
		if rp.Model != model || strconv.Itoa(rp.Candidate) != version || !rp.Done() {
			continue
		}
		if rp.State == deployment.RampRolledBack {
			x.Link(Link{Kind: "ramp", ID: rp.ID, Label: fmt.Sprintf("ramp of %s v%d", rp.Model, rp.Candidate)})
			return core.Errorf(core.Conflict, "%s v%s was rolled back from %s on %s and is not ramped again: %s Train a new candidate, or ramp this one by hand from the deployment page.",
				model, version, d.Name, time.UnixMilli(rp.Finished).UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSuffix(rp.Reason, ".")+".")
		}
		return nil // its last ramp was promoted or aborted by a person
	}
	return nil
}

type watchStep struct{ r Ramper }

// Reusable takes a cached verdict only while the version it promoted
// still takes all of the deployment's traffic.
func (s watchStep) Reusable(_ context.Context, x *Exec, out map[string]Value) (string, error) {
	return inPlace(s.r, x.Inputs["deployment"].ID, out["model_version"].Attrs["version"])
}

func (s watchStep) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	dep := x.Inputs["deployment"]
	rampID := dep.Attrs["ramp"]
	if rampID == "" {
		if dep.Attrs["version"] == "" {
			return nil, core.Errorf(core.Invalid, "Step %q: the wired deployment carries no ramp to watch; wire it to a deploy step.", x.Step.ID)
		}
		x.Logf("Nothing was ramped: %s v%s already takes all traffic.", dep.Attrs["model"], dep.Attrs["version"])
		id := dep.Attrs["model"] + ":" + dep.Attrs["version"]
		return map[string]Value{"model_version": {Type: ModelVersion, ID: id, Label: dep.Attrs["model"] + " v" + dep.Attrs["version"], Identity: "model:" + id,
			Attrs: map[string]string{"model": dep.Attrs["model"], "version": dep.Attrs["version"]}}}, nil
	}
	seen := 0
	for {
		r, err := s.r.WaitRamp(ctx, rampID)
		if err != nil {
			if ctx.Err() != nil && x.Cancelled() {
				if _, err := s.r.AbortRamp(rampID); err == nil {
					x.Logf("The run was cancelled: the ramp was aborted and the champion keeps all traffic.")
				}
			}
			return nil, err
		}
		for ; seen < len(r.Events); seen++ {
			x.Logf("%s", rampEventText(r.Events[seen]))
		}
		if !r.Done() {
			continue
		}
		// The evidence each stage was judged on stays in the step's
		// record, whichever way the ramp ended.
		x.Link(Link{Kind: "ramp", ID: r.ID, Label: fmt.Sprintf("ramp of %s v%d", r.Model, r.Candidate)})
		for _, sr := range r.Stages {
			x.Logf("%s", stageEvidence(sr))
		}
		if r.State != deployment.RampPromoted {
			reason := r.Reason
			if reason == "" {
				reason = r.State
			}
			return nil, core.Errorf(core.Invalid, "The ramp of %s v%d into %s ended %s: %s", r.Model, r.Candidate, dep.Label, strings.ReplaceAll(r.State, "_", " "), strings.TrimSuffix(reason, ".")+".")
		}
		x.Logf("%s v%d is now @champion and takes all traffic of %s.", r.Model, r.Candidate, dep.Label)
		id := fmt.Sprintf("%s:%d", r.Model, r.Candidate)
		x.Link(Link{Kind: "model_version", ID: id, Label: fmt.Sprintf("%s v%d", r.Model, r.Candidate)})
		return map[string]Value{"model_version": {Type: ModelVersion, ID: id, Label: fmt.Sprintf("%s v%d", r.Model, r.Candidate), Identity: "model:" + id,
			Attrs: map[string]string{"model": r.Model, "version": strconv.Itoa(r.Candidate)}}}, nil
	}
}

// stageEvidence is one stage's figures in a sentence: requests, failures
// (each answered by the champion instead, so no client saw it), p95
// latencies, realised accuracy when labels came, and the verdict.
func stageEvidence(sr deployment.StageReport) string {
	share := fmt.Sprintf("candidate at %g %%", sr.Percent)
	if sr.Shadow {
		share = "shadow copies"
	}
	c, b := sr.Candidate, sr.Champion
	var w strings.Builder
	fmt.Fprintf(&w, "Stage %d (%s): candidate %d requests, %d failed", sr.Stage+1, share, c.Requests, c.Errors)
	if c.Errors > 0 && !sr.Shadow {
		w.WriteString(" (each retried on the champion)")
	}
	fmt.Fprintf(&w, ", p95 %.1f ms; champion %d requests, %d failed, p95 %.1f ms", c.P95Ms, b.Requests, b.Errors, b.P95Ms)
	if sr.Realised != nil {
		fmt.Fprintf(&w, "; realised accuracy %s", sr.Realised.Verdict)
	} else if !sr.Shadow {
		w.WriteString("; no labels arrived")
	}
	fmt.Fprintf(&w, ". Verdict %s: %s", sr.Verdict, sr.Reason)
	return w.String()
}

func rampEventText(e deployment.RampEvent) string {
	if e.Message != "" {
		return e.Message
	}
	return e.Kind
}

// serving is the version taking all of a deployment's traffic (0: none).
func serving(d deployment.Deployment) int {
	for _, sp := range d.Traffic.Split {
		if sp.Weight >= 100-0.01 {
			for _, b := range d.Backends {
				if b.Backend == sp.Backend {
					return b.Version
				}
			}
		}
	}
	return 0
}
