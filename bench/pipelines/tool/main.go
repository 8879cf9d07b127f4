// Command tool measures Tern's pipeline engine for bench/pipelines/run.sh:
// a chain of N steps, each running a no-op container (docker run --rm),
// timed as a whole and per container, then the same run again fully
// cached. It prints "ours overhead_ms=… cached_ms=… wall_ms=… container_ms=…".
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/pipeline"
	"github.com/tern-studio/tern/backend/store"
)

// containerStep runs the no-op image and adds the container's wall time.
type containerStep struct {
	image string
	mu    sync.Mutex
	total time.Duration
}

func (c *containerStep) Run(ctx context.Context, x *pipeline.Exec) (map[string]pipeline.Value, error) {
	t := time.Now()
	if out, err := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", c.image).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("docker run: %v: %s", err, out)
	}
	c.mu.Lock()
	c.total += time.Since(t)
	c.mu.Unlock()
	id := fmt.Sprintf("%s-%d", x.Step.ID, x.Int("n"))
	return map[string]pipeline.Value{"out": {Type: pipeline.Report, ID: id, Identity: id}}, nil
}

func main() {
	image := flag.String("image", "", "the no-op image")
	steps := flag.Int("steps", 10, "steps in the chain")
	data := flag.String("data", "", "data dir (fresh)")
	flag.Parse()
	st, err := store.Open(*data, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer st.Close()
	body := &containerStep{image: *image}
	types := pipeline.NewTypes()
	types.Register(pipeline.Def{Type: pipeline.StepType{Name: "container", Cacheable: true,
		Fields:  []pipeline.Field{{Name: "n", Kind: pipeline.KindInt}},
		Inputs:  []pipeline.Port{{Name: "after", Type: pipeline.AnyType, Optional: true}},
		Outputs: []pipeline.Port{{Name: "out", Type: pipeline.Report}}}, Exec: body})
	bus := core.NewBus()
	e := pipeline.New(pipeline.Config{Store: st, Bus: bus, Types: types, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	p := pipeline.Pipeline{Name: "bench"}
	for i := 1; i <= *steps; i++ {
		s := pipeline.Step{ID: fmt.Sprintf("s%d", i), Type: "container", Fields: map[string]any{"n": float64(i)}}
		if i > 1 {
			s.Inputs = map[string]string{"after": fmt.Sprintf("s%d.out", i-1)}
		}
		p.Steps = append(p.Steps, s)
	}
	if p, err = e.Save(p); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	events, unsub := bus.Subscribe(4096)
	defer unsub()
	// timeRun starts a run and waits for its final state on the bus, as
	// the UI learns of it.
	timeRun := func() (time.Duration, pipeline.RunDetail) {
		t := time.Now()
		r, err := e.Start(p.ID, pipeline.StartOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for ev := range events {
			if run, ok := ev.Data.(pipeline.Run); ok && run.ID == r.ID && run.State.Final() {
				break
			}
		}
		wall := time.Since(t)
		d, _ := e.GetRun(r.ID)
		if d.Run.State != pipeline.RunSucceeded {
			fmt.Fprintln(os.Stderr, "run", d.Run.State, d.Run.Error)
			os.Exit(1)
		}
		return wall, d
	}
	wall, _ := timeRun()
	containers := body.total
	cached, d := timeRun()
	for _, s := range d.Steps {
		if s.State != pipeline.StepCached {
			fmt.Fprintln(os.Stderr, "step", s.Step, "was not cached:", s.State)
			os.Exit(1)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("ours overhead_ms=%.2f cached_ms=%.2f wall_ms=%.1f container_ms=%.1f\n",
		ms(wall-containers)/float64(*steps), ms(cached), ms(wall), ms(containers))
}
