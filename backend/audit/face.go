package audit

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Face is how a change reached Tern.
type Face string

const (
	// Window is the desktop window (bound calls over Wails).
	Window Face = "window"
	// Browser is a browser session (bound calls over HTTP, uploads).
	Browser Face = "browser"
	// MLflow is an MLflow client or script with Tern's access token.
	MLflow Face = "mlflow"
	// Job is a training job with its run's scoped token; Who is the run.
	Job Face = "job"
	// Pipeline is a pipeline run; Who is the pipeline run.
	Pipeline Face = "pipeline"
	// Tern is Tern itself: schedules, start-up recovery, job bookkeeping.
	Tern Face = "tern"
)

// Actor is who a record is attributed to: a face and, where one exists,
// which one of it (a run ID for a job, a pipeline run).
type Actor struct {
	Face Face   `json:"face"`
	Who  string `json:"who,omitempty"`
}

var (
	bound     sync.Map // goroutine id → Actor
	fallback  atomic.Value
	boundUsed atomic.Bool // skips the goroutine lookup until anything binds
)

func init() { fallback.Store(Actor{Face: Tern}) }

// SetDefault sets the actor of goroutines with nothing bound: main.go
// makes it the window on the desktop (Wails calls bound methods on
// goroutines Tern does not start) and Tern itself in serve mode.
func SetDefault(a Actor) { fallback.Store(a) }

// Bind attributes everything the calling goroutine changes to a until the
// returned release is called (defer it). The outermost binding wins: a
// request the HTTP gate bound to a browser session stays one even if the
// bound method it calls binds again.
func Bind(a Actor) (release func()) {
	id := goid()
	if _, ok := bound.LoadOrStore(id, a); ok {
		return func() {}
	}
	boundUsed.Store(true)
	return func() { bound.Delete(id) }
}

// Current is the actor bound to the calling goroutine, else the default.
func Current() Actor {
	if boundUsed.Load() {
		if a, ok := bound.Load(goid()); ok {
			return a.(Actor)
		}
	}
	return fallback.Load().(Actor)
}

// goid is the calling goroutine's id, read from the first line of its
// stack ("goroutine 42 [running]:"). Go hides the id on purpose; it is
// used here only as a map key for the length of one call, never to
// signal or steer goroutines (see the package comment for why).
func goid() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	var id uint64
	for _, c := range buf[len("goroutine "):n] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
