package app

import (
	"context"

	"github.com/tern-studio/tern/backend/engine"
)

// Engines is Settings → Engines: the Docker engines jobs can run on, each
// with its health, and adding, testing and removing remote ones.
type Engines struct {
	life lifetime
	svc  *engine.Service
}

// NewEngines binds the list of engines.
func NewEngines(ctx context.Context, svc *engine.Service) *Engines {
	return &Engines{life: lifetime{ctx}, svc: svc}
}

// List returns every engine with its health, tested now (all at once,
// each within a few seconds).
func (e *Engines) List() ([]engine.Health, error) {
	ctx, done := e.life.call()
	defer done()
	return listed(e.svc.Health(ctx))
}

// Test asks one engine for its health.
func (e *Engines) Test(name string) (engine.Health, error) {
	ctx, done := e.life.call()
	defer done()
	return e.svc.Test(ctx, name)
}

// Add stores a remote engine (name, tcp://host:port, certificate folder).
func (e *Engines) Add(en engine.Engine) (engine.Engine, error) { return e.svc.Add(en) }

// Remove forgets a remote engine; what runs there keeps running.
func (e *Engines) Remove(name string) (bool, error) {
	if err := e.svc.Remove(name); err != nil {
		return false, err
	}
	return true, nil
}
