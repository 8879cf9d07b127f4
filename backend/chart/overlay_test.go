package chart

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOverlayHistogramGolden(t *testing.T) {
	edges := []float64{0, 1, 2, 3, 4, 5, 6}
	ref := []float64{0.05, 0.2, 0.3, 0.25, 0.15, 0.05}
	cur := []float64{0.01, 0.05, 0.15, 0.3, 0.3, 0.19}
	svg, err := OverlayHistogram(edges, ref, cur, Options{Title: "age", Width: 480, Height: 240})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, "reference")
	assert.Contains(t, s, "current")
	assert.Contains(t, s, `width="480" height="240"`)
	golden(t, "overlay_histogram", svg)
}

func TestOverlayBarsGolden(t *testing.T) {
	svg, err := OverlayBars([]string{"red", "green", "blue", "a category with a long name indeed"},
		[]float64{0.5, 0.3, 0.2, 0}, []float64{0.2, 0.3, 0.3, 0.2}, Options{Title: "colour", Width: 420, Height: 220})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, "green")
	assert.Contains(t, s, "a category with a long …")
	golden(t, "overlay_bars", svg)
}

func TestOverlayOddInputs(t *testing.T) {
	for _, tc := range []struct{ edges, ref, cur []float64 }{
		{nil, nil, nil}, {[]float64{1}, nil, nil}, {[]float64{0, 1}, []float64{1}, []float64{0}},
		{[]float64{0, 1, 2}, []float64{1}, []float64{0, 1}}, {[]float64{2, 2}, []float64{0}, []float64{0}},
	} {
		_, err := OverlayHistogram(tc.edges, tc.ref, tc.cur, Options{})
		require.NoError(t, err)
	}
	_, err := OverlayBars(nil, nil, nil, Options{})
	require.NoError(t, err)
	_, err = OverlayBars([]string{"x"}, []float64{0}, []float64{0}, Options{})
	require.NoError(t, err)
}
