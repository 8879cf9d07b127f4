package dataset

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/tern-studio/tern/backend/table"
)

// colAcc accumulates one column's profile inside one parse worker. Every
// part merges, so workers never share state.
type colAcc struct {
	name   string
	typ    ColumnType
	kind   table.Kind
	layout string

	n, missing, nonFinite int64
	// moments around a shift (the first value) for numerical stability
	shifted  bool
	shift    float64
	s1, s2   float64
	min, max float64
	nonInt   bool
	kll      *KLL
	hll      *HLL

	top            *topK
	lenSum         int64
	lenMin, lenMax int
	trues, falses  int64
}

func newColAcc(c Column) *colAcc {
	a := &colAcc{name: c.Name, typ: c.Type, kind: c.Type.Kind(), layout: c.DateLayout,
		hll: newHLL(), min: math.Inf(1), max: math.Inf(-1), lenMin: math.MaxInt}
	if a.kind != table.String {
		a.kll = newKLL()
	}
	if a.kind == table.String || a.kind == table.Bool {
		a.top = newTopK()
	}
	return a
}

func (a *colAcc) addNumber(v float64) {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		a.nonFinite++
		a.missing++
		return
	}
	a.n++
	if !a.shifted {
		a.shifted, a.shift = true, v
	}
	d := v - a.shift
	a.s1 += d
	a.s2 += d * d
	if v < a.min {
		a.min = v
	}
	if v > a.max {
		a.max = v
	}
	a.kll.Add(v)
	a.hll.Add(hashFloat(v))
}

// add takes one present (non-null) field as the table reader read it: v
// is its number (a boolean as 1/0, a date as Unix seconds) and whole says a
// number was written without decimals.
func (a *colAcc) add(b []byte, v float64, whole bool) {
	switch a.kind {
	case table.Number:
		if !whole && a.typ == Integer {
			a.nonInt = true
		}
		a.addNumber(v)
		return
	case table.Bool:
		if v == 1 {
			a.trues++
			a.top.add([]byte("true"))
		} else {
			a.falses++
			a.top.add([]byte("false"))
		}
		a.addNumber(v)
		return
	case table.Date:
		a.addNumber(v)
		return
	}
	a.n++
	a.hll.Add(xxhash.Sum64(b))
	a.top.add(b)
	l := len(b)
	a.lenSum += int64(l)
	if l < a.lenMin {
		a.lenMin = l
	}
	if l > a.lenMax {
		a.lenMax = l
	}
}

func (a *colAcc) merge(o *colAcc) {
	a.missing += o.missing
	a.nonFinite += o.nonFinite
	if o.n > 0 {
		if a.n == 0 {
			a.shifted, a.shift, a.s1, a.s2 = o.shifted, o.shift, o.s1, o.s2
		} else if a.kind != table.String {
			// re-centre o's sums on a's shift: Σ(x-a) = Σ(x-b) + n(b-a)
			delta := o.shift - a.shift
			a.s2 += o.s2 + 2*delta*o.s1 + float64(o.n)*delta*delta
			a.s1 += o.s1 + float64(o.n)*delta
		}
		a.min = math.Min(a.min, o.min)
		a.max = math.Max(a.max, o.max)
	}
	a.n += o.n
	a.nonInt = a.nonInt || o.nonInt
	if a.kll != nil {
		a.kll.Merge(o.kll)
	}
	a.hll.Merge(o.hll)
	if a.top != nil {
		a.top.merge(o.top)
	}
	a.lenSum += o.lenSum
	if o.lenMin < a.lenMin {
		a.lenMin = o.lenMin
	}
	if o.lenMax > a.lenMax {
		a.lenMax = o.lenMax
	}
	a.trues += o.trues
	a.falses += o.falses
}

var profileQuantiles = []float64{0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// finish turns the accumulator into a stored profile, settling the final
// type: an integer column that held decimals becomes float; a string
// column is categorical when its values repeat, text when they mostly don't.
func (a *colAcc) finish(rows int64, userTyped bool) ColumnProfile {
	p := ColumnProfile{Name: a.name, Type: a.typ, Count: a.n, Missing: a.missing}
	d := int64(math.Round(a.hll.Estimate()))
	if d > a.n {
		d = a.n
	}
	if a.top != nil && !a.top.pruned {
		d = int64(len(a.top.m)) // exact
	}
	p.Distinct = d
	switch a.kind {
	case table.Number, table.Date, table.Bool:
		if a.kind == table.Number && a.typ == Integer && a.nonInt {
			p.Type = Float
		}
		ns := &NumericStats{Sketch: a.kll, NonFinite: a.nonFinite}
		if a.n > 0 {
			mean := a.shift + a.s1/float64(a.n)
			ns.Min, ns.Max, ns.Mean = a.min, a.max, finite(mean)
			if a.n > 1 {
				v := (a.s2 - a.s1*a.s1/float64(a.n)) / float64(a.n-1)
				ns.Std = finite(math.Sqrt(math.Max(v, 0)))
			}
			for _, q := range profileQuantiles {
				ns.Quantiles = append(ns.Quantiles, Quantile{q, finite(a.kll.Quantile(q))})
			}
			ns.Histogram = histogramFromSketch(a.kll, a.min, a.max, p.Type == Integer || a.kind == table.Bool)
		}
		p.Numeric = ns
		if a.kind == table.Bool {
			p.Categories = &CategoryStats{Top: a.top.top(2)}
		}
	default:
		if !userTyped {
			if d <= 50 || float64(d) <= 0.5*float64(a.n) {
				p.Type = Categorical
			} else {
				p.Type = Text
			}
		}
		top := a.top.top(20)
		var inTop int64
		for _, c := range top {
			inTop += c.Count
		}
		p.Categories = &CategoryStats{Top: top, Other: a.n - inTop, Approximate: a.top.pruned}
		if a.n > 0 {
			p.Text = &TextStats{MinLen: a.lenMin, MaxLen: a.lenMax, MeanLen: float64(a.lenSum) / float64(a.n)}
		}
	}
	return p
}

// histogramFromSketch spreads the sketch's CDF over equal-width bins; small
// integer ranges get one bin per value so counts line up with the values.
func histogramFromSketch(s *KLL, lo, hi float64, integer bool) Histogram {
	bins := 30
	unit := integer && hi-lo < 30
	if unit {
		bins = int(hi-lo) + 1
		lo -= 0.5
		hi += 0.5
	}
	if hi <= lo {
		lo, hi = lo-0.5, hi+0.5
		bins = 1
	}
	h := Histogram{Edges: make([]float64, bins+1), Counts: make([]float64, bins)}
	w := (hi - lo) / float64(bins)
	for i := range h.Edges {
		h.Edges[i] = lo + float64(i)*w
	}
	h.Edges[bins] = hi
	items := s.sorted()
	if !unit && len(items) > 0 && s.N > int64(len(items)) {
		// Compacted sketch: items stand for 2^h values each, so dropping
		// them into bins whole gives lumpy bars. Spread each item's weight
		// evenly up to the next item instead (a piecewise-linear CDF).
		smoothHistogram(h, items, float64(s.N))
		return h
	}
	// Walk sorted items once, assigning each item's weight to its bin.
	scale := float64(s.N)
	total := 0.0
	for _, it := range items {
		total += it.w
	}
	if total == 0 {
		return h
	}
	scale /= total
	for _, it := range items {
		i := int((it.v - lo) / w)
		if i >= bins {
			i = bins - 1
		}
		if i < 0 {
			i = 0
		}
		h.Counts[i] += it.w * scale
	}
	for i := range h.Counts {
		h.Counts[i] = math.Round(h.Counts[i])
	}
	return h
}

func smoothHistogram(h Histogram, items []weighted, n float64) {
	total := 0.0
	for _, it := range items {
		total += it.w
	}
	scale := n / total
	bins := len(h.Counts)
	lo, hi := h.Edges[0], h.Edges[bins]
	w := (hi - lo) / float64(bins)
	binOf := func(x float64) int { return min(bins-1, max(0, int((x-lo)/w))) }
	for k, it := range items {
		mass := it.w * scale
		// Each item stands for the values around it: from halfway to its
		// neighbours (to the data's min and max at the ends).
		a, b := lo, hi
		if k > 0 {
			a = (items[k-1].v + it.v) / 2
		}
		if k+1 < len(items) {
			b = (it.v + items[k+1].v) / 2
		}
		if b <= a {
			h.Counts[binOf(a)] += mass
			continue
		}
		// distribute mass uniformly over [a, b)
		for i := binOf(a); i < bins; i++ {
			l := math.Max(a, h.Edges[i])
			r := math.Min(b, h.Edges[i+1])
			if r <= l {
				if h.Edges[i] >= b {
					break
				}
				continue
			}
			h.Counts[i] += mass * (r - l) / (b - a)
		}
	}
	for i := range h.Counts {
		h.Counts[i] = math.Round(h.Counts[i])
	}
}

// corrAcc accumulates co-moments of the numeric columns over complete rows.
type corrAcc struct {
	cols    []int // indexes into the row
	n       int64
	shift   []float64
	s       []float64
	sxy     []float64 // k*k, upper triangle used
	vals    []float64
	shifted bool
}

const maxCorrColumns = 32

func newCorrAcc(cols []int) *corrAcc {
	if len(cols) > maxCorrColumns {
		cols = cols[:maxCorrColumns]
	}
	k := len(cols)
	return &corrAcc{cols: cols, shift: make([]float64, k), s: make([]float64, k), sxy: make([]float64, k*k), vals: make([]float64, k)}
}

// addRow takes the row's numeric values (present[i] false means missing).
func (c *corrAcc) addRow(vals []float64, present []bool) {
	k := len(c.cols)
	if k < 2 {
		return
	}
	for i, ci := range c.cols {
		if !present[ci] {
			return
		}
		c.vals[i] = vals[ci]
	}
	if !c.shifted {
		c.shifted = true
		copy(c.shift, c.vals)
	}
	cv := c.vals[:k]
	shift := c.shift[:k]
	sums := c.s[:k]
	for i := range cv {
		cv[i] -= shift[i]
		sums[i] += cv[i]
	}
	// Upper triangle, written so the compiler drops the bounds checks: this
	// is k(k+1)/2 multiply-adds per row, the profile's hottest loop.
	for i, vi := range cv {
		row := c.sxy[i*k+i : i*k+k]
		vs := cv[i:]
		vs = vs[:len(row)]
		for j, v := range vs {
			row[j] += vi * v
		}
	}
	c.n++
}

// centred returns means and the centred co-moment matrix.
func (c *corrAcc) centred() ([]float64, []float64) {
	k := len(c.cols)
	mean := make([]float64, k)
	cm := make([]float64, k*k)
	if c.n == 0 {
		return mean, cm
	}
	n := float64(c.n)
	for i := 0; i < k; i++ {
		mean[i] = c.shift[i] + c.s[i]/n
	}
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			cm[i*k+j] = c.sxy[i*k+j] - c.s[i]*c.s[j]/n
		}
	}
	return mean, cm
}

// mergeCorr combines workers' co-moments (Chan et al.'s pairwise update).
func mergeCorr(parts []*corrAcc, names []string) *Correlations {
	if len(parts) == 0 || len(parts[0].cols) < 2 {
		return nil
	}
	k := len(parts[0].cols)
	var n float64
	mean := make([]float64, k)
	cm := make([]float64, k*k)
	for _, p := range parts {
		if p.n == 0 {
			continue
		}
		pm, pc := p.centred()
		nb := float64(p.n)
		if n == 0 {
			n, mean, cm = nb, pm, pc
			continue
		}
		tot := n + nb
		for i := 0; i < k; i++ {
			for j := i; j < k; j++ {
				cm[i*k+j] += pc[i*k+j] + (pm[i]-mean[i])*(pm[j]-mean[j])*n*nb/tot
			}
		}
		for i := range mean {
			mean[i] += (pm[i] - mean[i]) * nb / tot
		}
		n = tot
	}
	out := &Correlations{Columns: names, Rows: int64(n), Matrix: make([][]float64, k)}
	for i := 0; i < k; i++ {
		out.Matrix[i] = make([]float64, k)
		for j := 0; j < k; j++ {
			a, b := i, j
			if a > b {
				a, b = b, a
			}
			den := math.Sqrt(cm[a*k+a] * cm[b*k+b])
			if i == j {
				out.Matrix[i][j] = 1
			} else if den > 0 {
				out.Matrix[i][j] = finite(cm[a*k+b] / den)
			}
		}
	}
	return out
}
