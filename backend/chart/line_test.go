package chart

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinesGolden(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5}
	svg, err := Lines([]LineSeries{
		{Name: "run a", X: x, Y: []float64{1, 0.6, 0.4, math.NaN(), 0.25, 0.2}},
		{Name: "run b", X: x, Y: []float64{1.2, 0.9, 0.7, 0.6, 0.55, math.Inf(1)}},
	}, Options{Title: "loss", XLabel: "step", Width: 480, Height: 240})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, "run a")
	assert.Contains(t, s, "run b")
	assert.NotContains(t, s, "NaN")
	golden(t, "lines", svg)
}

func TestLinesOddInputs(t *testing.T) {
	for _, in := range [][]LineSeries{nil, {{Name: "empty"}}, {{Name: "nan", X: []float64{0}, Y: []float64{math.NaN()}}}, {{Name: "one", X: []float64{3}, Y: []float64{7}}}} {
		svg, err := Lines(in, Options{})
		require.NoError(t, err)
		assert.Contains(t, string(svg), "<svg")
	}
}

func TestParallelCoordinatesGolden(t *testing.T) {
	svg, err := ParallelCoordinates([]string{"params.lr", "params.depth", "metrics.auc"}, []string{"a", "b", "c"},
		[][]float64{{0.1, 6, 0.91}, {0.01, 8, 0.88}, {0.05, math.NaN(), 0.95}}, Options{Width: 480, Height: 260})
	require.NoError(t, err)
	s := string(svg)
	assert.True(t, strings.Contains(s, "metrics.auc"))
	golden(t, "parallel", svg)
	_, err = ParallelCoordinates(nil, nil, nil, Options{})
	require.NoError(t, err)
}
