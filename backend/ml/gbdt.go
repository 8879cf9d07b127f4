package ml

import (
	"container/heap"
	"context"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/tern-studio/tern/backend/core"
)

// GBDT is a histogram gradient-boosted tree ensemble. Trees[i][k] is the
// tree of iteration i for output k (one output for regression and binary
// classification, one per class otherwise). Leaf values already include the
// learning rate.
type GBDT struct {
	Baseline []float64 `json:"baseline"`
	Trees    [][]Tree  `json:"trees"`
}

// Tree stores nodes in parallel arrays; node 0 is the root. A node with
// Feature -1 is a leaf holding Value; otherwise rows with
// x[Feature] <= Threshold go Left, others Right. Cover is the number of
// training rows that reached each node (what path-dependent TreeSHAP
// weights absent features by); models trained before it was kept have none
// and cannot be explained.
type Tree struct {
	Feature   []int32   `json:"f"`
	Threshold []float64 `json:"t"`
	Left      []int32   `json:"l"`
	Right     []int32   `json:"r"`
	Value     []float64 `json:"v"`
	Cover     []float64 `json:"c,omitempty"`
}

func (t *Tree) predict(x []float64) float64 {
	n := int32(0)
	for t.Feature[n] >= 0 {
		if x[t.Feature[n]] <= t.Threshold[n] {
			n = t.Left[n]
		} else {
			n = t.Right[n]
		}
	}
	return t.Value[n]
}

func (g *GBDT) validate(width, outputs int) error {
	bad := func(why string) error {
		return core.Errorf(core.Invalid, "The model file is damaged: %s.", why)
	}
	if len(g.Baseline) != outputs {
		return bad("the tree ensemble has the wrong number of outputs")
	}
	for _, it := range g.Trees {
		if len(it) != outputs {
			return bad("an iteration has the wrong number of trees")
		}
		for _, t := range it {
			m := len(t.Feature)
			if m == 0 || len(t.Threshold) != m || len(t.Left) != m || len(t.Right) != m || len(t.Value) != m || len(t.Cover) != 0 && len(t.Cover) != m {
				return bad("a tree has inconsistent node arrays")
			}
			// Children must point forward, which also rules out cycles.
			for i := 0; i < m; i++ {
				if t.Feature[i] < 0 {
					continue
				}
				if int(t.Feature[i]) >= width {
					return bad("a tree splits on a feature the model does not have")
				}
				if l, r := t.Left[i], t.Right[i]; l <= int32(i) || r <= int32(i) || int(l) >= m || int(r) >= m {
					return bad("a tree has a child index out of range")
				}
			}
		}
	}
	return nil
}

// raw returns n×outputs raw scores.
func (g *GBDT) raw(X []float64, n, p int) []float64 {
	k := len(g.Baseline)
	out := make([]float64, n*k)
	for i := 0; i < n; i++ {
		x := X[i*p : (i+1)*p]
		for c := 0; c < k; c++ {
			s := g.Baseline[c]
			for _, it := range g.Trees {
				s += it[c].predict(x)
			}
			out[i*k+c] = s
		}
	}
	return out
}

func (g *GBDT) proba(X []float64, n, p int) []float64 {
	return scoresToProba(g.raw(X, n, p), n, len(g.Baseline))
}

// gbdtConfig holds the boosting hyper-parameters (defaults match
// scikit-learn's HistGradientBoosting*).
type gbdtConfig struct {
	LearningRate   float64
	MaxIter        int
	MaxLeafNodes   int
	MaxDepth       int // 0 = unlimited
	MinSamplesLeaf int
	L2             float64
	MaxBins        int
	EarlyStopping  bool
	NIterNoChange  int
	Tol            float64
}

// binner maps each feature to at most MaxBins bins by quantile edges.
type binner struct {
	edges [][]float64 // per feature, ascending; bin b means x <= edges[b] (last bin: greater)
}

func fitBinner(X []float64, n, p, maxBins int, seed uint64) *binner {
	b := &binner{edges: make([][]float64, p)}
	// Quantiles from a subsample, as scikit-learn does (2e5 rows).
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	if n > 200000 {
		r := newRand(seed)
		r.shuffle(rows)
		rows = rows[:200000]
	}
	vals := make([]float64, len(rows))
	for j := 0; j < p; j++ {
		for i, r := range rows {
			vals[i] = X[r*p+j]
		}
		sort.Float64s(vals)
		distinct := vals[:0:0]
		for i, v := range vals {
			if i == 0 || v != vals[i-1] {
				distinct = append(distinct, v)
			}
		}
		var edges []float64
		if len(distinct) <= maxBins {
			for i := 0; i+1 < len(distinct); i++ {
				edges = append(edges, (distinct[i]+distinct[i+1])/2)
			}
		} else {
			for q := 1; q < maxBins; q++ {
				pos := float64(q) / float64(maxBins) * float64(len(vals)-1)
				lo := int(pos)
				v := vals[lo]
				if lo+1 < len(vals) {
					v += (pos - float64(lo)) * (vals[lo+1] - vals[lo])
				}
				if len(edges) == 0 || v > edges[len(edges)-1] {
					edges = append(edges, v)
				}
			}
		}
		b.edges[j] = edges
	}
	return b
}

// transform bins X column-major: out[j][i].
func (b *binner) transform(X []float64, n, p int) [][]uint8 {
	out := make([][]uint8, p)
	for j := 0; j < p; j++ {
		col := make([]uint8, n)
		e := b.edges[j]
		for i := 0; i < n; i++ {
			col[i] = uint8(sort.SearchFloat64s(e, X[i*p+j]))
		}
		out[j] = col
	}
	return out
}

type histBin struct {
	g, h float64
	n    int32
}

type split struct {
	gain    float64
	feature int
	bin     int
	gl, hl  float64
	nl      int
}

type leaf struct {
	node       int32 // index in the tree
	rows       []int32
	g, h       float64
	depth      int
	hist       []histBin // all features, feature j at grower.offs[j]
	best       split
	splittable bool
}

type leafHeap []*leaf

func (h leafHeap) Len() int           { return len(h) }
func (h leafHeap) Less(i, j int) bool { return h[i].best.gain > h[j].best.gain }
func (h leafHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leafHeap) Push(x any)        { *h = append(*h, x.(*leaf)) }
func (h *leafHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type grower struct {
	cfg   gbdtConfig
	bins  [][]uint8
	nbins []int
	edges [][]float64
	// gh holds each row's gradient and hessian side by side, so building
	// a histogram touches one cache line per row instead of two.
	gh []gradPair
	// offs[j] is where feature j's bins start in a node's flat histogram
	// of width bins; histograms are recycled through free, as allocating
	// and collecting them cost as much as filling them.
	offs  []int
	width int
	free  [][]histBin
}

func (gr *grower) newHist() []histBin {
	if n := len(gr.free); n > 0 {
		h := gr.free[n-1]
		gr.free = gr.free[:n-1]
		clear(h)
		return h
	}
	return make([]histBin, gr.width)
}

func (gr *grower) release(h []histBin) {
	if h != nil {
		gr.free = append(gr.free, h)
	}
}

type gradPair struct{ g, h float64 }

func (gr *grower) histogram(rows []int32) []histBin {
	p := len(gr.bins)
	hist := gr.newHist()
	workers := runtime.GOMAXPROCS(0)
	if len(rows) < 2000 || workers < 2 {
		workers = 1
	}
	fill := func(j int) {
		hb := hist[gr.offs[j] : gr.offs[j]+gr.nbins[j]]
		col := gr.bins[j]
		gh := gr.gh
		for _, r := range rows {
			b := &hb[col[r]]
			p := gh[r]
			b.g += p.g
			b.h += p.h
			b.n++
		}
	}
	if workers == 1 {
		for j := 0; j < p; j++ {
			fill(j)
		}
		return hist
	}
	var wg sync.WaitGroup
	next := make(chan int, p)
	for j := 0; j < p; j++ {
		next <- j
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				fill(j)
			}
		}()
	}
	wg.Wait()
	return hist
}

func (gr *grower) score(g, h float64) float64 { return g * g / (h + gr.cfg.L2) }

func (gr *grower) findSplit(l *leaf) {
	l.best = split{gain: 0, feature: -1}
	l.splittable = false
	n := len(l.rows)
	if n < 2*gr.cfg.MinSamplesLeaf || (gr.cfg.MaxDepth > 0 && l.depth >= gr.cfg.MaxDepth) {
		return
	}
	parent := gr.score(l.g, l.h)
	for j := range gr.bins {
		hb := l.hist[gr.offs[j] : gr.offs[j]+gr.nbins[j]]
		var gl, hl float64
		var nl int
		for b := 0; b+1 < len(hb); b++ {
			gl += hb[b].g
			hl += hb[b].h
			nl += int(hb[b].n)
			if nl < gr.cfg.MinSamplesLeaf {
				continue
			}
			if n-nl < gr.cfg.MinSamplesLeaf {
				break
			}
			hr := l.h - hl
			if hl < 1e-3 || hr < 1e-3 {
				continue
			}
			gain := 0.5 * (gr.score(gl, hl) + gr.score(l.g-gl, hr) - parent)
			if gain > l.best.gain+1e-12 {
				l.best = split{gain: gain, feature: j, bin: b, gl: gl, hl: hl, nl: nl}
			}
		}
	}
	l.splittable = l.best.feature >= 0
}

// grow builds one tree on the current gradients. It returns the tree and
// each training row's leaf value (already scaled by the learning rate).
func (gr *grower) grow(rows []int32, leafValue []float64) Tree {
	t := Tree{}
	addNode := func() int32 {
		t.Feature = append(t.Feature, -1)
		t.Threshold = append(t.Threshold, 0)
		t.Left = append(t.Left, 0)
		t.Right = append(t.Right, 0)
		t.Value = append(t.Value, 0)
		t.Cover = append(t.Cover, 0)
		return int32(len(t.Feature) - 1)
	}
	root := &leaf{node: addNode(), rows: rows}
	t.Cover[root.node] = float64(len(rows))
	for _, r := range rows {
		root.g += gr.gh[r].g
		root.h += gr.gh[r].h
	}
	root.hist = gr.histogram(rows)
	gr.findSplit(root)
	var done []*leaf
	open := &leafHeap{}
	leaves := 1
	if root.splittable {
		heap.Push(open, root)
	} else {
		gr.release(root.hist)
		root.hist = nil
		done = append(done, root)
	}
	for open.Len() > 0 {
		l := heap.Pop(open).(*leaf)
		if leaves >= gr.cfg.MaxLeafNodes {
			gr.release(l.hist)
			l.hist = nil
			done = append(done, l)
			continue
		}
		s := l.best
		col := gr.bins[s.feature]
		// Partition rows in place: left part first.
		i, j := 0, len(l.rows)-1
		for i <= j {
			if int(col[l.rows[i]]) <= s.bin {
				i++
			} else {
				l.rows[i], l.rows[j] = l.rows[j], l.rows[i]
				j--
			}
		}
		left := &leaf{node: addNode(), rows: l.rows[:i], g: s.gl, h: s.hl, depth: l.depth + 1}
		right := &leaf{node: addNode(), rows: l.rows[i:], g: l.g - s.gl, h: l.h - s.hl, depth: l.depth + 1}
		t.Feature[l.node] = int32(s.feature)
		t.Threshold[l.node] = gr.edges[s.feature][s.bin]
		t.Left[l.node], t.Right[l.node] = left.node, right.node
		t.Cover[left.node], t.Cover[right.node] = float64(len(left.rows)), float64(len(right.rows))
		leaves++
		// Histogram subtraction: scan the smaller child, derive the larger.
		small, large := left, right
		if len(right.rows) < len(left.rows) {
			small, large = right, left
		}
		small.hist = gr.histogram(small.rows)
		large.hist = gr.newHist()
		for i := range large.hist {
			ph, sh := &l.hist[i], &small.hist[i]
			large.hist[i] = histBin{g: ph.g - sh.g, h: ph.h - sh.h, n: ph.n - sh.n}
		}
		gr.release(l.hist)
		l.hist = nil
		for _, c := range []*leaf{left, right} {
			gr.findSplit(c)
			if c.splittable {
				heap.Push(open, c)
			} else {
				done = append(done, c)
				gr.release(c.hist)
				c.hist = nil
			}
		}
	}
	for _, l := range done {
		v := -gr.cfg.LearningRate * l.g / (l.h + gr.cfg.L2)
		t.Value[l.node] = v
		for _, r := range l.rows {
			leafValue[r] = v
		}
	}
	return t
}

// boostTarget holds what the boosting loop needs of the task.
type boostTarget struct {
	task    string
	classes int       // 0 for regression
	yi      []int     // class index per row
	yf      []float64 // regression target
}

func (bt boostTarget) outputs() int {
	if bt.task == Regression || bt.classes == 2 {
		return 1
	}
	return bt.classes
}

// fitGBDT boosts trees on X (already preprocessed). valRows are the rows
// held out for early stopping (may be empty). report receives each
// iteration's training and validation loss.
func fitGBDT(ctx context.Context, X []float64, n, p int, bt boostTarget, trainRows, valRows []int32, cfg gbdtConfig, seed uint64, report func(step int, train, val float64)) (*GBDT, error) {
	k := bt.outputs()
	bn := fitBinner(subsetRows(X, p, trainRows), len(trainRows), p, cfg.MaxBins, seed)
	bins := bn.transform(X, n, p)
	gr := &grower{cfg: cfg, bins: bins, edges: bn.edges, gh: make([]gradPair, n)}
	gr.nbins = make([]int, p)
	gr.offs = make([]int, p)
	for j := range bn.edges {
		gr.nbins[j] = len(bn.edges[j]) + 1
		gr.offs[j] = gr.width
		gr.width += gr.nbins[j]
	}
	model := &GBDT{Baseline: baseline(bt, trainRows)}
	F := make([]float64, n*k)
	for i := 0; i < n; i++ {
		copy(F[i*k:(i+1)*k], model.Baseline)
	}
	grads := make([][]float64, k)
	hess := make([][]float64, k)
	for c := range grads {
		grads[c] = make([]float64, n)
		hess[c] = make([]float64, n)
	}
	leafValue := make([]float64, n)
	rows := make([]int32, len(trainRows))
	// The training loss is reported on at most 10 000 rows, as
	// scikit-learn scores its training set: the full pass costs as much as
	// the boosting step itself.
	lossRows := trainRows
	if len(lossRows) > 10000 {
		lossRows = trainRows[:0:0]
		stride := float64(len(trainRows)) / 10000
		for i := 0; i < 10000; i++ {
			lossRows = append(lossRows, trainRows[int(float64(i)*stride)])
		}
	}
	best, bestIter, since := math.Inf(1), 0, 0
	prob := make([]float64, k)
	for it := 0; it < cfg.MaxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, core.Errorf(core.Invalid, "Training was cancelled.")
		}
		// Gradients and hessians of the loss at the current scores.
		for _, r := range trainRows {
			f := F[int(r)*k : (int(r)+1)*k]
			switch {
			case bt.task == Regression:
				grads[0][r], hess[0][r] = f[0]-bt.yf[r], 1
			case k == 1:
				pr := sigmoid(f[0])
				grads[0][r], hess[0][r] = pr-float64(bt.yi[r]), math.Max(pr*(1-pr), 1e-16)
			default:
				softmax(f, prob)
				for c := 0; c < k; c++ {
					t := 0.0
					if bt.yi[r] == c {
						t = 1
					}
					grads[c][r], hess[c][r] = prob[c]-t, math.Max(prob[c]*(1-prob[c]), 1e-16)
				}
			}
		}
		trees := make([]Tree, k)
		for c := 0; c < k; c++ {
			copy(rows, trainRows)
			for _, r := range trainRows {
				gr.gh[r] = gradPair{grads[c][r], hess[c][r]}
			}
			trees[c] = gr.grow(rows, leafValue)
			for _, r := range trainRows {
				F[int(r)*k+c] += leafValue[r]
			}
			for _, r := range valRows {
				F[int(r)*k+c] += predictBinned(&trees[c], bins, r, bn.edges)
			}
		}
		model.Trees = append(model.Trees, trees)
		trainLoss := lossAt(F, k, bt, lossRows)
		valLoss := math.NaN()
		if len(valRows) > 0 {
			valLoss = lossAt(F, k, bt, valRows)
		}
		if report != nil {
			report(it+1, trainLoss, valLoss)
		}
		if cfg.EarlyStopping && len(valRows) > 0 {
			if valLoss < best-cfg.Tol {
				best, bestIter, since = valLoss, it+1, 0
			} else {
				since++
				if since >= cfg.NIterNoChange {
					model.Trees = model.Trees[:bestIter]
					break
				}
			}
		}
	}
	return model, nil
}

// predictBinned walks a tree using the bins of row r: a row goes left when
// its bin is at or below the split bin, which is the same as comparing its
// value with the threshold (the threshold is that bin's upper edge).
func predictBinned(t *Tree, bins [][]uint8, r int32, edges [][]float64) float64 {
	n := int32(0)
	for t.Feature[n] >= 0 {
		f := t.Feature[n]
		b := int(bins[f][r])
		if b < len(edges[f]) && edges[f][b] <= t.Threshold[n] {
			n = t.Left[n]
		} else {
			n = t.Right[n]
		}
	}
	return t.Value[n]
}

func subsetRows(X []float64, p int, rows []int32) []float64 {
	out := make([]float64, 0, len(rows)*p)
	for _, r := range rows {
		out = append(out, X[int(r)*p:(int(r)+1)*p]...)
	}
	return out
}

func baseline(bt boostTarget, rows []int32) []float64 {
	if bt.task == Regression {
		var s float64
		for _, r := range rows {
			s += bt.yf[r]
		}
		return []float64{s / float64(len(rows))}
	}
	counts := make([]float64, bt.classes)
	for _, r := range rows {
		counts[bt.yi[r]]++
	}
	nf := float64(len(rows))
	if bt.classes == 2 {
		p := math.Min(math.Max(counts[1]/nf, 1e-15), 1-1e-15)
		return []float64{math.Log(p / (1 - p))}
	}
	out := make([]float64, bt.classes)
	for c := range out {
		out[c] = math.Log(math.Max(counts[c]/nf, 1e-15))
	}
	return out
}

// lossAt is the mean loss (half squared error for regression, as
// scikit-learn reports it; log loss for classification) over rows.
func lossAt(F []float64, k int, bt boostTarget, rows []int32) float64 {
	var s float64
	prob := make([]float64, k)
	for _, r := range rows {
		f := F[int(r)*k : (int(r)+1)*k]
		switch {
		case bt.task == Regression:
			d := f[0] - bt.yf[r]
			s += 0.5 * d * d
		case k == 1:
			s += logLoss1(sigmoid(f[0]), float64(bt.yi[r]))
		default:
			softmax(f, prob)
			s -= math.Log(math.Max(prob[bt.yi[r]], 1e-15))
		}
	}
	return s / float64(len(rows))
}
