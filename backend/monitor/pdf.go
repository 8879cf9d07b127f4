package monitor

import (
	"bytes"
	"fmt"
	"image/color"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgpdf"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
)

// A4 in points, with margins.
const (
	pageW  = 595
	pageH  = 842
	margin = 48
)

// pdfText maps the few characters the HTML uses that the PDF's cp1252 text
// encoding lacks.
var pdfText = strings.NewReplacer("≥", ">=", "≤", "<=", "−", "-", "∞", "inf", "±", "+/-", "·", "-", "—", "-", "–", "-", "…", "...")

type pdfDoc struct {
	c    *vgpdf.Canvas
	dc   draw.Canvas
	y    vg.Length
	page int
	ink  color.Color
}

func (d *pdfDoc) face(size vg.Length, bold bool) font.Face {
	f := font.Font{Typeface: "Liberation", Variant: "Sans"}
	if bold {
		f.Weight = 700
	}
	return font.DefaultCache.Lookup(f, size)
}

func (d *pdfDoc) newPage() {
	if d.page > 0 {
		d.c.NextPage()
	}
	d.page++
	d.y = pageH - margin
	d.c.SetColor(chart.Default.Ink)
	d.c.FillString(d.face(8, false), vg.Point{X: pageW - margin - 30, Y: margin / 2}, fmt.Sprintf("page %d", d.page))
}

func (d *pdfDoc) need(h vg.Length) {
	if d.y-h < margin {
		d.newPage()
	}
}

func (d *pdfDoc) text(s string, size vg.Length, bold bool, clr color.Color) {
	f := d.face(size, bold)
	lines := wrap(pdfText.Replace(s), f, pageW-2*margin)
	for _, l := range lines {
		d.need(size * 1.4)
		d.y -= size * 1.35
		d.c.SetColor(clr)
		d.c.FillString(f, vg.Point{X: margin, Y: d.y}, l)
	}
}

func (d *pdfDoc) cells(xs []vg.Length, vals []string, size vg.Length, bold bool, clr color.Color) {
	f := d.face(size, bold)
	d.need(size * 1.6)
	d.y -= size * 1.5
	d.c.SetColor(clr)
	for i, v := range vals {
		maxW := vg.Length(pageW-margin) - xs[i]
		if i+1 < len(xs) {
			maxW = xs[i+1] - xs[i] - 6
		}
		v = pdfText.Replace(v)
		for f.Width(v) > maxW && len([]rune(v)) > 4 {
			r := []rune(v)
			v = string(r[:len(r)-4]) + "..."
		}
		d.c.FillString(f, vg.Point{X: xs[i], Y: d.y}, v)
	}
}

func wrap(s string, f font.Face, width vg.Length) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(s) {
		try := w
		if line != "" {
			try = line + " " + w
		}
		if f.Width(try) > width && line != "" {
			out = append(out, line)
			line = w
			continue
		}
		line = try
	}
	return append(out, line)
}

func (d *pdfDoc) plot(p *plot.Plot, h vg.Length) {
	d.need(h + 14)
	d.y -= h + 8
	d.dc.Canvas = d.c
	canvas := draw.Canvas{Canvas: d.c, Rectangle: vg.Rectangle{Min: vg.Point{X: margin, Y: d.y}, Max: vg.Point{X: pageW - margin, Y: d.y + h}}}
	p.Draw(canvas)
	d.y -= 6
}

// PDF renders the report for print: the verdict, the serving figures, the
// drift table, then every evaluated column with its reason and overlay.
// Aggregates only, like the HTML.
func PDF(r *Report) ([]byte, error) {
	if r == nil || r.Drift == nil {
		return nil, core.Errorf(core.Invalid, "The report is empty.")
	}
	v, err := view(r)
	if err != nil {
		return nil, err
	}
	cols := v["Cols"].([]colView)
	d := &pdfDoc{c: vgpdf.New(pageW, pageH), ink: color.RGBA{0x1d, 0x23, 0x30, 0xff}}
	d.c.EmbedFonts(true)
	muted := chart.Default.Ink
	bad, ok := color.RGBA{0xc2, 0x41, 0x0c, 0xff}, color.RGBA{0x04, 0x78, 0x57, 0xff}
	d.newPage()
	d.text(r.Title, 18, true, d.ink)
	d.text(fmt.Sprintf("%s - %s - %d current rows against %d reference rows - created %s", r.Source, r.Window, r.Rows, r.Drift.RefRows, v["Created"]), 9, false, muted)
	d.y -= 8
	verdict, clr := "No dataset drift", ok
	if r.Drift.Drift {
		verdict, clr = "Dataset drift detected", bad
	}
	d.text(fmt.Sprintf("%s: %d of %d evaluated columns drifted (%.1f%%); the dataset counts as drifted from %.1f%%.",
		verdict, r.Drift.Drifted, r.Drift.Evaluated, 100*r.Drift.Share, 100*r.Drift.DriftShare), 11, true, clr)
	if o := r.Ops; o != nil {
		d.y -= 6
		d.text(fmt.Sprintf("Serving: %d requests, error rate %.1f%% (%d), latency p50 %s ms, p95 %s ms.",
			o.Requests, 100*o.ErrorRate, o.Errors, fmtNum(o.LatencyP50Ms), fmtNum(o.LatencyP95Ms)), 10, false, d.ink)
	}
	for _, a := range r.Alerts {
		d.text("Alert - "+a.Rule+": "+a.Message, 10, false, bad)
	}
	if imp := r.Importance; imp != nil {
		d.y -= 8
		d.text("Drift that matters", 12, true, d.ink)
		d.text(fmt.Sprintf("%.1f%% of %s v%d's importance sits on drifted columns (importance-weighted drift share; %s).",
			100*imp.WeightedShare, imp.Model, imp.Version, imp.Source), 9, false, muted)
		xs := []vg.Length{margin, margin + 180, margin + 270, margin + 360}
		d.cells(xs, []string{"Column", "Importance", "Mean |SHAP|", "Drift"}, 8, true, muted)
		for _, c := range imp.Columns {
			clr, verdict := d.ink, "no drift"
			if c.Drift {
				clr, verdict = bad, "drift"
			}
			d.cells(xs, []string{c.Column, fmt.Sprintf("%.1f%%", 100*c.Weight), fmtNum(c.MeanAbs), verdict}, 9, false, clr)
		}
		if imp.Covered < 0.9995 {
			d.text(fmt.Sprintf("The tested columns carry %.1f%% of the model's importance; the share speaks for that part only.", 100*imp.Covered), 9, false, muted)
		}
		for _, n := range imp.NotWeighted {
			d.text(fmt.Sprintf("Not weighted: %s (%.1f%% of the importance): %s.", n.Column, 100*n.Share, n.Reason), 9, false, muted)
		}
	}
	if p := r.Performance; p != nil {
		d.y -= 8
		d.text("Realised performance", 12, true, d.ink)
		d.text(fmt.Sprintf("%s: %d labels matched a logged prediction, %d unmatched, %d unusable; windows of %s by prediction time.",
			p.Task, p.Matched, p.Unmatched, p.Unusable, shortDuration(p.Window)), 9, false, muted)
		var metrics []string
		for _, m := range Metrics {
			if _, ok := p.Overall.Metrics[m]; ok {
				metrics = append(metrics, m)
			}
		}
		line := func(label string, w PerfWindow) string {
			s := fmt.Sprintf("%s (%d labelled):", label, w.N)
			for _, m := range metrics {
				v, ok := w.Metrics[m]
				s += " " + metricName(m) + " "
				if ok {
					s += fmtNum(v)
				} else {
					s += "-"
				}
			}
			return s
		}
		d.text(line("Overall", p.Overall), 9, false, d.ink)
		for _, w := range p.Windows {
			d.text(line(w.From.Format("2006-01-02 15:04:05 MST"), w), 9, false, d.ink)
		}
		if len(p.Windows) > 0 {
			pl, err := performancePlot(p, HeadlineMetric(p))
			if err != nil {
				return nil, core.Wrap(err, core.Internal, "The realised performance chart could not be drawn.")
			}
			d.plot(pl, 170)
		}
	}
	d.y -= 10
	xs := []vg.Length{margin, margin + 130, margin + 255, margin + 345, margin + 420}
	d.cells(xs, []string{"Column", "Test", "p-value / distance", "Threshold", "Verdict"}, 8, true, muted)
	for _, c := range cols {
		clr := d.ink
		if c.V.Drift {
			clr = bad
		}
		d.cells(xs, []string{c.V.Column, c.TestName, c.Value, c.Threshold, c.Verdict}, 9, false, clr)
	}
	for _, c := range cols {
		if c.V.Status != drift.StatusOK {
			continue
		}
		d.need(260)
		d.y -= 14
		d.text(c.V.Column+" - "+c.Verdict, 12, true, d.ink)
		d.text(c.V.Reason, 9, false, muted)
		if c.V.Rule != "" {
			d.text(fmt.Sprintf("%s: %s - %s.", c.TestName, c.Value, c.V.Rule), 9, false, d.ink)
		}
		if c.V.Note != "" {
			d.text(c.V.Note, 8, false, muted)
		}
		p, err := overlayPlot(c.V)
		if err != nil {
			return nil, core.Wrap(err, core.Internal, "The chart of column %q could not be drawn.", c.V.Column)
		}
		d.plot(p, 190)
	}
	var buf bytes.Buffer
	if _, err := d.c.WriteTo(&buf); err != nil {
		return nil, core.Wrap(err, core.Internal, "The PDF could not be written.")
	}
	return buf.Bytes(), nil
}

func overlayPlot(v drift.Verdict) (*plot.Plot, error) {
	return overlay(v, chart.Options{}, chart.OverlayHistogramPlot, chart.OverlayBarsPlot)
}
