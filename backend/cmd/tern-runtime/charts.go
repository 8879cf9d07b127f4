package main

import (
	"os"
	"path/filepath"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/ml"
)

// writeCurveCharts renders the ROC and precision-recall curves as SVG
// artifacts in Tern's shared chart style. A chart that cannot be drawn is
// skipped: the curve points are in the JSON files anyway.
func writeCurveCharts(dir string, ev *ml.Evaluation) {
	if len(ev.ROC) == 0 {
		return
	}
	draws := []struct {
		file, title, x, y string
		pts               []ml.CurvePoint
		diagonal          bool
	}{
		{"roc_curve.svg", "ROC curve", "False positive rate", "True positive rate", ev.ROC, true},
		{"pr_curve.svg", "Precision–recall curve", "Recall", "Precision", ev.PR, false},
	}
	for _, d := range draws {
		o := chart.Options{Title: d.title, XLabel: d.x, YLabel: d.y, Width: 420, Height: 360}
		s := chart.Default
		p := chart.New(s, o)
		chart.Grid(p, s)
		xy := make(plotter.XYs, len(d.pts))
		for i, pt := range d.pts {
			xy[i] = plotter.XY{X: pt.X, Y: pt.Y}
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			continue
		}
		line.Color = s.Color(0)
		line.Width = vg.Points(1.5)
		if d.diagonal {
			diag, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
			diag.Color = s.Grid
			diag.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			diag.LineStyle = draw.LineStyle{Color: s.Ink, Width: s.LineWidth, Dashes: diag.Dashes}
			p.Add(diag)
		}
		p.Add(line)
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		b, err := chart.SVG(p, 420, 360)
		if err != nil {
			continue
		}
		_ = os.WriteFile(filepath.Join(dir, d.file), b, 0o644)
	}
}
