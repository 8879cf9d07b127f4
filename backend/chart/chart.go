// Package chart renders Tern's charts with gonum/plot, in one style shared
// by every screen and by exported reports: one palette, readable axes, no
// chart junk (no frame, no top/right axes, light horizontal grid only),
// transparent background so the same SVG sits on the light and dark theme.
//
// Add a chart kind in its own file, build it on New and render with SVG;
// never set colours or fonts outside Style.
package chart

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Style is the look of every chart.
type Style struct {
	// Palette holds series colours in order; Palette[0] is Tern's accent.
	Palette []color.Color
	// Ink is text and axis colour: a mid grey readable on white and on
	// the dark theme's background.
	Ink color.Color
	// Grid is the colour of the light horizontal grid lines.
	Grid color.Color
	// TextSize is the size of tick labels; titles are 1.15× it.
	TextSize vg.Length
	// LineWidth is the width of axes and series lines.
	LineWidth vg.Length
}

func rgb(hex uint32) color.Color {
	return color.RGBA{R: uint8(hex >> 16), G: uint8(hex >> 8), B: uint8(hex), A: 0xff}
}

// Default is Tern's chart style. The palette is colour-blind-safe (Okabe–Ito
// order, accent first).
var Default = Style{
	Palette: []color.Color{
		rgb(0x12998b), // accent: Tern's teal, between the light and dark themes' accents
		rgb(0xe69f00),
		rgb(0x009e73),
		rgb(0xcc79a7),
		rgb(0x56b4e9),
		rgb(0xd55e00),
		rgb(0xf0e442),
	},
	Ink:       rgb(0x7a8290),
	Grid:      color.NRGBA{R: 0x7a, G: 0x82, B: 0x90, A: 0x40}, // NRGBA: RGBA is premultiplied, and 0x7a > 0x40 is not a colour
	TextSize:  vg.Points(9),
	LineWidth: vg.Points(0.8),
}

// Color returns the palette colour for series i (cycling).
func (s Style) Color(i int) color.Color { return s.Palette[i%len(s.Palette)] }

// Options are what a caller decides: titles and the size in CSS pixels.
type Options struct {
	Title  string
	XLabel string
	YLabel string
	Width  int // pixels; 0 means 480
	Height int // pixels; 0 means 240
	// Style overrides Default (reports use the same one).
	Style *Style
}

func (o Options) style() Style {
	if o.Style != nil {
		return *o.Style
	}
	return Default
}

func (o Options) size() (int, int) {
	w, h := o.Width, o.Height
	if w <= 0 {
		w = 480
	}
	if h <= 0 {
		h = 240
	}
	return min(w, 4000), min(h, 4000)
}

// New makes an empty plot in style s.
func New(s Style, o Options) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // transparent: the page's theme shows through
	txt := func(st *draw.TextStyle, size vg.Length) {
		st.Color = s.Ink
		st.Font.Size = size
	}
	txt(&p.Title.TextStyle, s.TextSize*1.15)
	p.Title.Text = o.Title
	p.Title.Padding = vg.Points(4)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		txt(&ax.Label.TextStyle, s.TextSize)
		txt(&ax.Tick.Label, s.TextSize)
		ax.Color = s.Ink
		ax.LineStyle.Width = s.LineWidth
		ax.Tick.Color = s.Ink
		ax.Tick.LineStyle.Width = s.LineWidth
		ax.Tick.Length = vg.Points(3)
		ax.Padding = 0
	}
	p.X.Label.Text = o.XLabel
	p.Y.Label.Text = o.YLabel
	p.X.Tick.Marker = readableTicks{}
	p.Y.Tick.Marker = readableTicks{}
	return p
}

// Grid adds the light horizontal grid lines of the style.
func Grid(p *plot.Plot, s Style) {
	g := plotter.NewGrid()
	g.Vertical.Width = 0
	g.Vertical.Color = color.Transparent
	g.Horizontal.Color = s.Grid
	g.Horizontal.Width = vg.Points(0.5)
	p.Add(g)
}

// readableTicks are gonum's default ticks with compact labels (1.2k, 3M,
// 0.25) so axes never show 0.30000000000000004 or 1e+06.
type readableTicks struct{}

func (readableTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Label != "" { // minor ticks are junk at these sizes
			out = append(out, plot.Tick{Value: t.Value, Label: Compact(t.Value)})
		}
	}
	return out
}

// Compact formats a number for an axis or a table: 3 significant digits,
// k/M/B suffixes for large magnitudes.
func Compact(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e9:
		return trim(v/1e9) + "B"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e4:
		return trim(v/1e3) + "k"
	case a < 1e-3:
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return trim(v)
}

func trim(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

var (
	fontFamily = regexp.MustCompile(`font-family:\s*"?Liberation Sans"?;?`)
	svgOpen    = regexp.MustCompile(`<svg width="[0-9.]+(pt|px)?" height="[0-9.]+(pt|px)?"`)
)

// SVG renders p at w×h CSS pixels. Text uses Liberation Sans metrics, which
// are Arial's, so the browser's Arial or sans-serif stands in faithfully
// and no font is embedded.
func SVG(p *plot.Plot, w, h int) ([]byte, error) {
	// gonum measures in points; 1 CSS px = 0.75 pt.
	c := vgsvg.NewWith(vgsvg.UseWH(vg.Length(w)*0.75, vg.Length(h)*0.75), vgsvg.EmbedFonts(false))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart: render svg: %w", err)
	}
	out := fontFamily.ReplaceAll(buf.Bytes(), []byte(`font-family:'Liberation Sans',Arial,Helvetica,sans-serif;`))
	// Sized in CSS pixels; gonum's own viewBox (in points) lets the page
	// scale the chart to its container.
	out = svgOpen.ReplaceAll(out, []byte(fmt.Sprintf(`<svg width="%d" height="%d"`, w, h)))
	return out, nil
}

// defaultFont is set once so every chart measures text the same way.
func init() {
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}
