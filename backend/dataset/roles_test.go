package dataset

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRolesDecideFeatures(t *testing.T) {
	v := Version{Schema: []Column{
		{Name: "id", Role: IDRole}, {Name: "age", Role: Feature}, {Name: "plan"},
		{Name: "note", Role: Ignore}, {Name: "left", Role: Target}, {Name: "also", Role: Target},
	}}
	assert.Equal(t, "left", v.TargetColumn(), "the first target")
	assert.Equal(t, []string{"age", "plan"}, v.FeatureColumns("left"))
	assert.Equal(t, []string{"age"}, v.FeatureColumns("plan"), "the chosen target never feeds the model")
	assert.Empty(t, Version{}.TargetColumn())
}
