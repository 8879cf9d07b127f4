package ml

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefitSeesEveryRow: with Refit the returned model is fitted on every
// labelled row (its preprocessing's mean is the mean of all rows, and it
// scores the held-out rows better than the split model did), while the
// evaluation is still the split model's.
func TestRefitSeesEveryRow(t *testing.T) {
	f := synth(400, "noisy", 3)
	p := Params{Target: "y", Model: AlgoLogistic, Seed: 7}
	split, ev, err := Train(t.Context(), f, p, nil)
	require.NoError(t, err)
	p.Refit = true
	var refitRows float64
	refit, evRefit, err := Train(t.Context(), f, p, func(k string, v float64, _ int) {
		if k == "refit_rows" {
			refitRows = v
		}
	})
	require.NoError(t, err)
	assert.Equal(t, ev.Metrics, evRefit.Metrics, "the evaluation is the split model's")
	assert.Equal(t, 400.0, refitRows)
	assert.True(t, refit.Params.Refit)

	var sum float64
	var n int
	for _, row := range f.Rows {
		if x, ok := asFloat(row[0]); ok {
			sum += x
			n++
		}
	}
	assert.InDelta(t, sum/float64(n), refit.Prep.Features[0].Mean, 1e-12, "the refit's scaling saw every row")
	assert.NotEqual(t, split.Prep.Features[0].Mean, refit.Prep.Features[0].Mean)

	held, _, err := Holdout(f, p)
	require.NoError(t, err)
	assert.Equal(t, ev.Rows, held.Len())
	ll := func(m *Model) float64 {
		preds, err := m.PredictFrame(held)
		require.NoError(t, err)
		var s float64
		for i, pr := range preds {
			y := 0
			if asString(held.Rows[i][3]) == "1" {
				y = 1
			}
			s -= logLoss1(pr.Probabilities[1], float64(y))
		}
		return s
	}
	assert.Greater(t, ll(refit), ll(split), "having seen the held-out rows, the refit fits them better")
}
