package ml

import (
	"math"
	"sort"
)

// CurvePoint is one point of a ROC (X=false positive rate, Y=true positive
// rate) or precision-recall (X=recall, Y=precision) curve.
type CurvePoint struct {
	X         float64 `json:"x"`
	Y         float64 `json:"y"`
	Threshold float64 `json:"threshold"`
}

// Confusion is a confusion matrix: Matrix[true][predicted].
type Confusion struct {
	Labels []string `json:"labels"`
	Matrix [][]int  `json:"matrix"`
}

// Evaluation is a model's quality on held-out rows.
type Evaluation struct {
	Task    string             `json:"task"`
	Rows    int                `json:"rows"`
	Metrics map[string]float64 `json:"metrics"`
	// Baseline holds the same metrics for the trivial model (majority class
	// or mean), so "better than nothing" is visible.
	Baseline  map[string]float64 `json:"baseline"`
	Confusion *Confusion         `json:"confusion,omitempty"`
	ROC       []CurvePoint       `json:"roc,omitempty"`
	PR        []CurvePoint       `json:"pr,omitempty"`
}

// EvaluateClassifier scores probabilities (n×k, row-major) against true
// class indices. For two classes, class 1 is the positive one; for more,
// precision/recall/F1 and ROC-AUC are macro averages (one-vs-rest).
func EvaluateClassifier(classes []string, y []int, proba []float64) *Evaluation {
	n, k := len(y), len(classes)
	metrics, cm := classifierScores(y, proba, k)
	ev := &Evaluation{Task: Classification, Rows: n, Metrics: metrics, Baseline: map[string]float64{}}
	ev.Confusion = &Confusion{Labels: classes, Matrix: cm}
	if k == 2 {
		scores := make([]float64, n)
		pos := make([]bool, n)
		for i := range scores {
			scores[i] = proba[i*2+1]
			pos[i] = y[i] == 1
		}
		ev.ROC, ev.PR = curves(scores, pos)
		ev.Metrics["average_precision"] = averagePrecision(scores, pos)
	}

	// Majority-class baseline.
	counts := make([]int, k)
	for _, c := range y {
		counts[c]++
	}
	maj := 0
	for c := range counts {
		if counts[c] > counts[maj] {
			maj = c
		}
	}
	ev.Baseline["accuracy"] = ratio(float64(counts[maj]), float64(n))
	var bll float64
	for c := range counts {
		if counts[c] > 0 {
			p := float64(counts[c]) / float64(n)
			bll -= float64(counts[c]) * math.Log(p)
		}
	}
	ev.Baseline["log_loss"] = bll / float64(n)
	ev.Baseline["roc_auc"] = 0.5
	return ev
}

// ScoreClassifier is EvaluateClassifier's headline metrics alone —
// accuracy, log_loss, precision, recall, f1 and roc_auc — without curves
// or baseline, for callers that score many resamples (backend/evaluate's
// bootstrap).
func ScoreClassifier(k int, y []int, proba []float64) map[string]float64 {
	m, _ := classifierScores(y, proba, k)
	return m
}

// classifierScores computes the headline metrics and the confusion matrix.
func classifierScores(y []int, proba []float64, k int) (map[string]float64, [][]int) {
	n := len(y)
	metrics := map[string]float64{}
	cm := make([][]int, k)
	for i := range cm {
		cm[i] = make([]int, k)
	}
	var ll float64
	for i := 0; i < n; i++ {
		pr := proba[i*k : (i+1)*k]
		best := 0
		for c := range pr {
			if pr[c] > pr[best] {
				best = c
			}
		}
		cm[y[i]][best]++
		ll -= math.Log(math.Min(math.Max(pr[y[i]], 1e-15), 1))
	}
	correct := 0
	for c := 0; c < k; c++ {
		correct += cm[c][c]
	}
	metrics["accuracy"] = ratio(float64(correct), float64(n))
	metrics["log_loss"] = ll / float64(n)
	prec, rec, f1 := prf(cm, k)
	metrics["precision"], metrics["recall"], metrics["f1"] = prec, rec, f1
	scores := make([]float64, n)
	pos := make([]bool, n)
	if k == 2 {
		for i := range scores {
			scores[i] = proba[i*2+1]
			pos[i] = y[i] == 1
		}
		metrics["roc_auc"] = ROCAUC(scores, pos)
		return metrics, cm
	}
	var auc float64
	for c := 0; c < k; c++ {
		for i := range scores {
			scores[i] = proba[i*k+c]
			pos[i] = y[i] == c
		}
		auc += ROCAUC(scores, pos)
	}
	metrics["roc_auc"] = auc / float64(k)
	return metrics, cm
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// prf is precision, recall and F1 of the positive class for binary
// problems, macro-averaged otherwise.
func prf(cm [][]int, k int) (float64, float64, float64) {
	one := func(c int) (float64, float64, float64) {
		tp := float64(cm[c][c])
		var predicted, actual float64
		for i := 0; i < k; i++ {
			predicted += float64(cm[i][c])
			actual += float64(cm[c][i])
		}
		p, r := ratio(tp, predicted), ratio(tp, actual)
		return p, r, ratio(2*p*r, p+r)
	}
	if k == 2 {
		return one(1)
	}
	var P, R, F float64
	for c := 0; c < k; c++ {
		p, r, f := one(c)
		P, R, F = P+p, R+r, F+f
	}
	return P / float64(k), R / float64(k), F / float64(k)
}

// ROCAUC is the area under the ROC curve of scores for the positives
// marked in pos: the Mann-Whitney statistic with ties counted half. NaN
// when one class is absent. Training's evaluation and the monitor's
// realised performance both use it.
func ROCAUC(scores []float64, pos []bool) float64 {
	idx := sortedDesc(scores)
	np, nn := classCounts(pos)
	if np == 0 || nn == 0 {
		return math.NaN()
	}
	// Walk from the lowest score up, counting negatives below each positive.
	var auc, negBelow float64
	for i := len(idx) - 1; i >= 0; {
		j := i
		var tp, tn float64
		for j >= 0 && scores[idx[j]] == scores[idx[i]] {
			if pos[idx[j]] {
				tp++
			} else {
				tn++
			}
			j--
		}
		auc += tp * (negBelow + tn/2)
		negBelow += tn
		i = j
	}
	return auc / (np * nn)
}

// classCounts counts the positives and negatives of pos.
func classCounts(pos []bool) (np, nn float64) {
	for _, p := range pos {
		if p {
			np++
		} else {
			nn++
		}
	}
	return np, nn
}

func sortedDesc(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

// curves returns ROC and PR points at every distinct threshold, thinned to
// at most ~200 points so they plot and store cheaply.
func curves(scores []float64, pos []bool) (roc, pr []CurvePoint) {
	np, nn := classCounts(pos)
	if np == 0 || nn == 0 {
		return nil, nil
	}
	roc = append(roc, CurvePoint{X: 0, Y: 0, Threshold: math.Inf(1)})
	eachThreshold(scores, pos, func(t, tp, fp float64) {
		roc = append(roc, CurvePoint{X: fp / nn, Y: tp / np, Threshold: t})
		pr = append(pr, CurvePoint{X: tp / np, Y: tp / (tp + fp), Threshold: t})
	})
	roc[0].Threshold = 1
	return thin(roc, 200), thin(pr, 200)
}

// eachThreshold walks the distinct scores from the highest down, giving
// at each the true and false positives of predicting positive at or above
// it.
func eachThreshold(scores []float64, pos []bool, at func(t, tp, fp float64)) {
	idx := sortedDesc(scores)
	var tp, fp float64
	for i := 0; i < len(idx); {
		t := scores[idx[i]]
		for i < len(idx) && scores[idx[i]] == t {
			if pos[idx[i]] {
				tp++
			} else {
				fp++
			}
			i++
		}
		at(t, tp, fp)
	}
}

func thin(pts []CurvePoint, max int) []CurvePoint {
	if len(pts) <= max {
		return pts
	}
	out := make([]CurvePoint, 0, max+1)
	step := float64(len(pts)-1) / float64(max-1)
	for i := 0; i < max; i++ {
		out = append(out, pts[int(float64(i)*step+0.5)])
	}
	return out
}

func averagePrecision(scores []float64, pos []bool) float64 {
	np, _ := classCounts(pos)
	if np == 0 {
		return math.NaN()
	}
	var ap, prevRecall float64
	eachThreshold(scores, pos, func(_, tp, fp float64) {
		r := tp / np
		ap += (r - prevRecall) * tp / (tp + fp)
		prevRecall = r
	})
	return ap
}

// EvaluateRegressor computes RMSE, MAE and R² of predictions against y,
// with the predict-the-mean baseline.
func EvaluateRegressor(y, pred []float64) *Evaluation {
	n := float64(len(y))
	ev := &Evaluation{Task: Regression, Rows: len(y), Metrics: map[string]float64{}, Baseline: map[string]float64{}}
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= n
	var se, ae, st, bae float64
	for i, v := range y {
		d := pred[i] - v
		se += d * d
		ae += math.Abs(d)
		st += (v - mean) * (v - mean)
		bae += math.Abs(v - mean)
	}
	ev.Metrics["rmse"] = math.Sqrt(se / n)
	ev.Metrics["mae"] = ae / n
	ev.Metrics["r2"] = 1 - ratio(se, st)
	ev.Baseline["rmse"] = math.Sqrt(st / n)
	ev.Baseline["mae"] = bae / n
	ev.Baseline["r2"] = 0
	return ev
}
