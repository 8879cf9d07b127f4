package gbdt

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
)

// LightGBM's decision_type bits and its zero threshold (include/LightGBM/tree.h).
const (
	lgbCategorical  = 1
	lgbDefaultLeft  = 2
	lgbMissingNone  = 0
	lgbMissingZero  = 1
	lgbMissingNaN   = 2
	lgbZeroThresold = 1e-35
)

type lgbTree struct {
	feature  []int32
	thresh   []float64
	dtype    []uint8
	left     []int32 // < 0: leaf ^child
	right    []int32
	leaf     []float64
	catBound []int32
	catBits  []uint32
	shrink   float64
	// count and leafCount are the training rows that reached each internal
	// node and leaf (NaN when the file has none): explanations' covers.
	count, leafCount []float64
}

type lgbModel struct {
	trees    []lgbTree
	perIter  int
	classes  int
	nfeat    int
	names    []string
	obj      string
	sigmoid  float64
	average  bool
	sqrt     bool
	outputs  int
	transfer func(raw, out []float64)
}

// ReadLightGBM parses a model saved by LightGBM's save_model (text, format
// "version=v4", LightGBM 4.x; v2 and v3 files share the layout and are read
// too). Linear trees are refused as unsupported.
func ReadLightGBM(data []byte) (*Model, error) {
	if len(data) > maxModelBytes {
		return nil, core.Errorf(core.Invalid, "The LightGBM model is larger than %d MB.", maxModelBytes>>20)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	header := map[string]string{}
	var trees []map[string]string
	var cur map[string]string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "end of trees" {
			break
		}
		if strings.HasPrefix(line, "Tree=") {
			cur = map[string]string{}
			trees = append(trees, cur)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			if line == "average_output" {
				header["average_output"] = "1"
			}
			continue
		}
		if cur != nil {
			cur[k] = v
		} else {
			header[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, unsupported("LightGBM", "the file cannot be read (%s)", shortErr(err))
	}
	switch header["version"] {
	case "v2", "v3", "v4":
	case "":
		return nil, unsupported("LightGBM", "the header has no version line")
	default:
		return nil, unsupported("LightGBM", "format %s is not one Tern reads (v2 to v4)", header["version"])
	}
	m := &lgbModel{}
	var err error
	intField := func(name string) int {
		if err != nil {
			return 0
		}
		v, e := strconv.Atoi(header[name])
		if e != nil || v < 0 || v > 1<<20 {
			err = unsupported("LightGBM", "header field %s=%q is not a count", name, header[name])
		}
		return v
	}
	m.classes = intField("num_class")
	m.perIter = intField("num_tree_per_iteration")
	m.nfeat = intField("max_feature_idx") + 1
	if err != nil {
		return nil, err
	}
	if m.perIter < 1 {
		return nil, unsupported("LightGBM", "num_tree_per_iteration is 0")
	}
	if fn := header["feature_names"]; fn != "" {
		m.names = strings.Fields(fn)
	}
	m.average = header["average_output"] == "1"
	if err := m.setObjective(header["objective"]); err != nil {
		return nil, err
	}
	if len(trees) == 0 {
		return nil, unsupported("LightGBM", "the model has no trees")
	}
	if len(trees)%m.perIter != 0 {
		return nil, unsupported("LightGBM", "%d trees is not a multiple of %d trees per iteration", len(trees), m.perIter)
	}
	for i, t := range trees {
		lt, err := parseLGBTree(t, m.nfeat)
		if err != nil {
			return nil, unsupported("LightGBM", "tree %d: %s", i, err)
		}
		m.trees = append(m.trees, lt)
	}
	return &Model{Kind: "lightgbm", Objective: m.obj, Features: m.nfeat, FeatureNames: m.names, Outputs: m.outputs, Trees: len(m.trees), row: m.predictRow, ensemble: m.ensemble}, nil
}

func (m *lgbModel) setObjective(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return unsupported("LightGBM", "the header has no objective")
	}
	m.obj = f[0]
	m.sigmoid = 1
	for _, opt := range f[1:] {
		k, v, _ := strings.Cut(opt, ":")
		switch k {
		case "sigmoid":
			s, err := strconv.ParseFloat(v, 64)
			if err != nil || s <= 0 {
				return unsupported("LightGBM", "objective option %q is not a positive number", opt)
			}
			m.sigmoid = s
		case "sqrt":
			m.sqrt = true
		}
	}
	m.outputs = 1
	switch m.obj {
	case "regression", "regression_l2", "regression_l1", "huber", "fair", "quantile", "mape", "lambdarank", "rank_xendcg", "custom":
		m.transfer = func(raw, out []float64) {
			if m.sqrt {
				out[0] = math.Copysign(raw[0]*raw[0], raw[0])
				return
			}
			out[0] = raw[0]
		}
	case "binary":
		m.transfer = func(raw, out []float64) { out[0] = 1 / (1 + math.Exp(-m.sigmoid*raw[0])) }
	case "cross_entropy", "xentropy":
		m.transfer = func(raw, out []float64) { out[0] = 1 / (1 + math.Exp(-raw[0])) }
	case "cross_entropy_lambda", "xentlambda":
		m.transfer = func(raw, out []float64) { out[0] = math.Log1p(math.Exp(raw[0])) }
	case "poisson", "gamma", "tweedie":
		m.transfer = func(raw, out []float64) { out[0] = math.Exp(raw[0]) }
	case "multiclass", "softmax":
		if m.classes < 2 || m.perIter != m.classes {
			return unsupported("LightGBM", "a multiclass model with %d classes and %d trees per iteration", m.classes, m.perIter)
		}
		m.outputs = m.classes
		m.transfer = func(raw, out []float64) {
			mx := raw[0]
			for _, v := range raw {
				mx = math.Max(mx, v)
			}
			sum := 0.0
			for k, v := range raw {
				out[k] = math.Exp(v - mx)
				sum += out[k]
			}
			for k := range out {
				out[k] /= sum
			}
		}
	case "multiclassova", "multiclass_ova", "ova", "ovr":
		if m.classes < 2 || m.perIter != m.classes {
			return unsupported("LightGBM", "a one-vs-all model with %d classes and %d trees per iteration", m.classes, m.perIter)
		}
		m.outputs = m.classes
		m.transfer = func(raw, out []float64) {
			for k, v := range raw {
				out[k] = 1 / (1 + math.Exp(-m.sigmoid*v))
			}
		}
	default:
		return unsupported("LightGBM", "objective %q is not supported", m.obj)
	}
	if m.outputs == 1 && m.perIter != 1 {
		return unsupported("LightGBM", "objective %s with %d trees per iteration", m.obj, m.perIter)
	}
	return nil
}

func parseLGBTree(t map[string]string, nfeat int) (lgbTree, error) {
	var lt lgbTree
	if t["is_linear"] == "1" {
		return lt, fmt.Errorf("linear trees are not supported")
	}
	nleaves, err := strconv.Atoi(t["num_leaves"])
	if err != nil || nleaves < 1 || nleaves > 1<<24 {
		return lt, fmt.Errorf("num_leaves %q is not a positive count", t["num_leaves"])
	}
	lt.shrink = 1
	if s := t["shrinkage"]; s != "" {
		if lt.shrink, err = strconv.ParseFloat(s, 64); err != nil {
			return lt, fmt.Errorf("shrinkage %q is not a number", s)
		}
	}
	if lt.leaf, err = floats(t["leaf_value"], nleaves); err != nil {
		return lt, fmt.Errorf("leaf_value: %s", err)
	}
	// Counts only feed explanations; a file without them still predicts.
	lt.leafCount = optFloats(t["leaf_count"], nleaves)
	if nleaves == 1 {
		return lt, nil
	}
	n := nleaves - 1
	ints := func(key string, count int) []int32 {
		if err != nil {
			return nil
		}
		var v []int32
		v, err = int32s(t[key], count)
		if err != nil {
			err = fmt.Errorf("%s: %s", key, err)
		}
		return v
	}
	lt.feature = ints("split_feature", n)
	lt.left = ints("left_child", n)
	lt.right = ints("right_child", n)
	dt := ints("decision_type", n)
	if err != nil {
		return lt, err
	}
	if lt.thresh, err = floats(t["threshold"], n); err != nil {
		return lt, fmt.Errorf("threshold: %s", err)
	}
	lt.count = optFloats(t["internal_count"], n)
	lt.dtype = make([]uint8, n)
	ncat := 0
	for i := 0; i < n; i++ {
		lt.dtype[i] = uint8(dt[i])
		if lt.feature[i] < 0 || int(lt.feature[i]) >= nfeat {
			return lt, fmt.Errorf("node %d splits on feature %d of %d", i, lt.feature[i], nfeat)
		}
		// Internal children come after their parent and leaves are in
		// range, so walking a tree always ends.
		for _, c := range []int32{lt.left[i], lt.right[i]} {
			if c >= 0 && (c <= int32(i) || int(c) >= n) || c < 0 && int(^c) >= nleaves {
				return lt, fmt.Errorf("node %d has a child out of order or range", i)
			}
		}
		if dt[i]&lgbCategorical != 0 {
			ncat++
		}
	}
	if ncat > 0 {
		numCat, _ := strconv.Atoi(t["num_cat"])
		if numCat <= 0 {
			return lt, fmt.Errorf("it has categorical splits but num_cat=%q", t["num_cat"])
		}
		lt.catBound = ints("cat_boundaries", numCat+1)
		if err != nil {
			return lt, err
		}
		last := lt.catBound[numCat]
		if last < 0 || last > 1<<24 {
			return lt, fmt.Errorf("cat_boundaries end at %d", last)
		}
		var bits []int64
		for _, f := range strings.Fields(t["cat_threshold"]) {
			v, e := strconv.ParseUint(f, 10, 32)
			if e != nil {
				return lt, fmt.Errorf("cat_threshold %q is not a 32-bit word", f)
			}
			bits = append(bits, int64(v))
		}
		if len(bits) != int(last) {
			return lt, fmt.Errorf("cat_threshold has %d words, cat_boundaries need %d", len(bits), last)
		}
		for i := 0; i < numCat; i++ {
			if lt.catBound[i] < 0 || lt.catBound[i] > lt.catBound[i+1] {
				return lt, fmt.Errorf("cat_boundaries are not increasing")
			}
		}
		for _, b := range bits {
			lt.catBits = append(lt.catBits, uint32(b))
		}
		for i := 0; i < n; i++ {
			if dt[i]&lgbCategorical != 0 {
				ci := int(lt.thresh[i])
				if ci < 0 || ci >= numCat {
					return lt, fmt.Errorf("node %d points at category set %d of %d", i, ci, numCat)
				}
			}
		}
	}
	return lt, nil
}

func floats(s string, n int) ([]float64, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("has %d values, expected %d", len(f), n)
	}
	out := make([]float64, n)
	for i, x := range f {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			// LightGBM writes non-finite values as inf/-inf/nan, which
			// ParseFloat reads; anything else is damage.
			return nil, fmt.Errorf("value %q is not a number", x)
		}
		out[i] = v
	}
	return out, nil
}

// optFloats reads n numbers, or n NaNs when the field is absent or damaged.
func optFloats(s string, n int) []float64 {
	v, err := floats(s, n)
	if err != nil {
		v = make([]float64, n)
		for i := range v {
			v[i] = math.NaN()
		}
	}
	return v
}

func int32s(s string, n int) ([]int32, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("has %d values, expected %d", len(f), n)
	}
	out := make([]int32, n)
	for i, x := range f {
		v, err := strconv.ParseInt(x, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("value %q is not an integer", x)
		}
		out[i] = int32(v)
	}
	return out, nil
}

func (t *lgbTree) predict(x []float64) float64 {
	if len(t.left) == 0 {
		return t.leaf[0]
	}
	node := int32(0)
	for node >= 0 {
		if t.goesLeft(node, x) {
			node = t.left[node]
		} else {
			node = t.right[node]
		}
	}
	return t.leaf[^node]
}

// goesLeft is LightGBM's decision at internal node n (tree.h's
// NumericalDecision and CategoricalDecision).
func (t *lgbTree) goesLeft(node int32, x []float64) bool {
	dt := t.dtype[node]
	v := x[t.feature[node]]
	if dt&lgbCategorical != 0 {
		if !math.IsNaN(v) && v >= 0 {
			iv := int(v)
			ci := int(t.thresh[node])
			lo, hi := int(t.catBound[ci]), int(t.catBound[ci+1])
			if w := iv / 32; w < hi-lo {
				return t.catBits[lo+w]>>(uint(iv)%32)&1 == 1
			}
		}
		return false
	}
	missing := (dt >> 2) & 3
	if math.IsNaN(v) && missing != lgbMissingNaN {
		v = 0
	}
	if missing == lgbMissingZero && v > -lgbZeroThresold && v <= lgbZeroThresold ||
		missing == lgbMissingNaN && math.IsNaN(v) {
		return dt&lgbDefaultLeft != 0
	}
	return v <= t.thresh[node]
}

// ensemble gives the trees to backend/explain: internal nodes keep their
// numbers, leaf i becomes node internal+i; covers are LightGBM's row counts
// (what its pred_contrib, and so shap, weight by).
func (m *lgbModel) ensemble() *explain.Ensemble {
	e := &explain.Ensemble{Features: m.nfeat, Base: make([]float64, m.perIter), Link: m.link()}
	scale := 1.0
	if m.average {
		scale = 1 / float64(len(m.trees)/m.perIter)
	}
	for i := range m.trees {
		lt := &m.trees[i]
		in := len(lt.left)
		t := explain.Tree{Output: i % m.perIter}
		node := func(c int32) int32 {
			if c < 0 {
				return int32(in) + ^c
			}
			return c
		}
		for j := 0; j < in; j++ {
			t.Left = append(t.Left, node(lt.left[j]))
			t.Right = append(t.Right, node(lt.right[j]))
			t.Feature = append(t.Feature, lt.feature[j])
			t.Value = append(t.Value, 0)
			t.Cover = append(t.Cover, lt.count[j])
		}
		for j, v := range lt.leaf {
			t.Left = append(t.Left, -1)
			t.Right = append(t.Right, -1)
			t.Feature = append(t.Feature, -1)
			t.Value = append(t.Value, v*scale)
			c := 1.0 // a lone leaf's cover is never used
			if in > 0 {
				c = lt.leafCount[j]
			}
			t.Cover = append(t.Cover, c)
		}
		t.GoesLeft = lt.goesLeft
		e.Trees = append(e.Trees, t)
	}
	return e
}

// link names how the objective maps the margin to the prediction. A binary
// model with sigmoid≠1 maps p = 1/(1+exp(−σ·margin)): "scaled_logit".
func (m *lgbModel) link() string {
	switch m.obj {
	case "binary", "multiclassova", "multiclass_ova", "ova", "ovr":
		if m.sigmoid != 1 {
			return "scaled_logit"
		}
		return explain.LinkLogit
	case "cross_entropy", "xentropy":
		return explain.LinkLogit
	case "poisson", "gamma", "tweedie":
		return explain.LinkLog
	case "multiclass", "softmax":
		return explain.LinkSoftmax
	}
	return explain.LinkIdentity
}

func (m *lgbModel) predictRow(x []float64, out []float64) {
	var buf [16]float64
	raw := buf[:0]
	if m.perIter > len(buf) {
		raw = make([]float64, 0, m.perIter)
	}
	raw = raw[:m.perIter]
	clear(raw)
	for i := range m.trees {
		raw[i%m.perIter] += m.trees[i].predict(x)
	}
	if m.average {
		iters := float64(len(m.trees) / m.perIter)
		for k := range raw {
			raw[k] /= iters
		}
	}
	m.transfer(raw, out)
}
