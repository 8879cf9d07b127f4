package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// fakeExec is a step executor for tests: it counts real executions (not
// resumes), can hold until released, and echoes its input's identity.
type fakeExec struct {
	out     PortType
	mu      sync.Mutex
	runs    map[string]int // by step key: executions that did the work
	resumed atomic.Int32
	hold    chan struct{} // when set, Run waits on it (or ctx)
	started chan string   // receives the step key when work starts
	fail    atomic.Bool
}

func newFake(out PortType) *fakeExec { return &fakeExec{out: out, runs: map[string]int{}} }

func (f *fakeExec) Run(ctx context.Context, x *Exec) (map[string]Value, error) {
	if x.Recall("work") == "" {
		f.mu.Lock()
		f.runs[x.Key()]++
		f.mu.Unlock()
		x.Remember("work", "started")
		x.Logf("working on %s", x.Step.ID)
	} else {
		f.resumed.Add(1)
	}
	if f.started != nil {
		f.started <- x.Key()
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail.Load() {
		return nil, core.Errorf(core.Invalid, "the fake step failed on purpose")
	}
	id := x.Step.ID
	for _, v := range x.Inputs {
		id += "<" + v.Identity
	}
	if s := x.String("value"); s != "" {
		id += "=" + s
	}
	if f.out == "" {
		return nil, nil
	}
	return map[string]Value{"out": {Type: f.out, ID: id, Label: id, Identity: id}}, nil
}

func (f *fakeExec) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[key]
}

func (f *fakeExec) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.runs {
		n += c
	}
	return n
}

// testTypes: src (a dataset version from a text field), work (dataset
// version → run), sink (anything → nothing).
func testTypes(src, work, sink *fakeExec) *Types {
	t := NewTypes()
	t.Register(Def{Type: StepType{Name: "src", Title: "Source", Category: "data", Cacheable: true,
		Fields:  []Field{{Name: "value", Kind: KindString, Required: true, Help: "what to emit"}, {Name: "mode", Kind: KindEnum, Options: []string{"a", "b"}, Default: "a"}},
		Outputs: []Port{{Name: "out", Type: DatasetVersion}}}, Exec: src})
	t.Register(Def{Type: StepType{Name: "work", Title: "Work", Category: "train", Cacheable: true,
		Fields: []Field{{Name: "n", Kind: KindInt, Default: 1.0}, {Name: "rate", Kind: KindFloat}, {Name: "on", Kind: KindBool},
			{Name: "params", Kind: KindObject}, {Name: "cols", Kind: KindList}},
		Inputs:  []Port{{Name: "in", Type: DatasetVersion}},
		Outputs: []Port{{Name: "out", Type: RunOutput}}}, Exec: work})
	t.Register(Def{Type: StepType{Name: "sink", Title: "Sink", Category: "notify", Cacheable: true,
		Fields: []Field{{Name: "msg", Kind: KindString}},
		Inputs: []Port{{Name: "after", Type: AnyType, Optional: true}}}, Exec: sink})
	return t
}

func chain() Pipeline {
	return Pipeline{Name: "chain", Steps: []Step{
		{ID: "a", Type: "src", Fields: map[string]any{"value": "v1"}},
		{ID: "b", Type: "work", Fields: map[string]any{"n": 3.0}, Inputs: map[string]string{"in": "a.out"}},
		{ID: "c", Type: "sink", Inputs: map[string]string{"after": "b.out"}},
	}}
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{GCInterval: -1})
	require.NoError(t, err)
	return st
}

// runEngine starts e.Run and returns a stop function that ends it and
// waits for it to return.
func runEngine(e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// waitRun polls until the run is final.
func waitRun(t *testing.T, e *Engine, id string) RunDetail {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d, err := e.GetRun(id)
		require.NoError(t, err)
		if d.Run.State.Final() {
			return d
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("run %s did not end", id)
	return RunDetail{}
}

func stepStates(d RunDetail) map[string]StepState {
	out := map[string]StepState{}
	for _, s := range d.Steps {
		out[s.Step] = s.State
	}
	return out
}
