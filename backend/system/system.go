// Package system reports on the machine Tern runs on, for the status bar:
// whether a Docker engine answers (and its version), where data lives and
// how much disk it takes.
package system

import (
	"context"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/diskspace"
)

// Status is what the status bar shows.
type Status struct {
	AppVersion    string `json:"appVersion"`
	Mode          string `json:"mode"` // "desktop" or "browser"
	DockerRunning bool   `json:"dockerRunning"`
	DockerVersion string `json:"dockerVersion,omitempty"`
	// DockerMessage is the sentence shown when the engine is not there.
	DockerMessage string `json:"dockerMessage,omitempty"`
	DataDir       string `json:"dataDir"`
	DataBytes     int64  `json:"dataBytes"`
	FreeBytes     int64  `json:"freeBytes"`
	// APIURL is where the HTTP face (and the MLflow-compatible API) answers.
	APIURL string `json:"apiUrl,omitempty"`
}

// DockerNotRunning is shown when no engine answers.
const DockerNotRunning = "Docker not running — jobs will run as local processes"

// Engine is the part of the Docker adapter (backend/docker) the status
// bar asks.
type Engine interface {
	Version(ctx context.Context) (string, error)
}

// Service answers Status, caching the slow parts (engine ping, disk walk)
// so a status bar that polls does not load the machine.
type Service struct {
	version string
	mode    string
	engine  Engine
	dataDir string
	apiURL  string
	ttl     time.Duration

	mu     sync.Mutex
	cached Status
	at     time.Time
}

// New makes the service; mode is "desktop" or "browser"; engine is the
// Docker engine to ask (nil: none).
func New(appVersion, mode, dataDir string, engine Engine) *Service {
	return &Service{version: appVersion, mode: mode, dataDir: dataDir, engine: engine, ttl: 5 * time.Second}
}

// SetAPIURL records where the HTTP face listens, once it does.
func (s *Service) SetAPIURL(u string) {
	s.mu.Lock()
	s.apiURL = u
	s.at = time.Time{}
	s.mu.Unlock()
}

// Status returns the current state, at most ttl old.
func (s *Service) Status(ctx context.Context) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.at) < s.ttl {
		return s.cached
	}
	st := Status{AppVersion: s.version, Mode: s.mode, DataDir: s.dataDir, APIURL: s.apiURL}
	if s.engine != nil {
		// A missing engine is normal: the adapter gives up quickly.
		v, err := s.engine.Version(ctx)
		st.DockerVersion, st.DockerRunning = v, err == nil
	}
	if !st.DockerRunning {
		st.DockerMessage = DockerNotRunning
	}
	st.DataBytes = diskspace.Allocated(s.dataDir)
	st.FreeBytes = diskspace.Free(s.dataDir)
	s.cached, s.at = st, time.Now()
	return st
}
