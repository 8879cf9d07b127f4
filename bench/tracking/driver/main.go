// Command driver is the load generator of bench/tracking/run.sh. It speaks
// only the MLflow REST API, so the very same requests go to Tern and to
// `mlflow server`. "serve" starts Tern's tracking HTTP face (the same
// httpapi server and MLflow routes the app uses) on a data dir.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
	"github.com/tern-studio/tern/backend/mlflowapi"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

var (
	base  string
	token string
	hc    = &http.Client{Timeout: 10 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: driver serve|ingest|populate|list|history [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.StringVar(&base, "url", "http://127.0.0.1:5000", "server base URL")
	fs.StringVar(&token, "token", "", "bearer token")
	data := fs.String("data", "", "serve: data dir")
	addr := fs.String("addr", "127.0.0.1:0", "serve: listen address")
	clients := fs.Int("clients", 20, "ingest: concurrent clients")
	batch := fs.Int("batch", 500, "ingest: points per log-batch")
	seconds := fs.Float64("seconds", 15, "ingest: duration")
	runs := fs.Int("runs", 1500, "populate: runs")
	metrics := fs.Int("metrics", 100, "populate: metrics per run")
	points := fs.Int("points", 100_000, "history: points in the series")
	repeat := fs.Int("repeat", 10, "list/history: repetitions")
	exp := fs.String("exp", "", "list: experiment id")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*data, *addr)
	case "ingest":
		err = ingest(*clients, *batch, time.Duration(*seconds*float64(time.Second)))
	case "populate":
		err = populate(*runs, *metrics)
	case "list":
		err = list(*exp, *repeat)
	case "history":
		err = history(*points, *repeat)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

func serve(data, addr string) error {
	st, err := store.Open(data, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer st.Close()
	bus := core.NewBus()
	svc, err := tracking.NewService(st, bus, data)
	if err != nil {
		return err
	}
	srv, err := httpapi.New(httpapi.Config{Token: token, Bus: bus, Routes: mlflowapi.New(svc, nil).Routes(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("LISTEN", ln.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, os.Kill)
	defer stop()
	hs := &http.Server{Handler: srv}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func call(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw[:min(len(raw), 300)])))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func createExperiment(name string) (string, error) {
	var out struct {
		ID string `json:"experiment_id"`
	}
	err := call("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": name}, &out)
	return out.ID, err
}

func createRun(exp string) (string, error) {
	var out struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	err := call("POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp, "start_time": time.Now().UnixMilli()}, &out)
	return out.Run.Info.RunID, err
}

type metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// ingest: each client owns a run and sends log-batch calls of `batch`
// points (5 metric keys × batch/5 steps) for d; only acknowledged points
// count.
func ingest(clients, batch int, d time.Duration) error {
	exp, err := createExperiment(fmt.Sprintf("bench-ingest-%d", time.Now().UnixNano()))
	if err != nil {
		return err
	}
	runIDs := make([]string, clients)
	for i := range runIDs {
		if runIDs[i], err = createRun(exp); err != nil {
			return err
		}
	}
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			step := int64(0)
			now := time.Now().UnixMilli()
			buf := make([]byte, 0, batch*80)
			for time.Now().Before(deadline) {
				// the body is built by hand: the client's own JSON cost is
				// not what is measured, and it shares the CPU with the server
				buf = append(buf[:0], `{"run_id":"`...)
				buf = append(buf, runIDs[c]...)
				buf = append(buf, `","metrics":[`...)
				for i := 0; i < batch; i++ {
					if i > 0 {
						buf = append(buf, ',')
					}
					buf = append(buf, `{"key":"m`...)
					buf = strconv.AppendInt(buf, int64(i%5), 10)
					buf = append(buf, `","value":`...)
					buf = strconv.AppendFloat(buf, float64(step)*0.001, 'g', -1, 64)
					buf = append(buf, `,"timestamp":`...)
					buf = strconv.AppendInt(buf, now, 10)
					buf = append(buf, `,"step":`...)
					buf = strconv.AppendInt(buf, step, 10)
					buf = append(buf, '}')
					if i%5 == 4 {
						step++
					}
				}
				buf = append(buf, "]}"...)
				if err := call("POST", "/api/2.0/mlflow/runs/log-batch", json.RawMessage(buf), nil); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				acked.Add(int64(batch))
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("RESULT ingest_points=%d seconds=%.2f points_per_s=%.0f failed_batches=%d\n", acked.Load(), el, float64(acked.Load())/el, failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "first error:", e)
	}
	return nil
}

// populate: an experiment of `runs` runs, each with `metrics` metrics
// (one value each) and a few params and tags, logged by 8 writers.
func populate(runs, metrics int) error {
	exp, err := createExperiment(fmt.Sprintf("bench-list-%d", time.Now().UnixNano()))
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	var ferr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id, err := createRun(exp)
				if err != nil {
					ferr.CompareAndSwap(nil, err)
					continue
				}
				ms := make([]metric, metrics)
				for k := range ms {
					ms[k] = metric{Key: fmt.Sprintf("metric_%03d", k), Value: float64(i*metrics+k) / 1e5, Timestamp: time.Now().UnixMilli(), Step: 1}
				}
				params := []map[string]string{{"key": "model", "value": []string{"gbdt", "linear", "mlp"}[i%3]}, {"key": "lr", "value": fmt.Sprint(0.001 * float64(1+i%10))}}
				tags := []map[string]string{{"key": "team", "value": []string{"risk", "growth"}[i%2]}}
				if err := call("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": id, "metrics": ms, "params": params, "tags": tags}, nil); err != nil {
					ferr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := 0; i < runs; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if e := ferr.Load(); e != nil {
		return e.(error)
	}
	fmt.Printf("RESULT exp=%s populate_seconds=%.1f\n", exp, time.Since(start).Seconds())
	return nil
}

// list: the runs table's read — every run of the experiment with its
// latest metrics, params and tags, newest first, paged at 1000 — timed
// end to end per full listing.
func list(exp string, repeat int) error {
	var times []float64
	n := 0
	for r := 0; r < repeat; r++ {
		t0 := time.Now()
		tok := ""
		n = 0
		for {
			var out struct {
				Runs []json.RawMessage `json:"runs"`
				Next string            `json:"next_page_token"`
			}
			body := map[string]any{"experiment_ids": []string{exp}, "max_results": 1000, "order_by": []string{"attributes.start_time DESC"}}
			if tok != "" {
				body["page_token"] = tok
			}
			if err := retry(func() error { return call("POST", "/api/2.0/mlflow/runs/search", body, &out) }); err != nil {
				return err
			}
			n += len(out.Runs)
			if tok = out.Next; tok == "" {
				break
			}
		}
		times = append(times, time.Since(t0).Seconds()*1000)
	}
	p50, p95 := pct(times, 50), pct(times, 95)
	fmt.Printf("RESULT runs=%d list_p50_ms=%.1f list_p95_ms=%.1f\n", n, p50, p95)
	return nil
}

// history: one run with a `points`-point series, then full get-history and
// the downsample to 1000 points (MLflow's get-history-bulk-interval, the
// call its own UI charts with).
func history(points, repeat int) error {
	exp, err := createExperiment(fmt.Sprintf("bench-history-%d", time.Now().UnixNano()))
	if err != nil {
		return err
	}
	id, err := createRun(exp)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for s := 0; s < points; s += 1000 {
		ms := make([]metric, 0, 1000)
		for i := s; i < min(s+1000, points); i++ {
			ms = append(ms, metric{Key: "loss", Value: 1 / float64(i+1), Timestamp: now + int64(i), Step: int64(i)})
		}
		if err := call("POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": id, "metrics": ms}, nil); err != nil {
			return err
		}
	}
	var full, sampled []float64
	got, gotS := 0, 0
	for r := 0; r < repeat; r++ {
		t0 := time.Now()
		var out struct {
			Metrics []json.RawMessage `json:"metrics"`
		}
		if err := retry(func() error {
			return call("GET", "/api/2.0/mlflow/metrics/get-history?run_id="+id+"&metric_key=loss", nil, &out)
		}); err != nil {
			return err
		}
		full = append(full, time.Since(t0).Seconds()*1000)
		got = len(out.Metrics)
		t0 = time.Now()
		if err := retry(func() error {
			return call("GET", "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids="+id+"&metric_key=loss&max_results=1000", nil, &out)
		}); err != nil {
			return err
		}
		sampled = append(sampled, time.Since(t0).Seconds()*1000)
		gotS = len(out.Metrics)
	}
	fmt.Printf("RESULT history_points=%d history_p50_ms=%.1f sample_points=%d sample_p50_ms=%.1f\n", got, pct(full, 50), gotS, pct(sampled, 50))
	return nil
}

// retry runs a read up to three times; failures are reported on stderr
// (a server that drops requests under load is worth knowing about).
func retry(fn func() error) error {
	var err error
	for i := 0; i < 3; i++ {
		if err = fn(); err == nil {
			return nil
		}
		fmt.Fprintln(os.Stderr, "retrying after:", err)
	}
	return err
}

func pct(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(float64(len(s)-1)*p/100 + 0.5)
	return s[i]
}
