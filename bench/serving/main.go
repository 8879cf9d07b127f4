// Command servebench drives bench/serving/run.sh.
//
//	servebench harness -runtime BIN -model DIR -port-direct P -port-router Q -port-admin R
//	    starts `tern-runtime serve` on P (the direct path, what a serving
//	    container runs), Tern's router on Q in front of it with the prediction
//	    log writing to a real Badger store, and on R an admin endpoint:
//	    GET /stats -> {"written":…, "dropped":…}, POST /flush waits for the log.
//	servebench load -url URL -body FILE -ct TYPE -c N (-d DUR | -rate R -d DUR)
//	    closed loop with N connections, or open loop at R requests/s; prints
//	    one JSON line: rps, p50/p90/p99 in ms, errors.
//	servebench logonly -rate R -d DUR
//	    the prediction log alone: R records/s (the size of a real exchange)
//	    enqueued on schedule into a Badger store; prints written and dropped.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: servebench harness|load [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "harness":
		harness(os.Args[2:])
	case "load":
		load(os.Args[2:])
	case "logonly":
		logOnly(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: servebench harness|load [flags]")
		os.Exit(2)
	}
}

func harness(args []string) {
	fs := flag.NewFlagSet("harness", flag.ExitOnError)
	bin := fs.String("runtime", "", "tern-runtime binary")
	model := fs.String("model", "", "model directory")
	pd := fs.Int("port-direct", 18601, "")
	pr := fs.Int("port-router", 18602, "")
	pa := fs.Int("port-admin", 18603, "")
	dataDir := fs.String("data", "", "store directory (temp when empty)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the router process here")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cmd := exec.CommandContext(ctx, *bin, "serve", "-model", *model, "-addr", "127.0.0.1:"+strconv.Itoa(*pd), "-name", "bench")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	defer cmd.Process.Kill()
	direct := "http://127.0.0.1:" + strconv.Itoa(*pd)
	for i := 0; ; i++ {
		if resp, err := http.Get(direct + "/ping"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 200 {
			fatal(fmt.Errorf("tern-runtime serve did not come up"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, closeStore := openStore(*dataDir, "servebench-*")
	defer closeStore()
	plog := predlog.New(st, predlog.Options{})
	r, err := router.New("bench", []router.Backend{{ID: "v1", URL: direct}}, router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}}, router.Options{Log: plog})
	if err != nil {
		fatal(err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*pr))
	if err != nil {
		fatal(err)
	}
	go (&http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}).Serve(ln)

	admin := http.NewServeMux()
	admin.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		written, dropped := plog.Counts()
		n, _ := predlog.Count(st, "bench")
		json.NewEncoder(w).Encode(map[string]any{"written": written, "dropped": dropped, "stored": n})
	})
	aln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*pa))
	if err != nil {
		fatal(err)
	}
	go http.Serve(aln, admin)
	fmt.Println(`{"ready":true}`)
	<-ctx.Done()
	plog.Close()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "servebench:", err)
	os.Exit(1)
}

type result struct {
	Requests int   `json:"requests"`
	Errors   int64 `json:"errors"`
	// Skipped counts open-loop requests not issued because every worker
	// was still waiting: the server could not keep up with the rate.
	Skipped int64   `json:"skipped"`
	Seconds float64 `json:"seconds"`
	RPS     float64 `json:"rps"`
	P50     float64 `json:"p50_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "")
	bodyFile := fs.String("body", "", "")
	ct := fs.String("ct", "application/json", "")
	conc := fs.Int("c", 10, "connections (closed loop) or workers (open loop)")
	dur := fs.Duration("d", 10*time.Second, "")
	rate := fs.Int("rate", 0, "requests per second (open loop); 0 = closed loop")
	warm := fs.Duration("warmup", time.Second, "")
	fs.Parse(args)
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var errs, skipped atomic.Int64
	do := func() time.Duration {
		start := time.Now()
		resp, err := client.Post(*url, *ct, bytes.NewReader(body))
		if err != nil {
			errs.Add(1)
			return time.Since(start)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			errs.Add(1)
		}
		return time.Since(start)
	}
	// Warm up connections and caches; not measured.
	wend := time.Now().Add(*warm)
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(wend) {
				do()
			}
		}()
	}
	wg.Wait()
	errs.Store(0)

	lat := make([][]time.Duration, *conc)
	start := time.Now()
	end := start.Add(*dur)
	if *rate == 0 {
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for time.Now().Before(end) {
					lat[i] = append(lat[i], do())
				}
			}(i)
		}
	} else {
		// Open loop: requests are issued on schedule whether or not earlier
		// ones finished, so a stall shows up as latency, not as fewer requests.
		jobs := make(chan struct{}, *rate)
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for range jobs {
					lat[i] = append(lat[i], do())
				}
			}(i)
		}
		interval := time.Second / time.Duration(*rate)
		next := start
		for next.Before(end) {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			// Catch up in bursts when the sleep overshot.
			for !next.After(time.Now()) && next.Before(end) {
				select {
				case jobs <- struct{}{}:
				default:
					skipped.Add(1) // the workers cannot keep up
				}
				next = next.Add(interval)
			}
		}
		close(jobs)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	res := result{Requests: len(all), Errors: errs.Load(), Skipped: skipped.Load(), Seconds: elapsed, RPS: float64(len(all)) / elapsed, P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: q(1)}
	json.NewEncoder(os.Stdout).Encode(res)
}

func logOnly(args []string) {
	fs := flag.NewFlagSet("logonly", flag.ExitOnError)
	rate := fs.Int("rate", 5000, "")
	dur := fs.Duration("d", 60*time.Second, "")
	fs.Parse(args)
	st, closeStore := openStore("", "servebench-log-*")
	defer closeStore()
	plog := predlog.New(st, predlog.Options{})
	req := []byte(`{"dataframe_split":{"columns":["f0","f1","f2","f3","f4","f5","f6","f7","f8","f9"],"data":[[0.304717,-1.039984,0.750451,0.940565,-1.951035,-1.30218,0.12784,-0.316243,-0.016801,-0.853044]]}}`)
	resp := []byte(`{"predictions":[0.9962592124938965]}`)
	start := time.Now()
	interval := time.Second / time.Duration(*rate)
	next := start
	sent := 0
	for time.Since(start) < *dur {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		for !next.After(time.Now()) {
			plog.Enqueue(predlog.Record{Deployment: "bench", Backend: "v1", Time: time.Now().UnixNano(), LatencyMicros: 400, Status: 200, Path: "/invocations",
				Request: append([]byte(nil), req...), Response: append([]byte(nil), resp...)})
			sent++
			next = next.Add(interval)
		}
	}
	elapsed := time.Since(start).Seconds()
	plog.Close()
	written, dropped := plog.Counts()
	n, _ := predlog.Count(st, "bench")
	json.NewEncoder(os.Stdout).Encode(map[string]any{"sent": sent, "rate": float64(sent) / elapsed, "written": written, "dropped": dropped, "stored": n})
}

// openStore opens the store in dir, or in a new temporary directory named
// after pattern that the returned func removes with the store.
func openStore(dir, pattern string) (*store.Store, func()) {
	remove := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", pattern)
		if err != nil {
			fatal(err)
		}
		dir, remove = tmp, func() { os.RemoveAll(tmp) }
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		remove()
		fatal(err)
	}
	return st, func() { st.Close(); remove() }
}
