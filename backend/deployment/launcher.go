package deployment

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/modelserver"
)

// Spec is one model version to bring up behind a deployment.
type Spec struct {
	Deployment string
	Backend    string // the backend ID inside the router, e.g. "v3"
	Model      string
	Version    int
	Dir        string // the registered model directory
}

// Instance is a running serving endpoint.
type Instance struct {
	Backend     string `json:"backend"`
	Target      string `json:"target"` // "process" or "docker"
	URL         string `json:"url"`
	ContainerID string `json:"containerId,omitempty"`
	Model       string `json:"model"`
	Version     int    `json:"version"`
	// Worker names the Python worker container (and socket volume) behind
	// a front serving a pickled model; empty for native models.
	Worker string `json:"worker,omitempty"`
	// Image is the serving image the launcher built for this version.
	Image string `json:"image,omitempty"`
}

// Launcher starts and stops serving endpoints. Implementations publish on
// 127.0.0.1 only.
type Launcher interface {
	Name() string
	Launch(ctx context.Context, s Spec) (Instance, error)
	Stop(ctx context.Context, inst Instance) error
	// Running lists endpoints of a deployment that outlived the app (a
	// container found by its labels); process launchers find none.
	Running(ctx context.Context, deployment string) ([]Instance, error)
}

// ProcessLauncher serves models inside Tern's own process, on a loopback
// port: the fallback when Docker is absent, and what tests and the bench
// use for the direct path. It runs the same scoring server as
// `tern-runtime serve`.
type ProcessLauncher struct {
	mu      sync.Mutex
	servers map[string]*http.Server // by URL
}

func NewProcessLauncher() *ProcessLauncher {
	return &ProcessLauncher{servers: map[string]*http.Server{}}
}

func (p *ProcessLauncher) Name() string { return "process" }

func (p *ProcessLauncher) Launch(_ context.Context, s Spec) (Instance, error) {
	if pickle, err := pythonPickle(s.Dir); err != nil || pickle != "" {
		return Instance{}, core.Errorf(core.Unavailable, "%s v%d is a pickled Python model: Tern serves it only in a locked-down container with no network, never in its own process, and Docker is not reachable. Start Docker and deploy again.", s.Model, s.Version)
	}
	loaded, err := modelserver.LoadDir(s.Dir, s.Model, itoa(s.Version))
	if err != nil {
		return Instance{}, err
	}
	srv, err := modelserver.NewServer(loaded.Model, modelserver.ServerOptions{Version: "tern"})
	if err != nil {
		return Instance{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Instance{}, core.Wrap(err, core.Unavailable, "Cannot open a local port for %s v%d.", s.Model, s.Version)
	}
	hs := newHTTPServer(srv)
	go hs.Serve(ln)
	url := "http://" + ln.Addr().String()
	p.mu.Lock()
	p.servers[url] = hs
	p.mu.Unlock()
	return Instance{Backend: s.Backend, Target: "process", URL: url, Model: s.Model, Version: s.Version}, nil
}

func (p *ProcessLauncher) Stop(ctx context.Context, inst Instance) error {
	p.mu.Lock()
	hs := p.servers[inst.URL]
	delete(p.servers, inst.URL)
	p.mu.Unlock()
	if hs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		hs.Close()
	}
	return nil
}

func (p *ProcessLauncher) Running(context.Context, string) ([]Instance, error) { return nil, nil }

// newHTTPServer bounds every connection so a slow client cannot hold a
// server forever.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// waitHealthy polls /ping until it answers 200 or the deadline passes.
func waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ping", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return core.Errorf(core.Unavailable, "The serving endpoint at %s did not become healthy within %s.", url, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
