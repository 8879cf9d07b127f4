package chart

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Overlays compare a reference distribution with a current one on the same
// axes (drift reports). Reference is the filled, muted series (palette 0 at
// low opacity), current the solid outline (palette 1), so that where they
// differ reads at a glance. Values are shares, never rows.

func faded(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: alpha}
}

func legend(p *plot.Plot, s Style, names []string, thumbs ...plot.Thumbnailer) {
	p.Legend.Top = true
	p.Legend.TextStyle.Color = s.Ink
	p.Legend.TextStyle.Font.Size = s.TextSize
	p.Legend.ThumbnailWidth = vg.Points(10)
	for i, t := range thumbs {
		p.Legend.Add(names[i], t)
	}
}

// OverlayHistogram draws binned shares of a numeric column: len(edges) ==
// len(ref)+1 == len(cur)+1.
func OverlayHistogram(edges, ref, cur []float64, o Options) ([]byte, error) {
	p, err := OverlayHistogramPlot(edges, ref, cur, o)
	if err != nil {
		return nil, err
	}
	w, h := o.size()
	return SVG(p, w, h)
}

// OverlayHistogramPlot is OverlayHistogram as a plot, for other canvases
// (the PDF report).
func OverlayHistogramPlot(edges, ref, cur []float64, o Options) (*plot.Plot, error) {
	s := o.style()
	p := New(s, o)
	Grid(p, s)
	n := len(edges) - 1
	if n > 0 && len(ref) == n && len(cur) == n {
		bins := make([]plotter.HistogramBin, n)
		for i := range bins {
			bins[i] = plotter.HistogramBin{Min: edges[i], Max: edges[i+1], Weight: ref[i]}
		}
		h := &plotter.Histogram{Bins: bins, Width: edges[1] - edges[0], FillColor: faded(s.Color(0), 0x66),
			LineStyle: draw.LineStyle{Color: color.Transparent, Width: 0}}
		pts := make(plotter.XYs, 0, n+1)
		for i := 0; i < n; i++ {
			pts = append(pts, plotter.XY{X: edges[i], Y: cur[i]})
		}
		pts = append(pts, plotter.XY{X: edges[n], Y: cur[n-1]})
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.StepStyle = plotter.PostStep
		line.Color = s.Color(1)
		line.Width = s.LineWidth * 2
		p.Add(h, line)
		p.X.Min, p.X.Max = edges[0], edges[n]
		legend(p, s, []string{"reference", "current"}, h, line)
	}
	p.Y.Min = 0
	return p, nil
}

// OverlayBars draws category shares as paired horizontal bars, one row per
// label, top to bottom in the given order.
func OverlayBars(labels []string, ref, cur []float64, o Options) ([]byte, error) {
	p, err := OverlayBarsPlot(labels, ref, cur, o)
	if err != nil {
		return nil, err
	}
	w, h := o.size()
	return SVG(p, w, h)
}

// OverlayBarsPlot is OverlayBars as a plot, for other canvases.
func OverlayBarsPlot(labels []string, ref, cur []float64, o Options) (*plot.Plot, error) {
	s := o.style()
	p := New(s, o)
	n := min(len(labels), len(ref), len(cur))
	_, h := o.size()
	if n > 0 {
		rv, cv := make(plotter.Values, n), make(plotter.Values, n)
		names := make([]string, n)
		hi := 0.0
		for i := 0; i < n; i++ {
			rv[n-1-i], cv[n-1-i] = ref[i], cur[i]
			names[n-1-i] = shorten(labels[i], 24)
			hi = max(hi, ref[i], cur[i])
		}
		barW := min(vg.Length(h)*0.75*0.7/vg.Length(2*(n+1)), vg.Points(9))
		rb, err := plotter.NewBarChart(rv, barW)
		if err != nil {
			return nil, err
		}
		cb, err := plotter.NewBarChart(cv, barW)
		if err != nil {
			return nil, err
		}
		for _, b := range []*plotter.BarChart{rb, cb} {
			b.Horizontal = true
			b.LineStyle = draw.LineStyle{Color: color.Transparent, Width: 0}
		}
		rb.Color, cb.Color = faded(s.Color(0), 0x99), s.Color(1)
		rb.Offset, cb.Offset = barW/2, -barW/2
		p.Add(rb, cb)
		p.NominalY(names...)
		p.Y.Tick.Length = 0
		p.Y.LineStyle.Width = 0
		p.X.Min, p.X.Max = 0, hi*1.3 // the right quarter stays free for the legend
		g := plotter.NewGrid()
		g.Horizontal.Width = 0
		g.Vertical.Color = s.Grid
		g.Vertical.Width = vg.Points(0.5)
		p.Add(g)
		legend(p, s, []string{"reference", "current"}, rb, cb)
	}
	p.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick { return readableTicks{}.Ticks(min, max) })
	return p, nil
}
