// Command governancebench measures what the audit trail and encryption at
// rest cost, each against the same work without it, in one process on
// fresh data folders (bench/governance/run.sh prints its BENCH lines):
//
//	audit_overhead_ingest          tracking log-batch ingest, trail on vs off
//	audit_overhead_import          dataset import + profile, trail on vs off
//	encryption_overhead_ingest     the ingest, encrypted data folder vs plain
//	encryption_overhead_import     the import, encrypted vs plain
//	encryption_overhead_serving_p99 p99 latency through Tern's router with
//	                               the prediction log in an encrypted store
//	                               vs a plain one
//
// "Trail off" is audit.SetOffForBenchmark: the only way to get the
// unaudited figure, since Tern itself always audits. Encrypted means what
// an encrypted data folder runs with: Badger's own encryption for the
// store and sealed, HMAC-named blob files (blob.OpenEncrypted). Each pair
// runs REPEAT rounds, alternating, and reports the medians.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/router"
	"github.com/tern-studio/tern/backend/store"
	"github.com/tern-studio/tern/backend/tracking"
)

var (
	outDir   = flag.String("out", "bench/out/governance", "scratch folder")
	repeat   = flag.Int("repeat", 3, "rounds per pair")
	csvBytes = flag.Int("csv-bytes", 64<<20, "size of the imported CSV")
	batches  = flag.Int("batches", 4000, "500-point log-batch calls per ingest round")
	clients  = flag.Int("clients", 8, "concurrent ingest and serving clients")
	serveFor = flag.Duration("serve", 8*time.Second, "serving load per round")
)

// setup is one way of running Tern: audited or not, encrypted or not.
type setup struct {
	name      string
	audited   bool
	encrypted bool
}

// env is a fresh data folder opened the way a setup says.
type env struct {
	dir   string
	st    *store.Store
	blobs *blob.Store
	trail *audit.Log
}

func open(s setup, round int) *env {
	dir := filepath.Join(*outDir, fmt.Sprintf("%s-%d", s.name, round))
	must(os.RemoveAll(dir))
	must(os.MkdirAll(dir, 0o700))
	audit.SetOffForBenchmark(!s.audited)
	var opt store.Options
	var enc blob.Encryption
	if s.encrypted {
		opt.EncryptionKey = randomKey()
		enc = blob.Encryption{Files: randomKey(), Names: randomKey()}
	}
	st, err := store.Open(dir, opt)
	must(err)
	e := &env{dir: dir, st: st}
	if s.audited {
		e.trail, err = audit.Open(st) // the sealer chains records as in Tern
		must(err)
	}
	e.blobs, err = blob.OpenEncrypted(filepath.Join(dir, "blobs"), st, enc)
	must(err)
	return e
}

func (e *env) close() {
	if e.trail != nil {
		must(e.trail.Close())
	}
	must(e.st.Close())
	must(os.RemoveAll(e.dir))
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	must(err)
	return k
}

// ingest logs batches of 500 metric points from clients at once, as the
// MLflow client's log_batch does; seconds.
func ingest(s setup, round int) float64 {
	e := open(s, round)
	defer e.close()
	svc, err := tracking.NewService(e.st, nil, e.dir)
	must(err)
	exp, err := svc.CreateExperiment("bench", nil)
	must(err)
	runs := make([]string, *clients)
	for i := range runs {
		r, err := svc.CreateRun(tracking.RunSpec{ExperimentID: exp.ID, Name: fmt.Sprintf("client-%d", i)})
		must(err)
		runs[i] = r.ID
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := c; b < *batches; b += *clients {
				batch := tracking.Batch{Metrics: make([]tracking.Metric, 500)}
				for i := range batch.Metrics {
					step := int64(b*500 + i)
					batch.Metrics[i] = tracking.Metric{Key: fmt.Sprintf("m%d", i%10), Value: tracking.Float(math.Sin(float64(step))), Timestamp: 1_700_000_000_000 + step, Step: step}
				}
				must(svc.LogBatch(runs[c], batch))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start).Seconds()
	svc.Stop()
	return took
}

// importCSV imports and profiles the generated CSV as a new dataset; seconds.
func importCSV(s setup, round int, csv string) float64 {
	e := open(s, round)
	defer e.close()
	svc := dataset.NewService(e.st, e.blobs, nil, e.dir)
	start := time.Now()
	_, err := svc.ImportPath(context.Background(), csv, dataset.Options{Name: "bench"})
	must(err)
	return time.Since(start).Seconds()
}

// serveP99 drives Tern's router (its prediction log writing to the
// setup's store) in front of a model that answers at once, from clients
// in a closed loop; the p99 latency in milliseconds.
func serveP99(s setup, round int) float64 {
	e := open(s, round)
	defer e.close()
	model := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"predictions":[0.8123,0.1877]}`)
	})}
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() { _ = model.Serve(ml) }()
	defer model.Close()
	plog := predlog.New(e.st, predlog.Options{})
	rt, err := router.New("bench", []router.Backend{{ID: "v1", URL: "http://" + ml.Addr().String()}},
		router.Traffic{Split: []router.Split{{Backend: "v1", Weight: 100}}}, router.Options{Log: plog, HealthInterval: -1})
	must(err)
	rt.MarkHealthy("v1", true)
	front := &http.Server{Handler: rt}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go func() { _ = front.Serve(fl) }()
	defer front.Close()
	defer rt.Close()
	defer plog.Close()

	body := []byte(`{"dataframe_split":{"columns":["a","b","c","d","e","f"],"data":[[` + strings.Repeat("0.5,", 5) + `0.5]]}}`)
	url := "http://" + fl.Addr().String() + "/invocations"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	var mu sync.Mutex
	var lat []float64
	end := time.Now().Add(*serveFor)
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for time.Now().Before(end) {
				t := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				must(err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					log.Fatalf("router answered %d", resp.StatusCode)
				}
				mine = append(mine, float64(time.Since(t).Microseconds())/1000)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Float64s(lat)
	written, dropped := plog.Counts()
	fmt.Fprintf(os.Stderr, "  %s: %d requests, log written %d dropped %d\n", s.name, len(lat), written, dropped)
	return lat[int(0.99*float64(len(lat)-1))]
}

// pair runs peer and ours alternately and prints the BENCH line.
func pair(name, unit string, peer, ours setup, f func(setup, int) float64) {
	var p, o []float64
	for i := range *repeat {
		p = append(p, f(peer, i))
		o = append(o, f(ours, i))
		fmt.Fprintf(os.Stderr, "%s round %d: %s %.3f, %s %.3f %s\n", name, i+1, peer.name, p[i], ours.name, o[i], unit)
	}
	mp, mo := median(p), median(o)
	fmt.Printf("BENCH %s ours=%.3f peer=%.3f unit=%s ratio=%.3f spread_ours=%s spread_peer=%s\n", name, mo, mp, unit, mo/mp, spread(o), spread(p))
}

func median(x []float64) float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func spread(x []float64) string {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	return fmt.Sprintf("%.3f..%.3f", s[0], s[len(s)-1])
}

// writeCSV writes a numeric CSV of about n bytes: an id, eight floats and
// a category, the shape of a tabular training set.
func writeCSV(path string, n int) {
	if st, err := os.Stat(path); err == nil && st.Size() >= int64(n) {
		return
	}
	f, err := os.Create(path)
	must(err)
	var b strings.Builder
	b.WriteString("id,f0,f1,f2,f3,f4,f5,f6,f7,kind\n")
	kinds := []string{"red", "green", "blue", "amber"}
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d", i)
		for j := range 8 {
			fmt.Fprintf(&b, ",%.5f", math.Sin(float64(i*8+j)))
		}
		fmt.Fprintf(&b, ",%s\n", kinds[i%4])
	}
	_, err = f.WriteString(b.String())
	must(err)
	must(f.Close())
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func main() {
	flag.Parse()
	must(os.MkdirAll(*outDir, 0o700))
	csv := filepath.Join(*outDir, fmt.Sprintf("table-%d.csv", *csvBytes))
	writeCSV(csv, *csvBytes)
	importOf := func(s setup, round int) float64 { return importCSV(s, round, csv) }

	plain := setup{name: "plain", audited: true}
	unaudited := setup{name: "unaudited"}
	encrypted := setup{name: "encrypted", audited: true, encrypted: true}
	pair("audit_overhead_ingest", "s", unaudited, plain, ingest)
	pair("audit_overhead_import", "s", unaudited, plain, importOf)
	pair("encryption_overhead_ingest", "s", plain, encrypted, ingest)
	pair("encryption_overhead_import", "s", plain, encrypted, importOf)
	pair("encryption_overhead_serving_p99", "ms", plain, encrypted, serveP99)
}
