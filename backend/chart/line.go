package chart

import (
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// LineSeries is one curve of a line chart: a metric of a run over steps.
type LineSeries struct {
	Name string
	X, Y []float64
}

// Lines draws metric curves (one colour per series, legend when there is
// more than one). Non-finite points are left out and break the line, so a
// NaN step shows as a gap rather than a spike or an error.
func Lines(series []LineSeries, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	Grid(p, s)
	w, h := o.size()
	var thumbs []plot.Thumbnailer
	var names []string
	any := false
	for i, sr := range series {
		var segs []plotter.XYs
		var cur plotter.XYs
		for j := 0; j < min(len(sr.X), len(sr.Y)); j++ {
			x, y := sr.X[j], sr.Y[j]
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
				if len(cur) > 0 {
					segs = append(segs, cur)
					cur = nil
				}
				continue
			}
			cur = append(cur, plotter.XY{X: x, Y: y})
		}
		if len(cur) > 0 {
			segs = append(segs, cur)
		}
		ls := draw.LineStyle{Color: s.Color(i), Width: vg.Points(1.2)}
		var first plot.Thumbnailer
		for _, seg := range segs {
			any = true
			if len(seg) == 1 {
				sc, err := plotter.NewScatter(seg)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: s.Color(i), Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				if first == nil {
					first = sc
				}
				continue
			}
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.LineStyle = ls
			p.Add(l)
			if first == nil {
				first = l
			}
		}
		if first != nil {
			thumbs = append(thumbs, first)
			names = append(names, shorten(sr.Name, 28))
		}
	}
	if len(thumbs) > 1 {
		legend(p, s, names, thumbs...)
	}
	if !any {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	}
	return SVG(p, w, h)
}

// ParallelCoordinates draws one polyline per row across named axes, each
// axis scaled to its own min–max (compare runs across params and metrics).
// Missing values (NaN) break the line.
func ParallelCoordinates(axes []string, names []string, rows [][]float64, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	w, h := o.size()
	n := len(axes)
	lo := make([]float64, n)
	hi := make([]float64, n)
	for j := range axes {
		lo[j], hi[j] = math.Inf(1), math.Inf(-1)
		for _, r := range rows {
			if j < len(r) && !math.IsNaN(r[j]) && !math.IsInf(r[j], 0) {
				lo[j], hi[j] = math.Min(lo[j], r[j]), math.Max(hi[j], r[j])
			}
		}
	}
	norm := func(j int, v float64) float64 {
		if hi[j] == lo[j] {
			return 0.5
		}
		return (v - lo[j]) / (hi[j] - lo[j])
	}
	// vertical axis lines
	for j := 0; j < n; j++ {
		l, err := plotter.NewLine(plotter.XYs{{X: float64(j), Y: 0}, {X: float64(j), Y: 1}})
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: s.Grid, Width: vg.Points(0.8)}
		p.Add(l)
	}
	var thumbs []plot.Thumbnailer
	var labels []string
	for i, r := range rows {
		var cur plotter.XYs
		var first plot.Thumbnailer
		flush := func() error {
			if len(cur) == 0 {
				return nil
			}
			if len(cur) == 1 {
				sc, err := plotter.NewScatter(cur)
				if err != nil {
					return err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: s.Color(i), Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				if first == nil {
					first = sc
				}
			} else {
				l, err := plotter.NewLine(cur)
				if err != nil {
					return err
				}
				l.LineStyle = draw.LineStyle{Color: s.Color(i), Width: vg.Points(1.2)}
				p.Add(l)
				if first == nil {
					first = l
				}
			}
			cur = nil
			return nil
		}
		for j := 0; j < n; j++ {
			if j >= len(r) || math.IsNaN(r[j]) || math.IsInf(r[j], 0) {
				if err := flush(); err != nil {
					return nil, err
				}
				continue
			}
			cur = append(cur, plotter.XY{X: float64(j), Y: norm(j, r[j])})
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if first != nil && i < len(names) {
			thumbs = append(thumbs, first)
			labels = append(labels, shorten(names[i], 28))
		}
	}
	if len(thumbs) > 0 {
		legend(p, s, labels, thumbs...)
	}
	p.X.Min, p.X.Max = -0.2, math.Max(float64(n)-0.8, 0.8)
	p.Y.Min, p.Y.Max = -0.05, 1.12
	ticks := make([]plot.Tick, n)
	for j, a := range axes {
		label := shorten(a, 16)
		if !math.IsInf(lo[j], 0) {
			label += "\n" + Compact(lo[j]) + "–" + Compact(hi[j])
		}
		ticks[j] = plot.Tick{Value: float64(j), Label: label}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Tick.Marker = plot.ConstantTicks(nil)
	p.Y.LineStyle.Width = 0
	p.X.LineStyle.Width = 0
	return SVG(p, w, h)
}
