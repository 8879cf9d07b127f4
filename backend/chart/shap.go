package chart

import (
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Low and high ends of the feature-value colour scale of SHAP plots (blue
// for a low value, vermilion for a high one, as shap draws them, in the
// palette's colour-blind-safe hues).
var (
	shapLow  = rgb(0x56b4e9)
	shapHigh = rgb(0xd55e00)
)

// blend is the colour of a feature value scaled to [0, 1]; NaN (missing,
// or a category) is the ink grey.
func blend(s Style, t float64) color.Color {
	if math.IsNaN(t) {
		return s.Ink
	}
	t = math.Max(0, math.Min(1, t))
	a, b := color.RGBAModel.Convert(shapLow).(color.RGBA), color.RGBAModel.Convert(shapHigh).(color.RGBA)
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-t) + float64(y)*t)) }
	return color.RGBA{R: mix(a.R, b.R), G: mix(a.G, b.G), B: mix(a.B, b.B), A: 0xff}
}

// SwarmRow is one feature of a beeswarm: a SHAP value per row and the
// row's feature value scaled to [0, 1] for its colour (NaN: grey).
type SwarmRow struct {
	Name   string
	SHAP   []float64
	Colour []float64
}

// Beeswarm draws shap's summary plot: one row per feature, top first, each
// explained row a dot at its SHAP value, stacked where dots would overlap
// and coloured from low (blue) to high (vermilion) feature value, with a
// line at zero.
func Beeswarm(rows []SwarmRow, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	w, h := o.size()
	n := len(rows)
	names := make([]string, n)
	lo, hi := 0.0, 0.0
	for _, r := range rows {
		for _, v := range r.SHAP {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == lo {
		hi = lo + 1
	}
	radius := vg.Points(1.6)
	for i, r := range rows {
		y := float64(n - 1 - i) // gonum draws 0 at the bottom; the first row goes on top
		names[n-1-i] = shorten(r.Name, 24)
		pts, cols := swarm(r, y, lo, hi)
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyleFunc = func(k int) draw.GlyphStyle {
			return draw.GlyphStyle{Color: blend(s, cols[k]), Radius: radius, Shape: draw.CircleGlyph{}}
		}
		p.Add(sc)
	}
	if n > 0 {
		zero, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -0.5}, {X: 0, Y: float64(n) - 0.5}})
		if err != nil {
			return nil, err
		}
		zero.LineStyle = draw.LineStyle{Color: s.Ink, Width: s.LineWidth}
		p.Add(zero)
		p.NominalY(names...)
		p.Y.Min, p.Y.Max = -0.5, float64(n)-0.5
	}
	p.Y.Tick.Length = 0
	p.Y.LineStyle.Width = 0
	pad := (hi - lo) * 0.04
	p.X.Min, p.X.Max = lo-pad, hi+pad
	g := plotter.NewGrid()
	g.Horizontal.Width = 0
	g.Vertical.Color = s.Grid
	g.Vertical.Width = vg.Points(0.5)
	p.Add(g)
	return SVG(p, w, h)
}

// swarm places a row's dots: SHAP values are binned across the x range and
// the dots of a bin are spread up and down from the row's centre line in
// turn, so density shows as height, as shap's summary plot does.
func swarm(r SwarmRow, y, lo, hi float64) (plotter.XYs, []float64) {
	const bins = 80
	const maxHalf = 0.4 // a row keeps within ±0.4 of its line
	idx := make([]int, 0, len(r.SHAP))
	for i, v := range r.SHAP {
		if !math.IsNaN(v) {
			idx = append(idx, i)
		}
	}
	// Sorting by value makes the placement the same whatever the row order.
	sort.SliceStable(idx, func(a, b int) bool { return r.SHAP[idx[a]] < r.SHAP[idx[b]] })
	count := make([]int, bins)
	for _, i := range idx {
		count[bin(r.SHAP[i], lo, hi, bins)]++
	}
	most := 1
	for _, c := range count {
		most = max(most, c)
	}
	step := maxHalf / math.Max(1, float64(most)/2)
	step = math.Min(step, 0.08)
	seen := make([]int, bins)
	pts := make(plotter.XYs, 0, len(idx))
	cols := make([]float64, 0, len(idx))
	for _, i := range idx {
		b := bin(r.SHAP[i], lo, hi, bins)
		k := seen[b]
		seen[b]++
		off := float64((k+1)/2) * step
		if k%2 == 1 {
			off = -off
		}
		pts = append(pts, plotter.XY{X: r.SHAP[i], Y: y + off})
		c := math.NaN()
		if i < len(r.Colour) {
			c = r.Colour[i]
		}
		cols = append(cols, c)
	}
	return pts, cols
}

func bin(v, lo, hi float64, bins int) int {
	return min(bins-1, max(0, int((v-lo)/(hi-lo)*float64(bins))))
}

// Dependence draws one feature's SHAP value (y) against its value (x) for
// every explained row: how the model's output moves with the feature. A
// categorical feature passes its categories as labels and the category's
// index as x; its dots are spread sideways within their category.
func Dependence(x, shap []float64, labels []string, o Options) ([]byte, error) {
	s := o.style()
	p := New(s, o)
	w, h := o.size()
	var pts plotter.XYs
	seen := map[int]int{}
	for i := range min(len(x), len(shap)) {
		if math.IsNaN(x[i]) || math.IsNaN(shap[i]) {
			continue
		}
		xi := x[i]
		if labels != nil {
			// A fixed spread by arrival order (not random), so the same
			// data draws the same picture.
			k := int(xi)
			xi += (float64(seen[k]%21) - 10) / 30
			seen[k]++
		}
		pts = append(pts, plotter.XY{X: xi, Y: shap[i]})
	}
	Grid(p, s)
	if len(pts) > 0 {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: withAlpha(s.Color(0), 0xb0), Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
		p.Add(sc)
	}
	if labels != nil {
		short := make([]string, len(labels))
		for i, l := range labels {
			short[i] = shorten(l, 14)
		}
		p.NominalX(short...)
		p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	}
	p.Y.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick { return readableTicks{}.Ticks(min, max) })
	return SVG(p, w, h)
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}
