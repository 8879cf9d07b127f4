// Command drift-bench times Tern's drift engine for bench/drift/run.sh.
//
//	gen     -rows N -cols C -shift S -drifted K -seed X -out FILE   write a float64 matrix
//	compare -ref FILE -cur FILE -test T -repeat R                   raw vs raw, both kept exactly
//	window  -refrows N -currows M -cols C -repeat R                 frozen profile vs window
//
// Matrices are little-endian: int64 rows, int64 cols, then cols×rows
// float64 column-major — numpy reads them with np.fromfile.
package main

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/tern-studio/tern/backend/drift"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: drift-bench gen|compare|window [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	rows := fs.Int("rows", 356000, "rows")
	cols := fs.Int("cols", 100, "columns")
	shift := fs.Float64("shift", 0, "mean shift (in sd) of drifted columns")
	drifted := fs.Int("drifted", 0, "how many columns are shifted")
	seed := fs.Uint64("seed", 1, "seed")
	out := fs.String("out", "", "output file")
	ref := fs.String("ref", "", "reference matrix")
	cur := fs.String("cur", "", "current matrix")
	test := fs.String("test", "", "force a test (ks, wasserstein, …); empty = automatic")
	repeat := fs.Int("repeat", 3, "timed repetitions")
	refRows := fs.Int("refrows", 1000000, "reference rows (window mode)")
	curRows := fs.Int("currows", 100000, "window rows (window mode)")
	stats := fs.String("stats", "", "write per-column statistics (JSON) here")
	_ = fs.Parse(os.Args[2:])

	switch os.Args[1] {
	case "gen":
		m := gen(*rows, *cols, *shift, *drifted, *seed)
		must(write(*out, m))
	case "compare":
		r, err := read(*ref)
		must(err)
		c, err := read(*cur)
		must(err)
		opt := options(len(r), *test)
		var res *drift.Result
		times := timeIt(*repeat, func() {
			res, err = drift.CompareColumns(r, c, opt)
			must(err)
		})
		report("compare", times, res)
		if *stats != "" {
			dump(*stats, res)
		}
	case "window":
		r := gen(*refRows, *cols, 0, 0, 11)
		t0 := time.Now()
		prof := drift.BuildProfile(r, drift.ProfileOptions{})
		build := time.Since(t0)
		r = nil // the raw reference is not needed any more: only the profile is
		w := gen(*curRows, *cols, 0.3, *cols/3, 12)
		opt := options(*cols, *test)
		var res *drift.Result
		times := timeIt(*repeat, func() {
			var err error
			res, err = drift.CompareWindow(prof, w, opt)
			must(err)
		})
		pj, _ := json.Marshal(prof)
		fmt.Printf("profile_build_s=%.3f profile_bytes=%d\n", build.Seconds(), len(pj))
		report("window", times, res)
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}

func options(cols int, test string) drift.Options {
	opt := drift.Options{Columns: map[string]drift.ColumnOptions{}}
	if test != "" {
		for i := 0; i < cols; i++ {
			opt.Columns[fmt.Sprintf("c%d", i)] = drift.ColumnOptions{Test: drift.Test(test)}
		}
	}
	return opt
}

// cpuSeconds is the user+system CPU time this process has used: unlike
// wall time it hardly moves when other work shares the machine.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

var lastCPU float64 // CPU seconds per run of the last timeIt

func timeIt(n int, fn func()) []float64 {
	var t []float64
	c0 := cpuSeconds()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		fn()
		t = append(t, time.Since(t0).Seconds())
	}
	lastCPU = (cpuSeconds() - c0) / float64(n)
	return t
}

func report(what string, t []float64, res *drift.Result) {
	s := slices.Clone(t)
	slices.Sort(s)
	fmt.Printf("%s_median_s=%.4f min_s=%.4f max_s=%.4f cpu_s=%.3f runs=%d drifted=%d/%d\n",
		what, s[len(s)/2], s[0], s[len(s)-1], lastCPU, len(s), res.Drifted, res.Evaluated)
}

func dump(path string, res *drift.Result) {
	type row struct {
		Column    string  `json:"column"`
		Test      string  `json:"test"`
		Statistic float64 `json:"statistic"`
		PValue    float64 `json:"pvalue"`
	}
	var rows []row
	for _, v := range res.Columns {
		p := float64(v.PValue)
		if math.IsNaN(p) {
			p = -1
		}
		rows = append(rows, row{v.Column, string(v.Test), float64(v.Statistic), p})
	}
	b, _ := json.Marshal(rows)
	must(os.WriteFile(path, b, 0o644))
}

// gen makes cols normal columns; the first `drifted` get a mean shift.
func gen(rows, cols int, shift float64, drifted int, seed uint64) []drift.Column {
	out := make([]drift.Column, cols)
	for c := range out {
		r := rand.New(rand.NewPCG(seed, uint64(c)))
		v := make([]float64, rows)
		mu := 0.0
		if c < drifted {
			mu = shift
		}
		sd := 1 + float64(c%7)
		for i := range v {
			v[i] = mu*sd + sd*r.NormFloat64() + float64(c)
		}
		out[c] = drift.Column{Name: fmt.Sprintf("c%d", c), Kind: drift.Numeric, Num: v}
	}
	return out
}

func write(path string, cols []drift.Column) error {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	rows := len(cols[0].Num)
	hdr := []int64{int64(rows), int64(len(cols))}
	if err := binary.Write(f, binary.LittleEndian, hdr); err != nil {
		return err
	}
	for _, c := range cols {
		if err := binary.Write(f, binary.LittleEndian, c.Num); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func read(path string) ([]drift.Column, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rows := int(binary.LittleEndian.Uint64(b[0:]))
	ncol := int(binary.LittleEndian.Uint64(b[8:]))
	if len(b) != 16+rows*ncol*8 {
		return nil, fmt.Errorf("%s: size does not match %d×%d", path, rows, ncol)
	}
	out := make([]drift.Column, ncol)
	off := 16
	for c := range out {
		v := make([]float64, rows)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
			off += 8
		}
		out[c] = drift.Column{Name: fmt.Sprintf("c%d", c), Kind: drift.Numeric, Num: v}
	}
	return out, nil
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
