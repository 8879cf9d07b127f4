package monitor

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/ml"
	"github.com/tern-studio/tern/backend/predlog"
)

// Tasks realised performance is measured for.
const (
	TaskClassification = "classification"
	TaskRegression     = "regression"
)

// Realised metrics. Higher is better except RMSE and MAE.
const (
	MetricAccuracy  = "accuracy"
	MetricPrecision = "precision"
	MetricRecall    = "recall"
	MetricF1        = "f1"
	MetricROCAUC    = "roc_auc"
	MetricRMSE      = "rmse"
	MetricMAE       = "mae"
	MetricR2        = "r2"
)

// Metrics lists every realised metric a rule may name, in display order.
var Metrics = []string{MetricAccuracy, MetricPrecision, MetricRecall, MetricF1, MetricROCAUC, MetricRMSE, MetricMAE, MetricR2}

func lowerIsBetter(metric string) bool { return metric == MetricRMSE || metric == MetricMAE }

// Performance is realised model quality once labels arrived: labels
// joined to logged predictions by request ID, metrics per time window of
// the prediction's time. Aggregates only.
type Performance struct {
	Deployment string `json:"deployment"`
	Task       string `json:"task"`
	// Positive is the class precision, recall, F1 and ROC-AUC are about
	// (binary classification); multi-class scores are macro averages.
	Positive  string `json:"positive,omitempty"`
	Labels    int    `json:"labels"`    // labels held for the deployment
	Matched   int    `json:"matched"`   // joined to a logged prediction
	Unmatched int    `json:"unmatched"` // request ID not in the prediction log
	// Unusable were joined but their answer held no readable prediction
	// at the labelled row (an error status, a row the answer lacks).
	Unusable int           `json:"unusable"`
	Window   time.Duration `json:"window"` // nanoseconds in JSON
	Windows  []PerfWindow  `json:"windows"`
	Overall  PerfWindow    `json:"overall"`
	Notes    []string      `json:"notes,omitempty"`
	Updated  time.Time     `json:"updated"`
}

// PerfWindow holds the metrics of predictions made in [From, To). A metric
// that is undefined for the window (no positives, one class) is absent.
type PerfWindow struct {
	From    time.Time          `json:"from"`
	To      time.Time          `json:"to"`
	N       int                `json:"n"`
	Metrics map[string]float64 `json:"metrics"`
}

// Latest returns the newest window where metric is defined.
func (p *Performance) Latest(metric string) (PerfWindow, float64, bool) {
	for i := len(p.Windows) - 1; i >= 0; i-- {
		if v, ok := p.Windows[i].Metrics[metric]; ok {
			return p.Windows[i], v, true
		}
	}
	return PerfWindow{}, 0, false
}

// prediction is what one logged answer said.
type prediction struct {
	label    string // canonical, as labels are
	num      float64
	isNum    bool
	score    float64 // probability of class "1"
	hasScore bool
	probs    bool // came from a probability vector
}

// readPrediction reads prediction row of a scoring response:
// {"predictions": [x, …]}, [x, …], or V2 {"outputs": [{"shape": [n, k], "data": …}]}.
// x may be a number, text, a boolean, a probability vector (argmax is the
// class, the last entry of two is the score of class 1) or an object with
// a label and a probability.
func readPrediction(resp []byte, row int) (prediction, bool) {
	var v any
	if json.Unmarshal(resp, &v) != nil {
		return prediction{}, false
	}
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case map[string]any:
		if p, ok := x["predictions"].([]any); ok {
			list = p
		} else if outs, ok := x["outputs"].([]any); ok && len(outs) > 0 {
			t, _ := outs[0].(map[string]any)
			data, _ := t["data"].([]any)
			data = flatten(data)
			shape, _ := t["shape"].([]any)
			k, _ := func() (float64, bool) {
				if len(shape) == 2 {
					f, ok := shape[1].(float64)
					return f, ok
				}
				return 0, false
			}()
			if k > 1 && k == math.Trunc(k) && len(data)%int(k) == 0 {
				// [n, k]: one probability vector per row.
				for i := 0; i < len(data); i += int(k) {
					list = append(list, data[i:i+int(k)])
				}
			} else {
				list = data
			}
		}
	}
	if row < 0 || row >= len(list) {
		return prediction{}, false
	}
	return readOne(list[row])
}

func readOne(v any) (prediction, bool) {
	switch x := v.(type) {
	case float64:
		l, err := canonicalNumber(x)
		return prediction{label: l, num: x, isNum: true}, err == nil
	case string, bool:
		l, err := canonicalLabel(x)
		if err != nil {
			return prediction{}, false
		}
		p := prediction{label: l}
		if f, err := strconv.ParseFloat(l, 64); err == nil {
			p.num, p.isNum = f, true
		}
		return p, true
	case []any:
		if len(x) == 1 {
			return readOne(x[0])
		}
		best, arg := math.Inf(-1), -1
		for i, e := range x {
			f, ok := e.(float64)
			if !ok || math.IsNaN(f) {
				return prediction{}, false
			}
			if f > best {
				best, arg = f, i
			}
		}
		if arg < 0 {
			return prediction{}, false
		}
		p := prediction{label: strconv.Itoa(arg), num: float64(arg), isNum: true, probs: true}
		if len(x) == 2 {
			p.score, p.hasScore = x[1].(float64), true
		}
		return p, true
	case map[string]any:
		var p prediction
		ok := false
		for _, k := range []string{"label", "prediction", "predicted_label", "value"} {
			if y, present := x[k]; present {
				if p, ok = readOne(y); ok {
					break
				}
			}
		}
		for _, k := range []string{"probability", "score", "probabilities"} {
			switch s := x[k].(type) {
			case float64:
				p.score, p.hasScore = s, true
			case []any:
				if len(s) == 2 {
					if f, isF := s[1].(float64); isF {
						p.score, p.hasScore = f, true
					}
				}
			}
		}
		return p, ok
	}
	return prediction{}, false
}

// joined is one label with the prediction it judges.
type joined struct {
	at   time.Time
	y    string
	yNum float64
	yIsN bool
	p    prediction
}

// decideTask picks classification or regression from what was joined,
// unless the monitor says. Classes are text, booleans, probability
// vectors, or integers on both sides with few distinct values; 0/1 labels
// against numbers in [0, 1] are a binary classifier's scores.
func decideTask(pairs []joined, forced string) (task string, scores bool) {
	allNum, allInt, binaryY, unit := true, true, true, true
	classes := map[string]bool{}
	for _, j := range pairs {
		if j.p.probs || !j.p.isNum || !j.yIsN {
			allNum = false
		}
		if j.yIsN && j.yNum != math.Trunc(j.yNum) || j.p.isNum && j.p.num != math.Trunc(j.p.num) {
			allInt = false
		}
		if j.y != "0" && j.y != "1" {
			binaryY = false
		}
		if !j.p.isNum || j.p.num < 0 || j.p.num > 1 {
			unit = false
		}
		classes[j.y] = true
	}
	scores = forced != TaskRegression && binaryY && unit && !allInt
	switch {
	case forced != "":
		return forced, scores
	case !allNum:
		return TaskClassification, false
	case scores:
		return TaskClassification, true
	case allInt && len(classes) <= 20:
		return TaskClassification, false
	}
	return TaskRegression, false
}

// computePerformance groups joined pairs by window and scores each.
func computePerformance(pairs []joined, width time.Duration, forced string) Performance {
	var perf Performance
	if len(pairs) == 0 {
		return perf
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a].at.Before(pairs[b].at) })
	task, scores := decideTask(pairs, forced)
	perf.Task = task
	if scores {
		// A single number in [0, 1] against 0/1 labels is the score of
		// class 1; the predicted class is its 0.5 cut.
		for i := range pairs {
			pairs[i].p.score, pairs[i].p.hasScore = pairs[i].p.num, true
			pairs[i].p.label = "0"
			if pairs[i].p.num >= 0.5 {
				pairs[i].p.label = "1"
			}
		}
		perf.Notes = append(perf.Notes, "Predictions are numbers between 0 and 1 against 0/1 labels: they are read as the probability of class 1, cut at 0.5.")
	}
	if width <= 0 {
		width = autoWidth(pairs[len(pairs)-1].at.Sub(pairs[0].at))
	}
	perf.Window = width
	if task == TaskClassification {
		perf.Positive = positiveClass(pairs)
	}
	score := func(ps []joined) map[string]float64 {
		if task == TaskRegression {
			return regressionMetrics(ps)
		}
		return classificationMetrics(ps, perf.Positive)
	}
	for i := 0; i < len(pairs); {
		from := pairs[i].at.UTC().Truncate(width)
		j := i
		for j < len(pairs) && pairs[j].at.Before(from.Add(width)) {
			j++
		}
		perf.Windows = append(perf.Windows, PerfWindow{From: from, To: from.Add(width), N: j - i, Metrics: score(pairs[i:j])})
		i = j
	}
	perf.Overall = PerfWindow{From: perf.Windows[0].From, To: perf.Windows[len(perf.Windows)-1].To, N: len(pairs), Metrics: score(pairs)}
	return perf
}

// autoWidth chooses a round window so the span has at most ~30 of them.
func autoWidth(span time.Duration) time.Duration {
	for _, w := range []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
		if span/w < 30 {
			return w
		}
	}
	return 30 * 24 * time.Hour
}

// positiveClass is "1" or "true" when present, else the last class in
// order; only binary problems use it.
func positiveClass(pairs []joined) string {
	set := map[string]bool{}
	for _, j := range pairs {
		set[j.y] = true
		set[j.p.label] = true
	}
	if len(set) > 2 {
		return ""
	}
	for _, c := range []string{"1", "true"} {
		if set[c] {
			return c
		}
	}
	var cs []string
	for c := range set {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	return cs[len(cs)-1]
}

func classificationMetrics(ps []joined, positive string) map[string]float64 {
	m := map[string]float64{}
	if len(ps) == 0 {
		return m
	}
	right := 0
	for _, j := range ps {
		if j.y == j.p.label {
			right++
		}
	}
	m[MetricAccuracy] = float64(right) / float64(len(ps))
	prf := func(pos string) (p, r, f float64, okP, okR bool) {
		tp, fp, fn := 0, 0, 0
		for _, j := range ps {
			switch {
			case j.p.label == pos && j.y == pos:
				tp++
			case j.p.label == pos:
				fp++
			case j.y == pos:
				fn++
			}
		}
		if tp+fp > 0 {
			p, okP = float64(tp)/float64(tp+fp), true
		}
		if tp+fn > 0 {
			r, okR = float64(tp)/float64(tp+fn), true
		}
		if okP && okR && p+r > 0 {
			f = 2 * p * r / (p + r)
		}
		return
	}
	if positive != "" {
		p, r, f, okP, okR := prf(positive)
		if okP {
			m[MetricPrecision] = p
		}
		if okR {
			m[MetricRecall] = r
		}
		if okP && okR {
			m[MetricF1] = f
		}
		if auc, ok := rocAUC(ps, positive); ok {
			m[MetricROCAUC] = auc
		}
		return m
	}
	// Macro averages over the classes the labels hold.
	classes := map[string]bool{}
	for _, j := range ps {
		classes[j.y] = true
	}
	var sp, sr, sf float64
	var np, nr int
	for c := range classes {
		p, r, f, okP, _ := prf(c)
		if okP {
			sp += p
			np++
		}
		sr += r
		nr++
		sf += f
	}
	if np > 0 {
		m[MetricPrecision] = sp / float64(np)
	}
	m[MetricRecall] = sr / float64(nr)
	m[MetricF1] = sf / float64(nr)
	return m
}

// rocAUC is ml.ROCAUC over the joined predictions' scores; ok is false
// when a prediction has no score or one class is absent.
func rocAUC(ps []joined, positive string) (float64, bool) {
	scores := make([]float64, 0, len(ps))
	pos := make([]bool, 0, len(ps))
	for _, j := range ps {
		if !j.p.hasScore || math.IsNaN(j.p.score) {
			return 0, false
		}
		scores = append(scores, j.p.score)
		pos = append(pos, j.y == positive)
	}
	auc := ml.ROCAUC(scores, pos)
	return auc, !math.IsNaN(auc)
}

func regressionMetrics(ps []joined) map[string]float64 {
	m := map[string]float64{}
	var se, ae, sy float64
	n := 0
	for _, j := range ps {
		if !j.yIsN || !j.p.isNum {
			continue
		}
		d := j.p.num - j.yNum
		se += d * d
		ae += math.Abs(d)
		sy += j.yNum
		n++
	}
	if n == 0 {
		return m
	}
	m[MetricRMSE] = math.Sqrt(se / float64(n))
	m[MetricMAE] = ae / float64(n)
	mean := sy / float64(n)
	var st float64
	for _, j := range ps {
		if j.yIsN && j.p.isNum {
			st += (j.yNum - mean) * (j.yNum - mean)
		}
	}
	if n >= 2 && st > 0 {
		m[MetricR2] = 1 - se/st
	}
	return m
}

// joinLabels pairs labels with the deployment's logged live predictions
// through the request-ID index, counting what did not join.
func joinLabels(rs map[string]predlog.Record, labels []Label) (pairs []joined, unmatched, unusable int) {
	for _, l := range labels {
		rec, ok := rs[l.RequestID]
		if !ok {
			unmatched++
			continue
		}
		if rec.Status < 200 || rec.Status >= 300 {
			unusable++
			continue
		}
		p, ok := readPrediction(rec.Response, l.Row)
		if !ok {
			unusable++
			continue
		}
		j := joined{at: time.Unix(0, rec.Time), y: l.Value, p: p}
		if f, err := strconv.ParseFloat(l.Value, 64); err == nil {
			j.yNum, j.yIsN = f, true
		}
		pairs = append(pairs, j)
	}
	return pairs, unmatched, unusable
}

// PerformanceSVG draws one realised metric over time in the shared chart
// style: x is the window number from the first, y the metric (0–1 for the
// bounded ones, so a drop reads as a drop), a dot on every window and a
// gap where a window lacks the metric.
func PerformanceSVG(p *Performance, metric string, width, height int) ([]byte, error) {
	pl, err := performancePlot(p, metric)
	if err != nil {
		return nil, err
	}
	if width <= 0 {
		width = 480
	}
	if height <= 0 {
		height = 220
	}
	return chart.SVG(pl, width, height)
}

// performancePlot is the chart on any canvas (SVG in the app and HTML,
// the PDF's page).
func performancePlot(p *Performance, metric string) (*plot.Plot, error) {
	xl := "window"
	if len(p.Windows) > 0 {
		xl = "window of " + shortDuration(p.Window) + " from " + p.Windows[0].From.Format("2006-01-02 15:04 MST")
	}
	st := chart.Default
	pl := chart.New(st, chart.Options{Title: "Realised " + metricName(metric), XLabel: xl, YLabel: metricName(metric)})
	chart.Grid(pl, st)
	var seg, all plotter.XYs
	flush := func() error {
		if len(seg) > 1 {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return err
			}
			l.LineStyle = draw.LineStyle{Color: st.Color(0), Width: vg.Points(1.2)}
			pl.Add(l)
		}
		seg = nil
		return nil
	}
	for i, w := range p.Windows {
		v, ok := w.Metrics[metric]
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		pt := plotter.XY{X: float64(i + 1), Y: v}
		seg, all = append(seg, pt), append(all, pt)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(all) > 0 {
		sc, err := plotter.NewScatter(all)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: st.Color(0), Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		pl.Add(sc)
	}
	pl.X.Min, pl.X.Max = 0.5, math.Max(1.5, float64(len(p.Windows))+0.5)
	// Whole windows only: a tick at 1.5 would name no window.
	var ticks []plot.Tick
	step := max(1, (len(p.Windows)+9)/10)
	for i := 1; i <= max(1, len(p.Windows)); i += step {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: strconv.Itoa(i)})
	}
	pl.X.Tick.Marker = plot.ConstantTicks(ticks)
	if bounded(metric) {
		pl.Y.Min, pl.Y.Max = 0, 1
	} else if len(all) == 0 {
		pl.Y.Min, pl.Y.Max = 0, 1
	} else {
		pl.Y.Min = math.Min(0, pl.Y.Min)
	}
	return pl, nil
}

// bounded metrics live in [0, 1].
func bounded(metric string) bool {
	switch metric {
	case MetricAccuracy, MetricPrecision, MetricRecall, MetricF1, MetricROCAUC:
		return true
	}
	return false
}

func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

var metricNames = map[string]string{
	MetricAccuracy: "accuracy", MetricPrecision: "precision", MetricRecall: "recall", MetricF1: "F1",
	MetricROCAUC: "ROC-AUC", MetricRMSE: "RMSE", MetricMAE: "MAE", MetricR2: "R²",
}

func metricName(m string) string {
	if n, ok := metricNames[m]; ok {
		return n
	}
	return m
}
