package chart

import (
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"
)

// Histogram draws pre-binned counts: len(edges) == len(counts)+1. The
// bins come from the caller (a stored profile), never recomputed here.
func Histogram(edges, counts []float64, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	Grid(p, s)
	if len(edges) == len(counts)+1 && len(counts) > 0 {
		bins := make([]plotter.HistogramBin, len(counts))
		for i := range counts {
			bins[i] = plotter.HistogramBin{Min: edges[i], Max: edges[i+1], Weight: counts[i]}
		}
		h := &plotter.Histogram{Bins: bins, Width: edges[1] - edges[0], FillColor: s.Color(0),
			LineStyle: draw.LineStyle{Color: s.Color(0), Width: 0}}
		p.Add(h)
		p.X.Min, p.X.Max = edges[0], edges[len(edges)-1]
	}
	p.Y.Min = 0
	w, hh := o.size()
	return SVG(p, w, hh)
}
