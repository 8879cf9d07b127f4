// Command firstmetric measures the time from Train (runner.Submit) to the
// first metric on the bus, with the runtime image already present, beside
// the time of a bare `docker run --rm` of the same image. It prints BENCH
// lines for bench/training/run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/docker"
	"github.com/tern-studio/tern/backend/runner"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

func main() {
	bin := flag.String("runtime", "", "path of the tern-runtime binary")
	repeat := flag.Int("repeat", 5, "measurements per side")
	flag.Parse()
	if err := run(*bin, *repeat); err != nil {
		fmt.Fprintln(os.Stderr, "firstmetric:", err)
		os.Exit(1)
	}
}

func run(bin string, repeat int) error {
	dir, err := os.MkdirTemp("", "tern-firstmetric")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, "data"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	bus := core.NewBus()
	trk, err := tracking.NewService(st, bus, filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	dc, err := docker.Connect("")
	if err != nil {
		return err
	}
	r, err := runner.New(runner.Config{Store: st, Bus: bus, Sink: runner.TrackingSink{Svc: trk}, DataDir: dir,
		AppVersion: "bench", Docker: dc, RuntimeBinary: func() (string, error) { return bin, nil }})
	if err != nil {
		return err
	}
	defer r.Close()
	data := filepath.Join(dir, "small.csv")
	csv := "a,b,y\n"
	for i := 0; i < 500; i++ {
		csv += fmt.Sprintf("%d,%d,%d\n", i%17, i%5, (i%17+i%5)%2)
	}
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		return err
	}
	spec := runner.JobSpec{DataPath: data, Params: []byte(`{"target":"y","max_iter":20}`)}
	events, stop := bus.Subscribe(10000)
	defer stop()

	once := func() (time.Duration, error) {
		start := time.Now()
		j, err := r.Submit(spec)
		if err != nil {
			return 0, err
		}
		var first time.Duration
		timeout := time.After(60 * time.Second)
		for first == 0 {
			select {
			case ev := <-events:
				if m, ok := ev.Data.(runner.MetricsEvent); ok && m.JobID == j.ID {
					first = time.Since(start)
				}
			case <-timeout:
				return 0, fmt.Errorf("no metric within 60 s")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		done, err := r.Wait(ctx, j.ID)
		if err != nil {
			return 0, err
		}
		if done.State != runner.Succeeded {
			return 0, fmt.Errorf("job %s: %s", done.State, done.Reason)
		}
		return first, nil
	}
	// Warm-up: builds the runtime image if needed (not measured).
	if _, err := once(); err != nil {
		return err
	}
	j, err := r.List()
	if err != nil || len(j) == 0 {
		return fmt.Errorf("no job recorded")
	}
	image := j[0].Image
	var ours, peer []float64
	for i := 0; i < repeat; i++ {
		d, err := once()
		if err != nil {
			return err
		}
		ours = append(ours, d.Seconds())
		start := time.Now()
		if out, err := exec.Command("docker", "run", "--rm", "--network", "none", image, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("docker run: %v: %s", err, out)
		}
		peer = append(peer, time.Since(start).Seconds())
	}
	o, p := median(ours), median(peer)
	fmt.Printf("spread first_metric ours=%v peer=%v\n", rounded(ours), rounded(peer))
	fmt.Printf("BENCH training_first_metric ours=%.3f peer=%.3f unit=s ratio=%.3f\n", o, p, o/p)
	fmt.Printf("BENCH training_first_metric_overhead ours=%.3f peer=- unit=s ratio=-\n", o-p)
	return nil
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rounded(x []float64) []string {
	out := make([]string, len(x))
	for i, v := range x {
		out[i] = fmt.Sprintf("%.3f", v)
	}
	return out
}
