package monitor

import (
	"bytes"
	"embed"
	"html/template"
	"math"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
)

//go:embed templates/report.html
var templates embed.FS

var reportTmpl = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"pct": func(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" },
	"num": func(v any) string {
		switch x := v.(type) {
		case float64:
			return fmtNum(x)
		case drift.Num:
			return fmtNum(float64(x))
		}
		return ""
	},
}).ParseFS(templates, "templates/report.html"))

// fmtNum shows 4 significant digits: enough to read a verdict, and never
// the full precision of a value that could come straight from a row.
func fmtNum(f float64) string {
	switch {
	case math.IsNaN(f):
		return "—"
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "−∞"
	case f != 0 && math.Abs(f) < 1e-4:
		return strconv.FormatFloat(f, 'e', 2, 64)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

type colView struct {
	Index               int
	V                   drift.Verdict
	TestName            string
	Stat, Value         string
	StatSort, ValueSort string
	Threshold           string
	Verdict, Class      string
	Rank                int
	SVG                 template.HTML
}

var testNames = map[drift.Test]string{
	drift.TestKS: "Kolmogorov–Smirnov", drift.TestChiSquare: "chi-square", drift.TestZ: "z-test",
	drift.TestWasserstein: "Wasserstein (normed)", drift.TestJensenShannon: "Jensen–Shannon",
	drift.TestPSI: "PSI", drift.TestKL: "KL divergence", drift.TestHellinger: "Hellinger",
}

func sortKey(f float64) string {
	if math.IsNaN(f) {
		return "NaN"
	}
	if math.IsInf(f, 1) {
		return "1e308"
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func view(r *Report) (map[string]any, error) {
	cols := make([]colView, len(r.Drift.Columns))
	skipped := 0
	for i, v := range r.Drift.Columns {
		c := colView{Index: i, V: v, TestName: testNames[v.Test], Stat: fmtNum(float64(v.Statistic)), StatSort: sortKey(float64(v.Statistic))}
		if v.Test.PValued() {
			c.Value, c.ValueSort = "p = "+fmtNum(float64(v.PValue)), sortKey(float64(v.PValue))
			c.Threshold = "p ≤ " + fmtNum(float64(v.Threshold))
		} else {
			c.Value, c.ValueSort = fmtNum(float64(v.Distance)), sortKey(float64(v.Distance))
			c.Threshold = "≥ " + fmtNum(float64(v.Threshold))
		}
		switch {
		case v.Status == drift.StatusSkipped:
			c.Verdict, c.Class, c.Rank, c.Value, c.Threshold = "skipped", "na", 3, "—", "—"
			skipped++
		case v.Status != drift.StatusOK:
			c.Verdict, c.Class, c.Rank, c.Value, c.Threshold = "insufficient data", "na", 3, "—", "—"
			skipped++
		case v.Drift:
			c.Verdict, c.Class, c.Rank = "drift", "drift", 0
		case v.SmallEffect:
			c.Verdict, c.Class, c.Rank = "significant but small", "small", 1
		default:
			c.Verdict, c.Class, c.Rank = "no drift", "ok", 2
		}
		if v.Status == drift.StatusOK {
			svg, err := OverlaySVG(v, 480, 220)
			if err != nil {
				return nil, core.Wrap(err, core.Internal, "The chart of column %q could not be drawn.", v.Column)
			}
			c.SVG = template.HTML(stripXMLHeader(svg))
		}
		cols[i] = c
	}
	out := map[string]any{"R": r, "Cols": cols, "Skipped": skipped, "Created": r.Created.Format("2006-01-02 15:04 MST")}
	if r.Performance != nil {
		pv, err := perfView(r.Performance)
		if err != nil {
			return nil, err
		}
		out["Perf"] = pv
	}
	return out, nil
}

type namedValue struct{ Name, Value string }

type perfRow struct {
	From  string
	N     int
	Cells []string
}

// perfView lays out realised performance: overall cards, a row per window
// with the metrics the task has, and the headline metric over time.
func perfView(p *Performance) (map[string]any, error) {
	var metrics []string
	for _, m := range Metrics {
		if _, ok := p.Overall.Metrics[m]; ok {
			metrics = append(metrics, m)
		}
	}
	var names []string
	var overall []namedValue
	for _, m := range metrics {
		names = append(names, metricName(m))
		overall = append(overall, namedValue{metricName(m), fmtNum(p.Overall.Metrics[m])})
	}
	rows := make([]perfRow, len(p.Windows))
	for i, w := range p.Windows {
		rows[i] = perfRow{From: w.From.Format("2006-01-02 15:04:05 MST"), N: w.N}
		for _, m := range metrics {
			cell := "—"
			if v, ok := w.Metrics[m]; ok {
				cell = fmtNum(v)
			}
			rows[i].Cells = append(rows[i].Cells, cell)
		}
	}
	v := map[string]any{"P": p, "Names": names, "Overall": overall, "Rows": rows, "Width": shortDuration(p.Window)}
	if len(p.Windows) > 0 {
		svg, err := PerformanceSVG(p, HeadlineMetric(p), 480, 220)
		if err != nil {
			return nil, core.Wrap(err, core.Internal, "The realised performance chart could not be drawn.")
		}
		v["SVG"] = template.HTML(stripXMLHeader(svg))
	}
	return v, nil
}

// HeadlineMetric is the metric shown over time: accuracy for classifiers,
// RMSE for regressors.
func HeadlineMetric(p *Performance) string {
	if p.Task == TaskRegression {
		return MetricRMSE
	}
	return MetricAccuracy
}

// stripXMLHeader drops the <?xml …?> declaration and generator comment so
// the SVG can sit inline in HTML.
func stripXMLHeader(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		return svg[i:]
	}
	return svg
}

// HTML renders the report as one self-contained file: inline CSS, inline
// SVG charts, a few lines of inline script to sort the table, no network
// reference of any kind.
func HTML(r *Report) ([]byte, error) {
	if r == nil || r.Drift == nil {
		return nil, core.Errorf(core.Invalid, "The report is empty.")
	}
	v, err := view(r)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, v); err != nil {
		return nil, core.Wrap(err, core.Internal, "The report could not be rendered.")
	}
	return buf.Bytes(), nil
}
