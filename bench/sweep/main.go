// Command sweep-bench measures Tern's sweep engine for bench/sweep/run.sh.
//
//	sweep-bench -trials 40 -seeds 5 -overhead 200
//
// Search quality: the TPE sampler on a fixed objective (the same function,
// space and budget peer.py gives Optuna's TPESampler), one line per seed
// with the best score found. Overhead: a sweep of -overhead trials on the
// real Service, Badger store and tracking service, with a runner whose jobs
// finish the moment they are submitted (they log their objective and end),
// so the time per trial is the engine's own: sampling, saving the trial,
// creating and tagging the child run, settling it, the parent's metrics.
// Prints key=value lines.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/sweep"
	"github.com/tern-studio/tern/backend/tracking"
)

// space and score are peer.py's space and objective.
var space = sweep.Space{
	{Name: "x", Kind: sweep.Float, Low: -5, High: 5},
	{Name: "y", Kind: sweep.Float, Low: -5, High: 5},
	{Name: "lr", Kind: sweep.Float, Low: 1e-4, High: 1, Log: true},
	{Name: "leaves", Kind: sweep.Int, Low: 2, High: 256, Log: true},
	{Name: "mode", Kind: sweep.Categorical, Choices: []string{"a", "b", "c", "d"}},
}

// score is maximised: 1/(1+loss), loss 0 at x=1, y=-2, lr=0.01, leaves=32,
// mode=b, with a ridge between x and y.
func score(a sweep.Assignment) float64 {
	x, y := a["x"].(float64), a["y"].(float64)
	lr := math.Log10(a["lr"].(float64))
	leaves := math.Log2(a["leaves"].(float64))
	loss := (x-1)*(x-1) + 0.5*(x+y+1)*(x+y+1) + (lr+2)*(lr+2) + 0.3*(leaves-5)*(leaves-5)
	if a["mode"].(string) != "b" {
		loss += 1
	}
	return 1 / (1 + loss)
}

func main() {
	trials := flag.Int("trials", 40, "trials per seed")
	seeds := flag.Int("seeds", 5, "seeds 1..N")
	overhead := flag.Int("overhead", 200, "trials of the overhead sweep (0: skip)")
	flag.Parse()
	for seed := 1; seed <= *seeds; seed++ {
		s := sweep.NewTPE(uint64(seed))
		var done []sweep.Observation
		best := math.Inf(-1)
		for n := 0; n < *trials; n++ {
			a := s.Sample(space, done, n)
			v := score(a)
			done = append(done, sweep.Observation{Number: n, Values: a, Score: -v})
			best = math.Max(best, v)
		}
		fmt.Printf("tern_best seed=%d best=%.6f\n", seed, best)
	}
	if *overhead > 0 {
		ms, err := measureOverhead(*overhead)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sweep-bench:", err)
			os.Exit(1)
		}
		fmt.Printf("overhead_ms=%.3f trials=%d\n", ms, *overhead)
	}
}

// instant is a runner whose jobs end as they are submitted.
type instant struct {
	track *tracking.Service
	mu    sync.Mutex
	jobs  map[string]runner.Job
}

func (r *instant) Train(req runner.TrainRequest) (runner.Job, error) {
	run, err := r.track.CreateRun(tracking.RunSpec{ExperimentID: req.ExperimentID, Name: req.Name, Tags: req.Tags})
	if err != nil {
		return runner.Job{}, err
	}
	a := sweep.Assignment{}
	for _, p := range space {
		v := req.Params[p.Name]
		if i, ok := v.(int64); ok {
			v = float64(i)
		}
		a[p.Name] = v
	}
	if err := r.track.LogMetrics(run.ID, []tracking.Metric{{Key: "score", Value: tracking.Float(score(a))}}); err != nil {
		return runner.Job{}, err
	}
	if err := r.track.SetStatus(run.ID, tracking.StatusFinished, ""); err != nil {
		return runner.Job{}, err
	}
	j := runner.Job{ID: core.NewID(), RunID: run.ID, State: runner.Succeeded, Spec: runner.JobSpec{Tags: req.Tags}}
	r.mu.Lock()
	r.jobs[j.ID] = j
	r.mu.Unlock()
	return j, nil
}

func (r *instant) Get(id string) (runner.Job, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jobs[id], nil
}
func (r *instant) Wait(_ context.Context, id string) (runner.Job, error) { return r.Get(id) }
func (r *instant) Cancel(string) error                                   { return nil }
func (r *instant) List() ([]runner.Job, error)                           { return nil, nil }
func (r *instant) Capacity() runner.Capacity                             { return runner.Capacity{Slots: 1, CPUs: 1} }

func measureOverhead(n int) (float64, error) {
	dir, err := os.MkdirTemp("", "sweep-bench")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(dir, store.Options{GCInterval: -1})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	bus := core.NewBus()
	track, err := tracking.NewService(st, bus, dir)
	if err != nil {
		return 0, err
	}
	svc, err := sweep.New(sweep.Config{Store: st, Bus: bus, Runner: &instant{track: track, jobs: map[string]runner.Job{}}, Runs: track})
	if err != nil {
		return 0, err
	}
	defer svc.Close()
	spec := sweep.Spec{Name: "overhead", Train: runner.TrainRequest{DatasetVersionID: "v", Image: "own/image"}, Space: space,
		Sampler: sweep.SamplerTPE, Seed: 1, Objective: "score", Maximize: true, MaxTrials: n, Parallelism: 1}
	start := time.Now()
	sw, err := svc.Create(spec)
	if err != nil {
		return 0, err
	}
	sw, err = svc.Wait(context.Background(), sw.ID)
	if err != nil {
		return 0, err
	}
	el := time.Since(start)
	if sw.State != sweep.Finished || len(sw.Trials) != n {
		return 0, fmt.Errorf("the overhead sweep ended %s with %d trials: %s", sw.State, len(sw.Trials), sw.Reason)
	}
	return float64(el.Microseconds()) / 1000 / float64(n), nil
}
