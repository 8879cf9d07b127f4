// Package deployment turns registered model versions into live endpoints:
// each deployment is a stable URL on 127.0.0.1 served by Tern's router,
// in front of one serving endpoint per model version (a container running
// `tern-runtime serve`, or an in-process server when Docker is absent).
// Traffic moves between versions by canary weights, shadow copies,
// blue/green switches and rollbacks; deployments are persisted and come
// back after an app restart (containers are reattached by label).
// Containers and serving images go through the Docker adapter
// (backend/docker, the DockerAPI interface in docker.go); this package
// decides what a serving container is: the image (FROM scratch with the
// binary and the model), its labels, limits and the port it publishes.
// A pickled scikit-learn model is served by a pair of containers instead
// (python.go): a Python worker with no network that unpickles it, behind
// the same tern-runtime server.
package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelfmt"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/registry"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout: 0x40 deployment id -> Deployment (JSON). 0x41 is the
// prediction log (backend/serving).
const prefixDeployment = store.PrefixServing

// States of a deployment.
const (
	StateRunning = "running"
	StateStopped = "stopped"
	StateFailed  = "failed"
)

// Deployment is one stable endpoint and what is behind it.
type Deployment struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Model    string         `json:"model"`
	Port     int            `json:"port"`
	Endpoint string         `json:"endpoint"`
	Backends []Instance     `json:"backends"`
	Traffic  router.Traffic `json:"traffic"`
	Target   string         `json:"target"`
	State    string         `json:"state"`
	Reason   string         `json:"reason,omitempty"`
	Created  int64          `json:"created"`
	// Follow, when set, moves traffic to whatever version an alias of the
	// model names (follow.go).
	Follow *Follow `json:"follow,omitempty"`
}

// Options tune Deploy.
type Options struct {
	Name string `json:"name"`
	// Port for the stable endpoint on 127.0.0.1; 0 picks a free one.
	Port int `json:"port"`
}

// Config builds a Service.
type Config struct {
	Store    *store.Store
	Registry *registry.Service
	Launcher Launcher
	Bus      *core.Bus
	Log      *slog.Logger
	// HealthTimeout bounds the wait for a new endpoint's /ping; 0 = 60 s.
	HealthTimeout time.Duration
	// PredictionLog options; the log is shared by every deployment.
	LogOptions predlog.Options
	// HealthInterval for routers; 0 = 500 ms.
	HealthInterval time.Duration
	// Clock times ramp stages; nil is the wall clock.
	Clock core.Clock
	// RampTick is how often a ramp's watch judges its stage; 0 = 1 s.
	RampTick time.Duration
	// Realised counts a deployment's labelled answers since a time, per
	// backend, and how many were wrong (monitor.Service.RealisedByBackend):
	// with it a ramp's watch also compares realised accuracy once labels
	// arrive. Nil: errors and latency only.
	Realised func(deployment string, since time.Time) (n, wrong map[string]int, err error)
}

// Service manages deployments.
type Service struct {
	cfg  Config
	plog *predlog.Log
	// client calls deployments for Try-it and batch scoring.
	client *http.Client
	mu     sync.Mutex
	live   map[string]*liveDeployment
	// ramps in progress, by deployment (one at a time on each).
	ramps map[string]*rampRun
	// saveMu orders saves, so the stored record of a live deployment is
	// never an older copy written after a newer one.
	saveMu sync.Mutex
	// follow is the alias follower (follow.go), running after Start.
	follow *follower
	// followMu makes a change of what a deployment follows and the
	// follower's look at it take turns: a look that read the old setting
	// must not act after the new one is saved (it once switched traffic
	// for an alias the deployment had just stopped following).
	followMu sync.Mutex
}

type liveDeployment struct {
	d      Deployment
	router *router.Router
	srv    *http.Server
	// watch is the evidence of the ramp stage in progress; the router
	// hands it every observation.
	watch atomic.Pointer[evidence]
}

// NewService starts the prediction log; call Start to bring persisted
// deployments back.
func NewService(cfg Config) *Service {
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Bus == nil {
		cfg.Bus = core.NewBus()
	}
	return &Service{cfg: cfg, plog: predlog.New(cfg.Store, cfg.LogOptions), live: map[string]*liveDeployment{},
		ramps: map[string]*rampRun{}, client: &http.Client{Timeout: 60 * time.Second}}
}

// PredictionLog is the shared log (the bench reads its counts).
func (s *Service) PredictionLog() *predlog.Log { return s.plog }

func key(id string) []byte { return store.Key(prefixDeployment, []byte(id)) }

func (s *Service) save(d Deployment) error { return s.saveAs(d, nil) }

// quiet is the record of a save that is part of a change recorded
// elsewhere (a ramp's start, a deletion): it writes none.
var quiet = &audit.Record{}

// saveAs saves d with rec as its audit record, or with the record worked
// out from the change when rec is nil; a rec without an action writes
// none. A live deployment is saved as it is now, not as the caller's
// copy: two changes racing to save cannot leave the older one stored.
func (s *Service) saveAs(d Deployment, rec *audit.Record) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if ld := s.live[d.ID]; ld != nil && d.State == StateRunning {
		d = ld.d
	}
	s.mu.Unlock()
	b, _ := json.Marshal(d)
	if err := s.cfg.Store.DB.Update(func(txn *badger.Txn) error {
		var old *Deployment
		if err := store.GetJSON(txn, key(d.ID), &old); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		r := rec
		if r == nil {
			computed := saveRecord(old, d)
			r = &computed
		}
		if r.Action != "" {
			if len(r.Objects) == 0 {
				r.Objects = deploymentObjects(d)
			}
			if err := audit.Append(txn, *r); err != nil {
				return err
			}
		}
		return txn.Set(key(d.ID), b)
	}); err != nil {
		return core.Wrap(err, core.Internal, "The deployment %q could not be saved.", d.Name)
	}
	s.cfg.Bus.Publish("deployment.changed", d)
	return nil
}

func backendID(version int) string { return "v" + strconv.Itoa(version) }

func itoa(i int) string { return strconv.Itoa(i) }

// Deploy brings a model version live behind a new stable endpoint. The
// version's endpoint must answer /ping before the router sends it traffic.
func (s *Service) Deploy(ctx context.Context, model, ref string, opt Options) (Deployment, error) {
	v, err := s.cfg.Registry.Version(model, ref)
	if err != nil {
		return Deployment{}, err
	}
	if opt.Port < 0 || opt.Port > 65535 {
		return Deployment{}, core.Errorf(core.Invalid, "Port %d is not a TCP port (1–65535, or 0 for any free one).", opt.Port)
	}
	d := Deployment{
		ID: core.NewID(), Name: opt.Name, Model: model, Target: s.cfg.Launcher.Name(),
		State: StateRunning, Created: time.Now().UnixMilli(),
	}
	if d.Name == "" {
		d.Name = model
	}
	inst, err := s.launch(ctx, d.ID, v)
	if err != nil {
		return Deployment{}, err
	}
	d.Backends = []Instance{inst}
	d.Traffic = router.Traffic{Split: []router.Split{{Backend: inst.Backend, Weight: 100}}}
	ld, err := s.serve(d, opt.Port)
	if err != nil {
		s.cfg.Launcher.Stop(context.Background(), inst)
		return Deployment{}, err
	}
	d = ld.d
	if err := s.save(d); err != nil {
		s.shutdown(ld, true)
		return Deployment{}, err
	}
	return d, nil
}

// Servable says why a version cannot be deployed, or nil. Pickled
// scikit-learn models are served in a locked-down Python worker container
// behind tern-runtime (python.go); the launcher checks the MLmodel file
// itself (pickle format, file) before building anything.
func Servable(v registry.Version) error {
	if !v.Pickle {
		return nil
	}
	if v.Flavor != modelfmt.FlavorSklearn && v.Flavor != modelfmt.FlavorPyFunc {
		return core.Errorf(core.Invalid, "Version %d of %q is a pickled Python model of flavor %s; Tern's Python container serves scikit-learn models only. Export the MLmodel folder and serve it with MLflow.", v.Version, v.Model, v.Flavor)
	}
	if len(v.Signature.Inputs) == 0 {
		return core.Errorf(core.Invalid, "Version %d of %q is a pickled Python model without a column signature, so requests could not be checked before they reach the pickle (loading a pickle runs code). Log it with a signature (mlflow.models.infer_signature) and register it again.", v.Version, v.Model)
	}
	return nil
}

// Packagable says why a version cannot be exported as a serving image or
// build context, or nil: a pickled model is served as two containers (a
// front and a worker with no network), which one image and one `docker
// run` cannot express.
func Packagable(v registry.Version) error {
	if v.Pickle {
		return core.Errorf(core.Invalid, "Version %d of %q is a pickled Python model: Tern serves it as two containers (a front and a Python worker with no network), which a single image cannot carry. Deploy it in Tern, or export the MLmodel folder and serve it with MLflow.", v.Version, v.Model)
	}
	return nil
}

func (s *Service) launch(ctx context.Context, depID string, v registry.Version) (Instance, error) {
	if err := Servable(v); err != nil {
		return Instance{}, err
	}
	inst, err := s.cfg.Launcher.Launch(ctx, Spec{Deployment: depID, Backend: backendID(v.Version), Model: v.Model, Version: v.Version, Dir: s.cfg.Registry.Dir(v)})
	if err != nil {
		return Instance{}, err
	}
	if err := waitHealthy(ctx, inst.URL, s.cfg.HealthTimeout); err != nil {
		s.cfg.Launcher.Stop(context.Background(), inst)
		return Instance{}, core.Errorf(core.Unavailable, "%s v%d started but did not answer its health check; it was stopped and gets no traffic.", v.Model, v.Version)
	}
	return inst, nil
}

// serve starts the router and its listener for d.
func (s *Service) serve(d Deployment, port int) (*liveDeployment, error) {
	var backends []router.Backend
	for _, b := range d.Backends {
		backends = append(backends, router.Backend{ID: b.Backend, URL: b.URL})
	}
	ld := &liveDeployment{}
	observe := func(o router.Observation) {
		if ev := ld.watch.Load(); ev != nil {
			ev.observe(o)
		}
	}
	r, err := router.New(d.ID, backends, d.Traffic, router.Options{Log: s.plog, HealthInterval: s.cfg.HealthInterval, Observe: observe})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		r.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, core.Errorf(core.Conflict, "Port %d on 127.0.0.1 is already in use; choose another port or leave it empty for a free one.", port)
		}
		return nil, core.Wrap(err, core.Unavailable, "Cannot listen on 127.0.0.1:%d.", port)
	}
	d.Port = ln.Addr().(*net.TCPAddr).Port
	d.Endpoint = "http://" + ln.Addr().String()
	srv := newHTTPServer(r)
	go srv.Serve(ln)
	ld.d, ld.router, ld.srv = d, r, srv
	s.mu.Lock()
	s.live[d.ID] = ld
	s.mu.Unlock()
	return ld, nil
}

func (s *Service) get(id string) (*liveDeployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ld := s.live[id]
	if ld == nil {
		return nil, core.Errorf(core.NotFound, "There is no running deployment %q.", id)
	}
	return ld, nil
}

// AddVersion starts another version behind a deployment with no live
// traffic yet; give it weight with SetTraffic (canary), make it the shadow,
// or switch to it (blue/green).
func (s *Service) AddVersion(ctx context.Context, id, ref string) (Deployment, error) {
	return s.addVersion(ctx, id, ref, nil)
}

// addVersion is AddVersion recorded as rec (see saveAs).
func (s *Service) addVersion(ctx context.Context, id, ref string, rec *audit.Record) (Deployment, error) {
	ld, err := s.get(id)
	if err != nil {
		return Deployment{}, err
	}
	v, err := s.cfg.Registry.Version(ld.d.Model, ref)
	if err != nil {
		return Deployment{}, err
	}
	for _, b := range ld.d.Backends {
		if b.Version == v.Version {
			return Deployment{}, core.Errorf(core.Conflict, "Version %d is already behind this deployment.", v.Version)
		}
	}
	inst, err := s.launch(ctx, id, v)
	if err != nil {
		return Deployment{}, err
	}
	ld.router.AddBackend(router.Backend{ID: inst.Backend, URL: inst.URL})
	s.mu.Lock()
	ld.d.Backends = append(ld.d.Backends, inst)
	d := ld.d
	s.mu.Unlock()
	return d, s.saveAs(d, rec)
}

// SetTraffic replaces the split; the next request follows it.
func (s *Service) SetTraffic(id string, t router.Traffic) (Deployment, error) {
	if err := s.noRamp(id); err != nil {
		return Deployment{}, err
	}
	return s.route(id, func(r *router.Router) error { return r.SetTraffic(t) })
}

// noRamp refuses a hand-made traffic change while a ramp drives the
// deployment: the two would fight over the split.
func (s *Service) noRamp(id string) error {
	if s.rampOn(id) != nil {
		return core.Errorf(core.Conflict, "A ramp is moving this deployment's traffic; abort the ramp before changing the split by hand.")
	}
	return nil
}

// route applies change to a live deployment's router and records the
// split the router then holds, so the saved record never disagrees with
// what requests follow.
func (s *Service) route(id string, change func(*router.Router) error) (Deployment, error) {
	return s.routeAs(id, change, nil)
}

// routeAs is route recorded as rec (see saveAs); rec may be a function of
// the split before and after.
func (s *Service) routeAs(id string, change func(*router.Router) error, rec func(before, after router.Traffic) *audit.Record) (Deployment, error) {
	ld, err := s.get(id)
	if err != nil {
		return Deployment{}, err
	}
	before := ld.router.Traffic()
	if err := change(ld.router); err != nil {
		return Deployment{}, err
	}
	s.mu.Lock()
	ld.d.Traffic = ld.router.Traffic()
	d := ld.d
	s.mu.Unlock()
	var r *audit.Record
	if rec != nil {
		r = rec(before, d.Traffic)
	}
	return d, s.saveAs(d, r)
}

// SetCanary sends weight percent to backend and the rest to the backend
// that has the most traffic now (the stable one), keeping the shadow.
func (s *Service) SetCanary(id, backend string, weight float64) (Deployment, error) {
	ld, err := s.get(id)
	if err != nil {
		return Deployment{}, err
	}
	cur := ld.router.Traffic()
	stable := ""
	best := -1.0
	for _, sp := range cur.Split {
		if sp.Backend != backend && sp.Weight > best {
			stable, best = sp.Backend, sp.Weight
		}
	}
	if stable == "" {
		for _, b := range ld.d.Backends {
			if b.Backend != backend {
				stable = b.Backend
				break
			}
		}
	}
	if stable == "" {
		return Deployment{}, core.Errorf(core.Conflict, "A canary needs a second version behind the deployment; add one first.")
	}
	t := router.Traffic{Split: []router.Split{{Backend: stable, Weight: 100 - weight}, {Backend: backend, Weight: weight}}, Shadow: cur.Shadow}
	if t.Shadow == backend {
		t.Shadow = ""
	}
	return s.SetTraffic(id, t)
}

// Rollback restores the previous split, effective on the next request.
func (s *Service) Rollback(id string) (Deployment, error) {
	if err := s.noRamp(id); err != nil {
		return Deployment{}, err
	}
	return s.route(id, func(r *router.Router) error {
		_, err := r.Rollback()
		return err
	})
}

// Stop takes the endpoint down, stops every version behind it and keeps
// the record (state stopped) and its prediction log.
func (s *Service) Stop(ctx context.Context, id string) (Deployment, error) {
	ld, err := s.get(id)
	if err != nil {
		return Deployment{}, err
	}
	s.endRampFor(id, "The deployment was stopped.")
	s.shutdown(ld, true)
	ld.d.State = StateStopped
	return ld.d, s.save(ld.d)
}

// shutdown closes the router; stopBackends also stops the endpoints
// (false on app exit, so containers keep serving and are reattached).
func (s *Service) shutdown(ld *liveDeployment, stopBackends bool) {
	s.mu.Lock()
	delete(s.live, ld.d.ID)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ld.srv.Shutdown(ctx)
	ld.router.Close()
	if stopBackends {
		for _, b := range ld.d.Backends {
			if err := s.cfg.Launcher.Stop(ctx, b); err != nil {
				s.cfg.Log.Warn("stopping a serving endpoint failed", "deployment", ld.d.ID, "backend", b.Backend, "err", err)
			}
		}
	}
}

// List returns every deployment, live ones with their current state.
func (s *Service) List() ([]Deployment, error) {
	var out []Deployment
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{prefixDeployment}, false, func(d Deployment) error {
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The deployments could not be read.")
	}
	s.mu.Lock()
	for i, d := range out {
		if ld := s.live[d.ID]; ld != nil {
			out[i] = ld.d
		} else if d.State == StateRunning {
			out[i].State = StateStopped
			out[i].Reason = "not running in this session"
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, nil
}

// Get returns one deployment.
func (s *Service) Get(id string) (Deployment, error) {
	if ld, err := s.get(id); err == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return ld.d, nil
	}
	var d Deployment
	err := s.cfg.Store.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key(id))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &d) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return d, core.Errorf(core.NotFound, "There is no deployment %q.", id)
	}
	return d, err
}

// Stats is the live router's counters and latency percentiles.
func (s *Service) Stats(id string) (router.Stats, error) {
	ld, err := s.get(id)
	if err != nil {
		return router.Stats{}, err
	}
	return ld.router.Stats(), nil
}

// Predictions returns a deployment's most recent logged exchanges.
func (s *Service) Predictions(id string, limit int) ([]predlog.Record, error) {
	return s.plog.Recent(id, limit)
}

// DeploymentsOf names the deployments serving a model version (lineage).
func (s *Service) DeploymentsOf(model string, version int) []string {
	all, _ := s.List()
	var out []string
	for _, d := range all {
		if d.Model != model {
			continue
		}
		for _, b := range d.Backends {
			if b.Version == version {
				out = append(out, d.Name)
				break
			}
		}
	}
	return out
}

// Start brings back deployments that were running when Tern last stopped:
// endpoints that outlived the app (containers) are reattached by label,
// others are launched again, and the router returns on the same port.
func (s *Service) Start(ctx context.Context) error {
	all, err := s.List()
	if err != nil {
		return err
	}
	for _, d := range all {
		if d.Reason != "not running in this session" {
			continue
		}
		if err := s.restore(ctx, d); err != nil {
			s.cfg.Log.Warn("a deployment could not be restored", "deployment", d.ID, "err", err)
			d.State, d.Reason = StateFailed, core.ErrorMessage(err)
			d.Reason = fmt.Sprintf("Could not be restored after restart: %s", core.ErrorMessage(err))
			s.save(d)
		}
	}
	s.resumeRamps()
	s.startFollower()
	return nil
}

func (s *Service) restore(ctx context.Context, d Deployment) error {
	running, err := s.cfg.Launcher.Running(ctx, d.ID)
	if err != nil {
		return err
	}
	have := map[string]Instance{}
	for _, r := range running {
		have[r.Backend] = r
	}
	var backends []Instance
	for _, b := range d.Backends {
		if r, ok := have[b.Backend]; ok && waitHealthy(ctx, r.URL, 5*time.Second) == nil {
			backends = append(backends, r)
			delete(have, b.Backend)
			continue
		}
		v, err := s.cfg.Registry.Version(d.Model, itoa(b.Version))
		if err != nil {
			return err
		}
		inst, err := s.launch(ctx, d.ID, v)
		if err != nil {
			return err
		}
		backends = append(backends, inst)
	}
	// Containers of this deployment no record mentions are leftovers.
	for _, r := range have {
		s.cfg.Launcher.Stop(ctx, r)
	}
	d.Backends = backends
	d.State, d.Reason = StateRunning, ""
	ld, err := s.serve(d, d.Port)
	if err != nil {
		return err
	}
	return s.save(ld.d)
}

// Close stops the routers and drains the prediction log. Containers keep
// running, to be reattached at the next start; in-process endpoints end
// with the process.
func (s *Service) Close() {
	s.stopFollower()
	s.stopRamps()
	s.mu.Lock()
	var all []*liveDeployment
	for _, ld := range s.live {
		all = append(all, ld)
	}
	s.mu.Unlock()
	for _, ld := range all {
		_, isProcess := s.cfg.Launcher.(*ProcessLauncher)
		s.shutdown(ld, isProcess)
	}
	s.plog.Close()
}
