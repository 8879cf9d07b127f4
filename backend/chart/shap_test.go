package chart

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func shapRows() []SwarmRow {
	r := rand.New(rand.NewPCG(1, 2))
	var rows []SwarmRow
	for f, name := range []string{"income", "age", "a feature with a very long name indeed", "region"} {
		row := SwarmRow{Name: name}
		for i := 0; i < 300; i++ {
			v := r.Float64()
			row.Colour = append(row.Colour, v)
			row.SHAP = append(row.SHAP, (v-0.5)*float64(4-f)+r.NormFloat64()*0.1)
		}
		if name == "region" { // a category: grey dots
			for i := range row.Colour {
				row.Colour[i] = math.NaN()
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestBeeswarmGolden(t *testing.T) {
	svg, err := Beeswarm(shapRows(), Options{Title: "SHAP value (margin)", Width: 560, Height: 260})
	require.NoError(t, err)
	s := string(svg)
	assert.Contains(t, s, "income")
	assert.Contains(t, s, "a feature with a very l…")
	assert.Contains(t, s, "fill:#D55E00", "a high value is vermilion")
	assert.Contains(t, s, "fill:#7A8290", "a category is grey")
	golden(t, "beeswarm", svg)
}

func TestDependenceGolden(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var x, y []float64
	for i := 0; i < 200; i++ {
		v := r.Float64() * 100
		x, y = append(x, v), append(y, math.Tanh((v-50)/20)+r.NormFloat64()*0.05)
	}
	x[3] = math.NaN() // a missing value is left out, not drawn at 0
	svg, err := Dependence(x, y, nil, Options{Title: "income", XLabel: "income", YLabel: "SHAP value", Width: 420, Height: 240})
	require.NoError(t, err)
	golden(t, "dependence", svg)

	cats := []float64{0, 1, 2, 1, 0, 2, 2}
	svg, err = Dependence(cats, []float64{-1, 0.5, 1, 0.4, -0.9, 1.1, 1.2}, []string{"north", "south", "west"}, Options{Title: "region", Width: 420, Height: 240})
	require.NoError(t, err)
	assert.Contains(t, string(svg), "south")
	golden(t, "dependence_categorical", svg)
}

func TestShapChartsOddInputs(t *testing.T) {
	for _, rows := range [][]SwarmRow{nil, {{Name: "x"}}, {{Name: "c", SHAP: []float64{0, 0, 0}}}, {{Name: "n", SHAP: []float64{math.NaN(), 1}}}} {
		svg, err := Beeswarm(rows, Options{})
		require.NoError(t, err)
		assert.True(t, strings.Contains(string(svg), "<svg"))
	}
	_, err := Dependence(nil, nil, nil, Options{})
	require.NoError(t, err)
}
