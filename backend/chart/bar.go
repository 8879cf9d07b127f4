package chart

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Bar draws horizontal bars, one per label, top to bottom in the given
// order: category counts read best this way, labels never rotated.
func Bar(labels []string, values []float64, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	n := min(len(labels), len(values))
	w, h := o.size()
	if n > 0 {
		vals := make(plotter.Values, n)
		names := make([]string, n)
		for i := 0; i < n; i++ {
			// gonum draws index 0 at the bottom; the first label goes on top.
			vals[n-1-i] = values[i]
			names[n-1-i] = shorten(labels[i], 24)
		}
		// Bars fill ~70% of each row.
		rowH := vg.Length(h) * 0.75 * 0.7 / vg.Length(n+1)
		bc, err := plotter.NewBarChart(vals, rowH)
		if err != nil {
			return nil, err
		}
		bc.Horizontal = true
		bc.Color = s.Color(0)
		bc.LineStyle = draw.LineStyle{Color: s.Color(0), Width: 0}
		p.Add(bc)
		p.NominalY(names...)
		p.Y.Tick.Length = 0
		p.Y.LineStyle.Width = 0
		p.X.Min = 0
		hi := 0.0
		for _, v := range vals {
			hi = max(hi, v)
		}
		p.X.Max = hi * 1.06 // room so the longest bar does not touch the edge
		g := plotter.NewGrid()
		g.Horizontal.Width = 0
		g.Vertical.Color = s.Grid
		g.Vertical.Width = vg.Points(0.5)
		p.Add(g)
	}
	p.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick { return readableTicks{}.Ticks(min, max) })
	return SVG(p, w, h)
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
