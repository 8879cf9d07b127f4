package sweep

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/ml"
)

func TestImportanceRanksWhatMovesTheScore(t *testing.T) {
	var trials []Trial
	r := Random{Seed: 9}
	for i := 0; i < 40; i++ {
		a := r.Sample(testSpace, nil, i)
		v := objective(Assignment{"x": a["x"], "lr": 0.01, "leaves": 16.0, "mode": "b"}) // only x matters
		trials = append(trials, Trial{Number: i, Values: a, State: TrialComplete, Value: &v})
	}
	imp := Importances(testSpace, trials)
	require.Len(t, imp, 4)
	assert.Equal(t, "x", imp[0].Param)
	assert.Greater(t, imp[0].Share, 0.7)
	for _, o := range imp[1:] {
		assert.Less(t, o.Share, 0.25, o.Param)
	}
	assert.Nil(t, Importances(testSpace, trials[:MinTrialsForImportance-1]), "too few trials to say")
}

func TestDefaultSpacesFitTheirModels(t *testing.T) {
	for _, m := range ml.Models() {
		assert.NoError(t, DefaultSpace(m.Name).ValidateFor(m), m.Name)
	}
}
