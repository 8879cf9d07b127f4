package ml

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/explain"
)

// Every model kind: base + contributions = margin to 1e-9 per row and
// output, one contribution per input column, the link named.
func TestExplainAddsUpToMargin(t *testing.T) {
	cases := []struct {
		kind, model, link string
		outputs           int
	}{
		{"separable", AlgoGBDT, explain.LinkLogit, 1},
		{"multiclass", AlgoGBDT, explain.LinkSoftmax, 3},
		{"regression", AlgoGBDT, explain.LinkIdentity, 1},
		{"separable", AlgoLogistic, explain.LinkLogit, 1},
		{"multiclass", AlgoLogistic, explain.LinkSoftmax, 3},
		{"regression", AlgoLinear, explain.LinkIdentity, 1},
	}
	for _, c := range cases {
		t.Run(c.kind+"/"+c.model, func(t *testing.T) {
			data := synth(800, c.kind, 11)
			m, _, err := Train(t.Context(), data, Params{Target: "y", Model: c.model}, nil)
			require.NoError(t, err)
			rows := &Frame{Columns: data.Columns, Rows: data.Rows[:60]}
			ex, err := m.Explain(t.Context(), rows, data)
			require.NoError(t, err)
			require.Equal(t, c.link, ex.Link)
			require.Equal(t, c.outputs, ex.Outputs)
			require.Equal(t, []string{"x1", "x2", "colour"}, ex.Names)
			margins, err := m.Margins(rows)
			require.NoError(t, err)
			nonzero := make([]bool, 3)
			for r := 0; r < 60; r++ {
				for o := 0; o < ex.Outputs; o++ {
					sum := ex.Base[o]
					for j, v := range ex.Row(r, o) {
						sum += v
						nonzero[j] = nonzero[j] || v != 0
					}
					require.InDelta(t, margins[r*ex.Outputs+o], sum, 1e-9, "row %d output %d", r, o)
				}
			}
			// x1 drives every target, so it always gets credit.
			require.True(t, nonzero[0])
		})
	}
}

// Interventional linear SHAP with the explained rows as background: each
// column's contributions average to zero over those rows (the expected
// value is the background's mean margin), one-hot groups included.
func TestLinearExplainCentredOnBackground(t *testing.T) {
	data := synth(500, "separable", 4)
	m, _, err := Train(t.Context(), data, Params{Target: "y", Model: AlgoLogistic}, nil)
	require.NoError(t, err)
	require.True(t, m.Prep.OneHot)
	ex, err := m.Explain(t.Context(), data, data)
	require.NoError(t, err)
	means := make([]float64, 3)
	for r := 0; r < ex.Rows; r++ {
		for j, v := range ex.Row(r, 0) {
			means[j] += v / float64(ex.Rows)
		}
	}
	require.InDeltaSlice(t, []float64{0, 0, 0}, means, 1e-12)
	// The colour group is not zero row by row: its indicators were summed.
	require.NotZero(t, ex.Row(0, 0)[2])
}

func TestExplainRefusesInWords(t *testing.T) {
	data := synth(300, "separable", 2)
	m, _, err := Train(t.Context(), data, Params{Target: "y", Model: AlgoLogistic}, nil)
	require.NoError(t, err)
	_, err = m.Explain(t.Context(), data, nil)
	require.ErrorContains(t, err, "needs background rows")
	g, _, err := Train(t.Context(), data, Params{Target: "y", Model: AlgoGBDT}, nil)
	require.NoError(t, err)
	g.GBDT.Trees[0][0].Cover = nil // as a model saved before covers were kept
	_, err = g.Explain(t.Context(), data, nil)
	require.ErrorContains(t, err, "train it again")
	_, err = g.Explain(t.Context(), &Frame{Columns: []string{"x1"}, Rows: [][]any{{1.0}}}, nil)
	require.ErrorContains(t, err, "no column")
}
