package mlflowapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFilter(t *testing.T) {
	fields := map[string]bool{"name": true, "run_id": true, "tags": true}
	get := func(vals map[string]string) func(string) (string, bool) {
		return func(f string) (string, bool) { v, ok := vals[f]; return v, ok }
	}
	row := map[string]string{"name": "Churn_v2", "run_id": "r1", "tags.team": "risk", "tags.mlflow.note": "it's"}
	for filter, want := range map[string]bool{
		"":                                       true,
		"name = 'Churn_v2'":                      true,
		`name="Churn_v2"`:                        true,
		"name != 'Churn_v2'":                     false,
		"name LIKE 'Churn%'":                     true,
		"name like 'churn%'":                     false,
		"name ILIKE 'churn%'":                    true,
		"name LIKE 'Churn_v_'":                   true,
		"name LIKE 'C.*'":                        false, // regexp characters are literal
		"run_id IN ('r0', 'r1')":                 true,
		"run_id NOT IN ('r0','r1')":              false,
		"name = 'Churn_v2' AND tags.team='risk'": true,
		"name = 'Churn_v2' and tags.team='ops'":  false,
		"tags.`mlflow.note` = 'it''s'":           true,
		"tags.missing = 'x'":                     false,
		// a tag that is not set passes != (MLflow 3 leaves prompts out this way)
		"tags.`mlflow.prompt.is_prompt` != 'true'": true,
		"attributes.name = 'Churn_v2'":             true,
	} {
		cs, err := parseFilter(filter, fields)
		require.NoError(t, err, filter)
		assert.Equal(t, want, matchAll(cs, get(row)), filter)
	}
	for _, bad := range []string{
		"name", "name =", "name = 'x", "name >> 'x'", "version = '1'", "name = 'x' OR name = 'y'",
		"name = 'x' AND", "run_id IN 'x'", "run_id IN ('x'", "tags. = 'x'", "tags.`x = 'y'", "name NOT 'x'", "= 'x'",
	} {
		_, err := parseFilter(bad, fields)
		assert.Error(t, err, bad)
	}
	_, err := parseFilter("tags.a = 'b'", map[string]bool{"name": true})
	assert.Error(t, err, "tags only where the handler allows them")
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"name = 'x'", "tags.`a b` != \"c\" AND run_id IN ('1', 2)", "name ILIKE '%_%'", "name NOT IN ()", "'", "`", "name = 'a''"} {
		f.Add(s)
	}
	fields := map[string]bool{"name": true, "run_id": true, "tags": true}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseFilter(s, fields)
		if err != nil {
			return
		}
		for _, c := range cs {
			if len(c.vals) == 0 || c.field == "" {
				t.Fatalf("%q parsed to an empty clause %+v", s, c)
			}
			c.match("x", true) // never panics, LIKE patterns always compile
			c.match("", false)
		}
	})
}
