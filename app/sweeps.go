package app

import (
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/sweep"
)

// Sweeps searches a model's parameters: many trials of one Train request.
// Live changes arrive as event sweep.TopicSweep ("sweep.update").
type Sweeps struct {
	svc    *sweep.Service
	runner *runner.Runner
}

// NewSweeps binds the sweep service; r reports the machine's capacity.
func NewSweeps(s *sweep.Service, r *runner.Runner) *Sweeps { return &Sweeps{svc: s, runner: r} }

// SweepForm is what the sweep form offers for one model.
type SweepForm struct {
	// Space is the proposed search space for the model.
	Space    sweep.Space     `json:"space"`
	Model    ml.ModelSpec    `json:"model"`
	Samplers []string        `json:"samplers"`
	Capacity runner.Capacity `json:"capacity"`
}

// Form proposes a search space for a built-in model ("" for gbdt).
func (s *Sweeps) Form(model string) (SweepForm, error) {
	if model == "" {
		model = ml.AlgoGBDT
	}
	f := SweepForm{Space: sweep.DefaultSpace(model), Samplers: []string{sweep.SamplerTPE, sweep.SamplerRandom, sweep.SamplerGrid}}
	for _, m := range ml.Models() {
		if m.Name == model {
			f.Model = m
		}
	}
	if s.runner != nil {
		f.Capacity = s.runner.Capacity()
	}
	return f, nil
}

// Start checks a sweep and starts it.
func (s *Sweeps) Start(spec sweep.Spec) (sweep.Sweep, error) { return s.svc.Create(spec) }

// List returns every sweep, newest first.
func (s *Sweeps) List() ([]sweep.Sweep, error) { return listed(s.svc.List()) }

// Get returns a sweep with its parameter importances.
func (s *Sweeps) Get(id string) (sweep.Detail, error) { return s.svc.Detail(id) }

// Cancel stops a sweep: no new trial, running ones stopped.
func (s *Sweeps) Cancel(id string) (sweep.Sweep, error) { return s.svc.Cancel(id) }

// RegisterBest registers the best trial's model under the given name.
func (s *Sweeps) RegisterBest(id, model string) (registry.Version, error) {
	return s.svc.RegisterBest(id, model)
}
