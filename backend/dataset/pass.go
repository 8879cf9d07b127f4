package dataset

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/table"
)

const previewRows = table.PreviewRows

// ErrCancelled is returned by an import stopped with Cancel or a closed
// request; like every failed import it leaves nothing behind.
var ErrCancelled = core.Errorf(core.Invalid, "The import was cancelled; nothing was stored.")

// parsed is what one pass over a file produced.
type parsed struct {
	det     Detected
	profile Profile
	// vals are the results of the rules tested value by value, by rule.
	vals checkedValues
}

// progressFunc reports bytes of the original file read and records parsed
// so far (approximate while running).
type progressFunc func(bytes, rows int64)

// countingReader counts bytes and copies them into the blob being written.
type countingReader struct {
	r   io.Reader
	w   io.Writer
	n   atomic.Int64
	err error // a write error (disk full) takes precedence over parse errors
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if _, werr := c.w.Write(p[:n]); werr != nil {
			c.err = werr
			return 0, werr
		}
		c.n.Add(int64(n))
	}
	return n, err
}

// parseStream reads the whole of src through the table reader, copying
// every byte to sink, and profiles it. readAt is consulted for Parquet,
// whose footer must be read after all bytes are in.
// onDetect, if given, hears what detection found before the long pass
// starts, so the UI can show it while the file is still being read.
func parseStream(ctx context.Context, src io.Reader, sink io.Writer, readAt func() (io.ReaderAt, int64, error), name string, opts Options, progress progressFunc, onDetect ...func(Detected)) (*parsed, error) {
	cr := &countingReader{r: src, w: sink}
	h := table.Hooks{NewSink: func(cols []Column) table.Sink { return newProfiler(cols, opts.checks) }}
	if progress != nil {
		h.Progress = func(rows int64) { progress(cr.n.Load(), rows) }
	}
	if len(onDetect) > 0 {
		h.Detected = func(d Detected) {
			for _, f := range onDetect {
				f(d)
			}
		}
	}
	res, err := table.Read(ctx, table.Source{Name: name, R: cr, ReaderAt: readAt}, opts.Options, h)
	switch {
	case err == nil:
	case cr.err != nil:
		return nil, cr.err
	case errors.Is(err, table.ErrCancelled):
		return nil, ErrCancelled
	default:
		return nil, err
	}
	profilers := make([]*profiler, len(res.Sinks))
	for i, s := range res.Sinks {
		profilers[i] = s.(*profiler)
	}
	vals := checkedValues{}
	for _, w := range profilers {
		for _, cs := range w.checks {
			for _, c := range cs {
				if have := vals[c.rule]; have != nil {
					have.merge(c)
				} else {
					vals[c.rule] = c
				}
			}
		}
	}
	// A day/month column the whole pass decided for its other layout is
	// profiled from the readings kept that way.
	for _, i := range res.UseAlt {
		for _, w := range profilers {
			w.accs[i] = w.alt[i]
		}
	}
	return &parsed{det: res.Detected, profile: *buildProfile(profilers, res.Detected.Columns, opts.Types, res.Rows, res.Preview), vals: vals}, nil
}

// profiler is one parse worker's accumulators: every part merges, so
// workers never share state.
type profiler struct {
	accs []*colAcc
	// alt accumulates undecided day/month columns read the other way
	// (table.Row.Alt); nil for every other column.
	alt     []*colAcc
	corr    *corrAcc
	present []bool
	numeric []bool
	// checks are the rules tested on each present value, per column.
	checks [][]*valueCheck
}

func newProfiler(cols []Column, rules []Rule) *profiler {
	p := &profiler{present: make([]bool, len(cols)), numeric: make([]bool, len(cols)), checks: make([][]*valueCheck, len(cols))}
	var numCols []int
	for i, c := range cols {
		p.checks[i] = passChecks(rules, c.Name)
		p.accs = append(p.accs, newColAcc(c))
		var alt *colAcc
		if c.DateAlt != "" {
			ac := c
			ac.DateLayout = c.DateAlt
			alt = newColAcc(ac)
		}
		p.alt = append(p.alt, alt)
		if k := c.Type.Kind(); k == table.Number || k == table.Bool {
			numCols = append(numCols, i)
			p.numeric[i] = true
		}
	}
	p.corr = newCorrAcc(numCols)
	return p
}

// Row feeds one record into the accumulators.
func (p *profiler) Row(r *table.Row) error {
	for i, a := range p.accs {
		if r.Null[i] {
			a.missing++
			p.present[i] = false
			continue
		}
		v := r.Num[i]
		a.add(r.Fields[i], v, r.Whole[i])
		if alt := p.alt[i]; alt != nil {
			alt.add(r.Fields[i], r.Alt[i], false)
		}
		for _, c := range p.checks[i] {
			c.test(r.Fields[i], r.Line)
		}
		p.present[i] = p.numeric[i] && !(v != v)
	}
	p.corr.addRow(r.Num, p.present)
	return nil
}

// buildProfile merges the workers' accumulators in a fixed order.
func buildProfile(workers []*profiler, cols []Column, userTypes map[string]ColumnType, rows int64, preview [][]string) *Profile {
	p := &Profile{Rows: rows, Preview: preview}
	for i, c := range cols {
		acc := workers[0].accs[i]
		for _, w := range workers[1:] {
			acc.merge(w.accs[i])
		}
		_, userTyped := userTypes[c.Name]
		p.Columns = append(p.Columns, acc.finish(rows, userTyped))
	}
	var parts []*corrAcc
	for _, w := range workers {
		parts = append(parts, w.corr)
	}
	var names []string
	for _, i := range workers[0].corr.cols {
		names = append(names, cols[i].Name)
	}
	p.Correlations = mergeCorr(parts, names)
	return p
}
