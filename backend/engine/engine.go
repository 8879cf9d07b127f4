// Package engine keeps the list of Docker engines Tern can run work on:
// the local one (whatever DOCKER_HOST or the default socket names) and
// remote ones added by address (TCP with TLS client certificates). It
// hands out one client per engine, made through the single Docker adapter
// (backend/docker), and answers their health: reachable or not, in words
// that name the engine, and the CPUs, memory and version they report.
//
// An engine record holds the path of a certificate folder (ca.pem,
// cert.pem, key.pem, as DOCKER_CERT_PATH), not the key itself: the key
// stays where the person put it, and a folder made for
// `docker --tlsverify` works as it is.
package engine

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/store"
)

// Local is the name of the engine Tern finds on this machine; it is always
// listed and cannot be removed.
const Local = "local"

const kEngine = store.PrefixEngines

// Engine is one Docker engine Tern knows.
type Engine struct {
	Name string `json:"name"`
	// Host is tcp://host:port for a remote engine; for the local one it
	// is what the environment names (empty: the default socket).
	Host string `json:"host"`
	// CertDir is the folder with ca.pem, cert.pem and key.pem.
	CertDir   string    `json:"certDir,omitempty"`
	Local     bool      `json:"local"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// Health is an engine's answer to a test.
type Health struct {
	Engine Engine `json:"engine"`
	OK     bool   `json:"ok"`
	// Error says in words why the engine did not answer (empty when OK).
	Error     string      `json:"error,omitempty"`
	Info      docker.Info `json:"info"`
	LatencyMs float64     `json:"latencyMs"`
	CheckedAt time.Time   `json:"checkedAt"`
}

// Service is the list of engines and their clients.
type Service struct {
	st        *store.Store
	local     *docker.Client
	localHost string

	mu      sync.Mutex
	clients map[string]*docker.Client // remote engines, made on first use
}

// New builds the service over the store; local is main.go's one client for
// the local engine (nil when none could be made) and localHost what it
// points at, for display.
func New(st *store.Store, local *docker.Client, localHost string) *Service {
	return &Service{st: st, local: local, localHost: localHost, clients: map[string]*docker.Client{}}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)

func key(name string) []byte { return store.Key(kEngine, []byte(name)) }

func (s *Service) localEngine() Engine {
	return Engine{Name: Local, Host: s.localHost, Local: true}
}

// List returns the local engine, then the remote ones by name.
func (s *Service) List() ([]Engine, error) {
	out := []Engine{s.localEngine()}
	err := s.st.DB.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, []byte{kEngine}, false, func(e Engine) error {
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot read the list of engines: %v", err)
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].Name < out[1+j].Name })
	return out, nil
}

// Get returns the engine called name ("" is the local one).
func (s *Service) Get(name string) (Engine, error) {
	if name == "" || name == Local {
		return s.localEngine(), nil
	}
	var e Engine
	err := s.st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, key(name), &e) })
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Engine{}, core.Errorf(core.NotFound, "There is no engine called %q; add it in Settings → Engines.", name)
	}
	if err != nil {
		return Engine{}, core.Wrap(err, core.Internal, "Cannot read engine %q: %v", name, err)
	}
	return e, nil
}

// Add stores a remote engine after checking its name, address and
// certificate folder (not its reachability: an engine may be added before
// it is started; Test says whether it answers).
func (s *Service) Add(e Engine) (Engine, error) {
	if !nameRE.MatchString(e.Name) {
		return Engine{}, core.Errorf(core.Invalid, "An engine's name is 1 to 40 letters, digits, dots, dashes or underscores, starting with a letter or digit (%q is not).", e.Name)
	}
	if e.Name == Local {
		return Engine{}, core.Errorf(core.Conflict, "%q is the name of this machine's engine; choose another.", Local)
	}
	if err := docker.CheckRemote(e.Host, e.CertDir); err != nil {
		return Engine{}, err
	}
	e.Local = false
	e.CreatedAt = time.Now().UTC()
	err := s.st.DB.Update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key(e.Name)); err == nil {
			return core.Errorf(core.Conflict, "There is already an engine called %q.", e.Name)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err := store.SetJSON(txn, key(e.Name), e); err != nil {
			return err
		}
		return audit.Append(txn, audit.Record{Action: "engine.add", Objects: []audit.Object{{Kind: "engine", ID: e.Name}}, After: e.Host})
	})
	if err != nil {
		if core.ErrorCode(err) == core.Conflict {
			return Engine{}, err
		}
		return Engine{}, core.Wrap(err, core.Internal, "Cannot store engine %q: %v", e.Name, err)
	}
	return e, nil
}

// Remove forgets a remote engine and closes its client. What runs there
// keeps running; Tern only stops reaching it.
func (s *Service) Remove(name string) error {
	if name == Local {
		return core.Errorf(core.Invalid, "This machine's engine cannot be removed.")
	}
	e, err := s.Get(name)
	if err != nil {
		return err
	}
	err = s.st.DB.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(key(name)); err != nil {
			return err
		}
		return audit.Append(txn, audit.Record{Action: "engine.remove", Objects: []audit.Object{{Kind: "engine", ID: name}}, Before: e.Host})
	})
	if err != nil {
		return core.Wrap(err, core.Internal, "Cannot remove engine %q: %v", name, err)
	}
	s.mu.Lock()
	c := s.clients[name]
	delete(s.clients, name)
	s.mu.Unlock()
	_ = c.Close()
	return nil
}

// Client returns the client for the engine called name ("" or "local":
// the local one). Clients are made once and kept.
func (s *Service) Client(name string) (*docker.Client, error) {
	if name == "" || name == Local {
		if s.local == nil {
			return nil, core.Errorf(core.Unavailable, "There is no Docker engine on this machine.")
		}
		return s.local, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[name]; c != nil {
		return c, nil
	}
	e, err := s.Get(name)
	if err != nil {
		return nil, err
	}
	c, err := docker.ConnectRemote(e.Name, e.Host, e.CertDir)
	if err != nil {
		return nil, err
	}
	s.clients[name] = c
	return c, nil
}

// Test asks the engine called name for its health: whether it answers
// (and if not, why, in words), how fast, and what it has.
func (s *Service) Test(ctx context.Context, name string) (Health, error) {
	e, err := s.Get(name)
	if err != nil {
		return Health{}, err
	}
	h := Health{Engine: e, CheckedAt: time.Now().UTC()}
	c, err := s.Client(name)
	if err != nil {
		h.Error = core.ErrorMessage(err)
		return h, nil
	}
	start := time.Now()
	if err := c.Ping(ctx); err != nil {
		h.Error = core.ErrorMessage(docker.Explain(e.Name, e.Host, err))
		return h, nil
	}
	h.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
	info, err := c.Info(ctx)
	if err != nil {
		h.Error = core.ErrorMessage(docker.Explain(e.Name, e.Host, err))
		return h, nil
	}
	h.OK, h.Info = true, info
	return h, nil
}

// Health tests every engine at once.
func (s *Service) Health(ctx context.Context) ([]Health, error) {
	list, err := s.List()
	if err != nil {
		return nil, err
	}
	out := make([]Health, len(list))
	var wg sync.WaitGroup
	for i, e := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := s.Test(ctx, e.Name)
			if err != nil {
				h = Health{Engine: e, Error: core.ErrorMessage(err), CheckedAt: time.Now().UTC()}
			}
			out[i] = h
		}()
	}
	wg.Wait()
	return out, nil
}

// Close closes the remote engines' clients (not the local one: main.go
// owns it).
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, c := range s.clients {
		_ = c.Close()
		delete(s.clients, n)
	}
}
