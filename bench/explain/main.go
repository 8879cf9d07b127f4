// Command explain-bench times Tern's TreeSHAP for bench/explain/run.sh.
//
//	explain-bench -dir DIR -threads T -repeat R
//
// reads DIR/xgb_500x6.json, DIR/xgb_100x6.json and DIR/x.bin (float64 rows ×
// 30, row-major), times Ensemble.SHAP of all rows with the 500-tree model on
// T goroutines (median of R), checks the values against shap's (DIR/shap.bin,
// when present), and times one-row explanations with the 100-tree model
// (p50/p99 over every row, one goroutine). Prints key=value lines.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/tern-studio/tern/backend/explain"
	"github.com/tern-studio/tern/backend/gbdt"
)

func main() {
	dir := flag.String("dir", ".", "directory with the models and rows")
	threads := flag.Int("threads", 1, "goroutines")
	repeat := flag.Int("repeat", 3, "repetitions")
	flag.Parse()
	if err := run(*dir, *threads, *repeat); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// cpuSeconds is the process's user+system CPU time: on a shared machine it
// moves far less with others' load than wall time does.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func readFloats(path string) ([]float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return out, nil
}

func ensemble(path string) (*explain.Ensemble, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := gbdt.Read(b)
	if err != nil {
		return nil, err
	}
	return m.Ensemble()
}

func run(dir string, threads, repeat int) error {
	X, err := readFloats(filepath.Join(dir, "x.bin"))
	if err != nil {
		return err
	}
	big, err := ensemble(filepath.Join(dir, "xgb_500x6.json"))
	if err != nil {
		return err
	}
	p := big.Features
	n := len(X) / p
	var times, cpus []float64
	var ex *explain.Explanation
	for i := 0; i < repeat; i++ {
		t0, c0 := time.Now(), cpuSeconds()
		ex, err = big.SHAP(context.Background(), X, n, threads)
		if err != nil {
			return err
		}
		times = append(times, time.Since(t0).Seconds())
		cpus = append(cpus, cpuSeconds()-c0)
	}
	slices.Sort(times)
	slices.Sort(cpus)
	fmt.Printf("tern_s=%.4f tern_cpu_s=%.4f rows=%d trees=%d threads=%d\n", times[len(times)/2], cpus[len(cpus)/2], n, len(big.Trees), threads)
	if ref, err := readFloats(filepath.Join(dir, "shap.bin")); err == nil && len(ref) == len(ex.Values) {
		worst := 0.0
		for i, v := range ex.Values {
			worst = math.Max(worst, math.Abs(v-ref[i]))
		}
		fmt.Printf("max_abs_diff_vs_shap=%.3g\n", worst)
	}
	small, err := ensemble(filepath.Join(dir, "xgb_100x6.json"))
	if err != nil {
		return err
	}
	lat := make([]float64, 0, n)
	for r := 0; r < n; r++ {
		t0 := time.Now()
		if _, err := small.SHAP(context.Background(), X[r*p:(r+1)*p], 1, 1); err != nil {
			return err
		}
		lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	slices.Sort(lat)
	fmt.Printf("row_p50_ms=%.4f row_p99_ms=%.4f trees=%d\n", lat[len(lat)/2], lat[len(lat)*99/100], len(small.Trees))
	return nil
}
