package ml

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoggedParamsAreTheModelsSchema: each built-in model's run records
// exactly its schema's keys beside the run keys, never another model's.
func TestLoggedParamsAreTheModelsSchema(t *testing.T) {
	for _, m := range Models() {
		t.Run(m.Name, func(t *testing.T) {
			p, err := Params{Target: "y", Model: m.Name, Features: []string{"a", "b"}, Refit: true}.WithDefaults()
			require.NoError(t, err)
			got := slices.Sorted(maps.Keys(LoggedParams(p)))
			want := []string{"features", "model", "refit", "target"}
			for _, s := range m.Params {
				want = append(want, s.Name)
			}
			slices.Sort(want)
			assert.Equal(t, want, got)
			assert.Equal(t, "a,b", LoggedParams(p)["features"])
			assert.Equal(t, "true", LoggedParams(p)["refit"])
		})
	}
	p, err := Params{Target: "y"}.WithDefaults()
	require.NoError(t, err)
	logged := LoggedParams(p)
	for _, k := range []string{"C", "alpha"} {
		assert.NotContains(t, logged, k, "a GBDT run shows no logistic or ridge parameter")
	}
	assert.Equal(t, "gbdt", logged["model"])
	assert.Equal(t, "255", logged["max_bins"])
	assert.NotContains(t, logged, "task", "an unset task is logged once inferred")
	p.Task = Classification
	assert.Equal(t, Classification, LoggedParams(p)["task"])
}
