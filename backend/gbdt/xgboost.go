package gbdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/explain"
)

// xgbFile is the part of XGBoost's JSON model (save_model("x.json"),
// schema of XGBoost 1.x to 3.x) that prediction needs.
type xgbFile struct {
	Version []int `json:"version"`
	Learner struct {
		FeatureNames     []string `json:"feature_names"`
		FeatureTypes     []string `json:"feature_types"`
		LearnerModelParm struct {
			BaseScore string `json:"base_score"`
			NumClass  string `json:"num_class"`
			NumFeat   string `json:"num_feature"`
			NumTarget string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		GradientBooster json.RawMessage `json:"gradient_booster"`
	} `json:"learner"`
}

type xgbGBTree struct {
	Name  string `json:"name"`
	Model struct {
		TreeInfo []int     `json:"tree_info"`
		Trees    []xgbTree `json:"trees"`
	} `json:"model"`
	// dart wraps a gbtree and scales each tree by its weight.
	GBTree     *xgbGBTree `json:"gbtree"`
	WeightDrop []float64  `json:"weight_drop"`
}

type xgbTree struct {
	Left      []int32   `json:"left_children"`
	Right     []int32   `json:"right_children"`
	Index     []int32   `json:"split_indices"`
	Cond      []float32 `json:"split_conditions"`
	DefLeft   []int     `json:"default_left"`
	SplitType []int     `json:"split_type"`
	// SumHess is each node's hessian sum (its cover), which explanations
	// weight absent features by.
	SumHess []float64 `json:"sum_hessian"`
	Param   struct {
		SizeLeafVector string `json:"size_leaf_vector"`
	} `json:"tree_param"`
}

// node is one flattened XGBoost node; leaf when left < 0.
type xgbNode struct {
	left, right int32
	feature     int32
	cond        float32
	defLeft     bool
	cover       float64
}

type xgbModel struct {
	trees   [][]xgbNode
	group   []int
	weight  []float32 // dart; nil for gbtree
	base    []float32 // base margin per output group
	groups  int
	nfeat   int
	names   []string
	obj     string
	outputs int
}

// ReadXGBoost parses a model saved by XGBoost's save_model as JSON or
// UBJSON (the formats of XGBoost 1.0 onwards, including 3.x's vector
// base_score; UBJSON is XGBoost's default since 2.1 and MLflow's model.ubj).
// Categorical splits, multi-target trees and the gblinear booster are
// refused as unsupported, never misread.
func ReadXGBoost(data []byte) (*Model, error) {
	if len(data) > maxModelBytes {
		return nil, core.Errorf(core.Invalid, "The XGBoost model is larger than %d MB.", maxModelBytes>>20)
	}
	if isUBJSON(data) {
		text, err := ubjsonToJSON(data)
		if err != nil {
			return nil, unsupported("XGBoost", "the UBJSON file cannot be read (%s)", shortErr(err))
		}
		data = text
	}
	var f xgbFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, unsupported("XGBoost", "the file is not XGBoost JSON (%s)", shortErr(err))
	}
	if len(f.Version) == 0 || len(f.Learner.GradientBooster) == 0 {
		return nil, unsupported("XGBoost", "the file has no learner or version; save the model with save_model(\"model.json\")")
	}
	if f.Version[0] < 1 || f.Version[0] > 3 {
		return nil, unsupported("XGBoost", "version %v is not one Tern reads (1.x to 3.x)", f.Version)
	}
	lp := f.Learner.LearnerModelParm
	nfeat, err := strconv.Atoi(lp.NumFeat)
	if err != nil || nfeat <= 0 || nfeat > 1<<20 {
		return nil, unsupported("XGBoost", "num_feature %q is not a positive count", lp.NumFeat)
	}
	nclass, _ := strconv.Atoi(lp.NumClass)
	if lp.NumTarget != "" && lp.NumTarget != "1" && lp.NumTarget != "0" {
		return nil, unsupported("XGBoost", "multi-target models (num_target=%s) are not supported", lp.NumTarget)
	}
	for i, t := range f.Learner.FeatureTypes {
		if t == "c" {
			return nil, unsupported("XGBoost", "feature %d is categorical; categorical splits are not supported", i)
		}
	}
	var gb xgbGBTree
	if err := json.Unmarshal(f.Learner.GradientBooster, &gb); err != nil {
		return nil, unsupported("XGBoost", "the gradient_booster section cannot be read (%s)", shortErr(err))
	}
	m := &xgbModel{nfeat: nfeat, names: f.Learner.FeatureNames, obj: f.Learner.Objective.Name}
	switch gb.Name {
	case "gbtree":
	case "dart":
		if gb.GBTree == nil {
			return nil, unsupported("XGBoost", "the dart booster holds no trees")
		}
		if len(gb.WeightDrop) != len(gb.GBTree.Model.Trees) {
			return nil, unsupported("XGBoost", "the dart booster has %d weights for %d trees", len(gb.WeightDrop), len(gb.GBTree.Model.Trees))
		}
		for _, w := range gb.WeightDrop {
			m.weight = append(m.weight, float32(w))
		}
		gb = *gb.GBTree
	default:
		return nil, unsupported("XGBoost", "booster %q is not supported (gbtree and dart are)", gb.Name)
	}
	m.groups = 1
	if nclass > 1 {
		m.groups = nclass
	}
	if len(gb.Model.TreeInfo) != len(gb.Model.Trees) {
		return nil, unsupported("XGBoost", "tree_info has %d entries for %d trees", len(gb.Model.TreeInfo), len(gb.Model.Trees))
	}
	for i, g := range gb.Model.TreeInfo {
		if g < 0 || g >= m.groups {
			return nil, unsupported("XGBoost", "tree %d belongs to output group %d of %d", i, g, m.groups)
		}
	}
	m.group = gb.Model.TreeInfo
	for i, t := range gb.Model.Trees {
		nodes, err := xgbNodes(t, nfeat)
		if err != nil {
			return nil, unsupported("XGBoost", "tree %d: %s", i, err)
		}
		m.trees = append(m.trees, nodes)
	}
	if err := m.setObjective(lp.BaseScore); err != nil {
		return nil, err
	}
	return &Model{Kind: "xgboost", Objective: m.obj, Features: nfeat, FeatureNames: m.names, Outputs: m.outputs, Trees: len(m.trees), row: m.predictRow, ensemble: m.ensemble}, nil
}

func xgbNodes(t xgbTree, nfeat int) ([]xgbNode, error) {
	n := len(t.Left)
	if n == 0 {
		return nil, fmt.Errorf("it has no nodes")
	}
	if len(t.Right) != n || len(t.Index) != n || len(t.Cond) != n || len(t.DefLeft) != n {
		return nil, fmt.Errorf("its node arrays differ in length")
	}
	if s := t.Param.SizeLeafVector; s != "" && s != "0" && s != "1" {
		return nil, fmt.Errorf("vector leaves are not supported")
	}
	nodes := make([]xgbNode, n)
	for i := range nodes {
		l, r := t.Left[i], t.Right[i]
		cover := math.NaN() // unknown: explaining refuses, predicting does not need it
		if len(t.SumHess) == n {
			cover = t.SumHess[i]
		}
		if l == -1 {
			nodes[i] = xgbNode{left: -1, cond: t.Cond[i], cover: cover}
			continue
		}
		// Children must come after their parent: that rules out cycles, so a
		// damaged file cannot loop forever.
		if l <= int32(i) || r <= int32(i) || int(l) >= n || int(r) >= n {
			return nil, fmt.Errorf("node %d has children out of order or range", i)
		}
		if len(t.SplitType) == n && t.SplitType[i] != 0 {
			return nil, fmt.Errorf("node %d is a categorical split, which is not supported", i)
		}
		if t.Index[i] < 0 || int(t.Index[i]) >= nfeat {
			return nil, fmt.Errorf("node %d splits on feature %d of %d", i, t.Index[i], nfeat)
		}
		nodes[i] = xgbNode{left: l, right: r, feature: t.Index[i], cond: t.Cond[i], defLeft: t.DefLeft[i] != 0, cover: cover}
	}
	return nodes, nil
}

// parseBaseScore reads "5E-1" (XGBoost < 3) or "[5E-1]" / "[a,b,c]" (3.x).
func parseBaseScore(s string, groups int) ([]float64, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var out []float64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return nil, fmt.Errorf("base_score %q is not a number", part)
		}
		out = append(out, v)
	}
	if len(out) == 1 && groups > 1 {
		for len(out) < groups {
			out = append(out, out[0])
		}
	}
	if len(out) != groups {
		return nil, fmt.Errorf("base_score has %d values for %d outputs", len(out), groups)
	}
	return out, nil
}

// setObjective turns base_score into a margin and picks the output
// transform, as XGBoost's objective's ProbToMargin and PredTransform do.
func (m *xgbModel) setObjective(baseScore string) error {
	base, err := parseBaseScore(baseScore, m.groups)
	if err != nil {
		return unsupported("XGBoost", "%s", err)
	}
	toMargin := func(v float64) float64 { return v }
	m.outputs = m.groups
	switch m.obj {
	case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror",
		"reg:quantileerror", "binary:logitraw", "rank:pairwise", "rank:ndcg", "rank:map", "binary:hinge":
	case "reg:logistic", "binary:logistic":
		toMargin = func(v float64) float64 { return -math.Log(1/v - 1) }
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		toMargin = math.Log
	case "multi:softprob":
	case "multi:softmax":
		m.outputs = 1
	default:
		return unsupported("XGBoost", "objective %q is not supported", m.obj)
	}
	m.base = make([]float32, m.groups)
	for i, b := range base {
		m.base[i] = float32(toMargin(b))
	}
	return nil
}

// goesLeft is XGBoost's decision at a node: missing values take the default
// branch, others compare as float32 (as XGBoost reads features).
func (nd *xgbNode) goesLeft(v float64) bool {
	if math.IsNaN(v) {
		return nd.defLeft
	}
	return float32(v) < nd.cond
}

// ensemble gives the trees to backend/explain, covers being XGBoost's
// sum_hessian (what XGBoost's own pred_contribs and shap weight by).
func (m *xgbModel) ensemble() *explain.Ensemble {
	e := &explain.Ensemble{Features: m.nfeat, Base: make([]float64, m.groups), Link: m.link()}
	for g, b := range m.base {
		e.Base[g] = float64(b)
	}
	for i, nodes := range m.trees {
		t := explain.Tree{Output: m.group[i]}
		for _, nd := range nodes {
			v := 0.0
			if nd.left < 0 {
				v = float64(nd.cond)
				if m.weight != nil {
					v = float64(nd.cond * m.weight[i])
				}
			}
			t.Left = append(t.Left, nd.left)
			t.Right = append(t.Right, nd.right)
			t.Feature = append(t.Feature, nd.feature)
			t.Value = append(t.Value, v)
			t.Cover = append(t.Cover, nd.cover)
		}
		t.GoesLeft = func(n int32, x []float64) bool {
			nd := &nodes[n]
			return nd.goesLeft(x[nd.feature])
		}
		e.Trees = append(e.Trees, t)
	}
	return e
}

// link names how the objective maps the margin to the prediction.
func (m *xgbModel) link() string {
	switch m.obj {
	case "reg:logistic", "binary:logistic":
		return explain.LinkLogit
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		return explain.LinkLog
	case "multi:softprob", "multi:softmax":
		return explain.LinkSoftmax
	}
	return explain.LinkIdentity
}

func (m *xgbModel) predictRow(x []float64, out []float64) {
	var buf [16]float32
	margin := buf[:0]
	if m.groups > len(buf) {
		margin = make([]float32, 0, m.groups)
	}
	margin = append(margin, m.base...)
	for i, nodes := range m.trees {
		// XGBoost reads features as float32 and compares in float32, so do
		// the same or thresholds between the two roundings split differently.
		j := int32(0)
		for nodes[j].left >= 0 {
			nd := &nodes[j]
			if nd.goesLeft(x[nd.feature]) {
				j = nd.left
			} else {
				j = nd.right
			}
		}
		leaf := nodes[j].cond
		if m.weight != nil {
			leaf *= m.weight[i]
		}
		margin[m.group[i]] += leaf
	}
	switch m.obj {
	case "reg:logistic", "binary:logistic":
		out[0] = float64(float32(1 / (1 + math.Exp(-float64(margin[0])))))
	case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
		out[0] = float64(float32(math.Exp(float64(margin[0]))))
	case "binary:hinge":
		out[0] = 0
		if margin[0] > 0 {
			out[0] = 1
		}
	case "multi:softprob":
		softmax32(margin, out)
	case "multi:softmax":
		best := 0
		for k := range margin {
			if margin[k] > margin[best] {
				best = k
			}
		}
		out[0] = float64(best)
	default:
		for k, v := range margin {
			out[k] = float64(v)
		}
	}
}

func softmax32(margin []float32, out []float64) {
	mx := margin[0]
	for _, v := range margin {
		mx = max(mx, v)
	}
	var sum float32
	for k, v := range margin {
		e := float32(math.Exp(float64(v - mx)))
		out[k] = float64(e)
		sum += e
	}
	for k := range margin {
		out[k] = float64(float32(out[k]) / sum)
	}
}
