package dataset

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tern-studio/tern/backend/core"
)

func fp(x float64) *float64 { return &x }

// checkImport imports base (when given) as v1 of dataset "d", sets rules,
// imports next as the following version and returns its stored check.
func checkImport(t *testing.T, base, next string, rules ...Rule) (Version, Validation) {
	t.Helper()
	e := newEnv(t)
	ctx := t.Context()
	first := next
	if base != "" {
		first = base
	}
	v1, err := e.svc.ImportReader(ctx, strings.NewReader(first), "d.csv", 0, Options{})
	require.NoError(t, err)
	_, err = e.svc.SetRules(v1.DatasetID, rules)
	require.NoError(t, err)
	v := v1
	if base != "" {
		v, err = e.svc.ImportReader(ctx, strings.NewReader(next), "d.csv", 0, Options{})
		require.NoError(t, err)
	} else {
		_, err = e.svc.Check(ctx, v1.ID)
		require.NoError(t, err)
		v, err = e.svc.Version(v1.ID)
		require.NoError(t, err)
	}
	val, ok, err := e.svc.Validation(v.ID)
	require.NoError(t, err)
	require.True(t, ok, "the version was checked")
	require.NotNil(t, v.Checks)
	assert.Equal(t, val.Passed, v.Checks.Passed)
	assert.Equal(t, val.Failed, v.Checks.Failed)
	return v, val
}

const people = "id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,0.7\n3,29,Lyon,EF-789,0.6\n4,52,Quito,GH-012,0.4\n"

// Each rule kind, passing on v1's data and failing on a v2 that breaks it,
// with the offending value and a message naming it. v2 is always imported.
func TestRulesPassAndFailOnImport(t *testing.T) {
	cases := []struct {
		name    string
		rule    Rule
		bad     string // v2's bytes
		value   string // offending value
		message string // part of the failure message
	}{
		{"not null", Rule{Kind: RuleNotNull, Column: "city"},
			"id,age,city,code,score\n1,34,,AB-123,0.5\n2,41,Oslo,CD-456,0.7\n", "50% missing", "missing in 1 of 2 rows"},
		{"not null share", Rule{Kind: RuleNotNull, Column: "age", MinShare: fp(0.9)},
			"id,age,city,code,score\n1,NA,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,0.7\n3,NA,Lyon,EF-789,0.6\n", "66.67% missing", "33.33% present; at least 90% required"},
		{"not null, all missing", Rule{Kind: RuleNotNull, Column: "score"},
			"id,age,city,code,score\n1,34,Lyon,AB-123,\n2,41,Oslo,CD-456,NA\n", "100% missing", "missing in 2 of 2 rows"},
		{"unique text", Rule{Kind: RuleUnique, Column: "code"},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,AB-123,0.7\n", "AB-123", `repeats "AB-123" (2 times)`},
		{"unique numbers", Rule{Kind: RuleUnique, Column: "id"},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n1,41,Oslo,CD-456,0.7\n1,29,Lyon,EF-789,0.6\n1,52,Quito,GH-012,0.4\n", "≈1 distinct of 4", "values repeat"},
		{"range below", Rule{Kind: RuleRange, Column: "age", Min: fp(18), Max: fp(99)},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,-5,Oslo,CD-456,0.7\n", "-5", "below the minimum 18"},
		{"range above", Rule{Kind: RuleRange, Column: "score", Max: fp(1)},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,1.5\n", "1.5", "above the maximum 1"},
		{"range infinite", Rule{Kind: RuleRange, Column: "score", Min: fp(0), Max: fp(1)},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,inf\n", "Inf", "1 infinite or NaN"},
		{"range on text", Rule{Kind: RuleRange, Column: "age", Min: fp(0)},
			"id,age,city,code,score\n1,old,Lyon,AB-123,0.5\n2,young,Oslo,CD-456,0.7\n", "categorical", "not numbers"},
		{"categories", Rule{Kind: RuleCategories, Column: "city", Allowed: []string{"Lyon", "Oslo", "Quito"}},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Paris,CD-456,0.7\n3,41,Rome,CD-456,0.7\n", "Paris", `2 values not an allowed value, first "Paris" on line 3`},
		{"format", Rule{Kind: RuleFormat, Column: "code", Pattern: `[A-Z]{2}-\d{3}`},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,cd-45,0.7\n", "cd-45", `first "cd-45" on line 3`},
		{"format is whole-value", Rule{Kind: RuleFormat, Column: "code", Pattern: `[A-Z]{2}-\d{3}`},
			"id,age,city,code,score\n1,34,Lyon,XAB-1234,0.5\n", "XAB-1234", "not in the format"},
		{"rows min", Rule{Kind: RuleRows, Min: fp(3)},
			"id,age,city,code,score\n1,34,Lyon,AB-123,0.5\n", "1", "has 1 rows; expected at least 3"},
		{"rows max", Rule{Kind: RuleRows, Max: fp(4)},
			people + "5,60,Lyon,ZZ-999,0.1\n", "5", "expected at most 4"},
		{"schema type changed", Rule{Kind: RuleSchema, Schema: []SchemaColumn{{"id", Integer}, {"age", Integer}, {"city", Categorical}, {"code", Categorical}, {"score", Float}}},
			"id,age,city,code,score\n1,34.5,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,0.7\n", "age", `"age" is float; it was integer`},
		{"schema renamed", Rule{Kind: RuleSchema, Schema: []SchemaColumn{{"id", Integer}, {"age", Integer}, {"city", Categorical}, {"code", Categorical}, {"score", Float}}},
			"id,age,town,code,score\n1,34,Lyon,AB-123,0.5\n2,41,Oslo,CD-456,0.7\n", "city", `"city" was renamed to "town"`},
		{"schema added", Rule{Kind: RuleSchema, Schema: []SchemaColumn{{"id", Integer}, {"age", Integer}, {"city", Categorical}, {"code", Categorical}, {"score", Float}}},
			"id,age,city,code,score,extra\n1,34,Lyon,AB-123,0.5,x\n", "extra", `"extra" is new`},
		{"column renamed under a rule", Rule{Kind: RuleNotNull, Column: "city"},
			"id,age,town,code,score\n1,34,Lyon,AB-123,0.5\n", "city", `(renamed to "town"?)`},
		{"drift", Rule{Kind: RuleDrift, Column: "age", MaxDistance: fp(0.3)},
			"id,age,city,code,score\n1,80,Lyon,AB-123,0.5\n2,81,Oslo,CD-456,0.7\n3,82,Lyon,EF-789,0.6\n4,83,Quito,GH-012,0.4\n", "1", "age moved 1 from v1"},
		{"drift any column", Rule{Kind: RuleDrift, MaxDistance: fp(0.6)},
			"id,age,city,code,score\n1,34,Rome,AB-123,0.5\n2,41,Rome,CD-456,0.7\n3,29,Rome,EF-789,0.6\n4,52,Rome,GH-012,0.4\n", "1", "city moved 1 from v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// v1 meets the rule (checked when the rules were set)...
			_, ok := checkImport(t, "", people, tc.rule)
			require.True(t, ok.Passed, "v1 should pass: %+v", ok.Results)
			assert.NotEmpty(t, ok.Results[0].Message)
			// ...v2 breaks it, and is imported all the same, marked.
			v, val := checkImport(t, people, tc.bad, tc.rule)
			assert.Equal(t, 2, v.Number)
			require.False(t, val.Passed)
			assert.Equal(t, 1, val.Failed)
			r := val.Results[0]
			assert.False(t, r.Passed)
			assert.Equal(t, tc.value, r.Value)
			assert.Contains(t, r.Message, tc.message)
		})
	}
}

// An empty version and a version of non-finite numbers, checked from the
// profile alone.
func TestRulesOnEmptyAndNonFiniteProfiles(t *testing.T) {
	v := Version{Dataset: "d", Number: 3, Schema: []Column{{Name: "x", Type: Float}}}
	empty := &Profile{Rows: 0, Columns: []ColumnProfile{{Name: "x", Type: Float, Numeric: &NumericStats{}}}}
	rules, err := ValidateRules([]Rule{
		{Kind: RuleRows, Min: fp(1)},
		{Kind: RuleNotNull, Column: "x"},
		{Kind: RuleRange, Column: "x", Min: fp(0)},
	})
	require.NoError(t, err)
	val := evaluate(rules, v, empty, nil, nil, nil, v.Imported)
	assert.False(t, val.Passed)
	assert.Equal(t, "0", val.Results[0].Value)
	assert.Equal(t, "no rows", val.Results[1].Value)
	assert.True(t, val.Results[2].Passed, "no values: nothing outside the range")
	assert.Contains(t, val.Results[2].Message, "no values to check")

	nan := &Profile{Rows: 2, Columns: []ColumnProfile{{Name: "x", Type: Float, Missing: 2, Numeric: &NumericStats{NonFinite: 2}}}}
	val = evaluate(rules, v, nan, nil, nil, nil, v.Imported)
	assert.Equal(t, "100% missing", val.Results[1].Value, "NaN and Inf count as missing")
	assert.Equal(t, "Inf", val.Results[2].Value)
}

func TestSetRulesRefusesBadRules(t *testing.T) {
	e := newEnv(t)
	v, err := e.svc.ImportReader(t.Context(), strings.NewReader(people), "d.csv", 0, Options{})
	require.NoError(t, err)
	for _, tc := range []struct {
		rule Rule
		msg  string
	}{
		{Rule{Kind: RuleFormat, Column: "code", Pattern: "([A-Z"}, "not a regular expression"},
		{Rule{Kind: RuleRange, Column: "age"}, "needs a minimum, a maximum or both"},
		{Rule{Kind: RuleRange, Column: "age", Min: fp(5), Max: fp(1)}, "above the maximum"},
		{Rule{Kind: RuleNotNull}, "needs a column"},
		{Rule{Kind: RuleCategories, Column: "city"}, "at least one allowed value"},
		{Rule{Kind: RuleDrift, MaxDistance: fp(2)}, "between 0 and 1"},
		{Rule{Kind: "mean"}, `"mean" is not a rule kind`},
	} {
		_, err := e.svc.SetRules(v.DatasetID, []Rule{tc.rule})
		require.Error(t, err)
		assert.Equal(t, core.Invalid, core.ErrorCode(err))
		assert.Contains(t, core.ErrorMessage(err), tc.msg)
	}
	rules, err := e.svc.Rules(v.DatasetID)
	require.NoError(t, err)
	assert.Empty(t, rules, "nothing saved")
}

// Suggested rules on a realistic profile: what v1 already meets, one per
// kind that fits each column; v1 passes them, and a v2 that breaks several
// fails exactly those.
func TestSuggestRules(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var b strings.Builder
	b.WriteString("id,age,city,code,score,note\n")
	cities := []string{"Lyon", "Oslo", "Quito", "Lima"}
	for i := 1; i <= 400; i++ {
		note := "NA"
		if i%3 != 0 {
			note = "free text " + strings.Repeat("x", i%17)
		}
		b.WriteString(strings.Join([]string{itoa(i), itoa(18 + i%60), cities[i%4], "C" + itoa(i), itoa(i%10) + ".5", note}, ",") + "\n")
	}
	v1, err := e.svc.ImportReader(ctx, strings.NewReader(b.String()), "people.csv", 0, Options{})
	require.NoError(t, err)
	rules, err := e.svc.SuggestRules(v1.ID)
	require.NoError(t, err)
	kinds := map[string]Rule{}
	for _, r := range rules {
		kinds[string(r.Kind)+":"+r.Column] = r
		assert.NotEmpty(t, r.ID)
	}
	assert.EqualValues(t, 200, *kinds["rows:"].Min)
	assert.Len(t, kinds["schema:"].Schema, 6)
	assert.Contains(t, kinds, "unique:id")
	assert.Contains(t, kinds, "unique:code")
	assert.Equal(t, []string{"Lima", "Lyon", "Oslo", "Quito"}, kinds["categories:city"].Allowed)
	assert.EqualValues(t, 18, *kinds["range:age"].Min)
	assert.EqualValues(t, 77, *kinds["range:age"].Max)
	assert.EqualValues(t, 1, *kinds["not_null:age"].MinShare)
	assert.InDelta(t, 0.63, *kinds["not_null:note"].MinShare, 0.001, "two thirds present, with room")
	assert.Contains(t, kinds, "drift:")

	_, err = e.svc.SetRules(v1.DatasetID, rules)
	require.NoError(t, err)
	val, err := e.svc.Check(ctx, v1.ID)
	require.NoError(t, err)
	assert.True(t, val.Passed, "v1 meets its own suggestions: %+v", val.Results)

	bad := strings.Replace(b.String(), "\n5,23,Oslo,", "\n5,230,Paris,", 1)
	v2, err := e.svc.ImportReader(ctx, strings.NewReader(bad), "people.csv", 0, Options{})
	require.NoError(t, err)
	val, ok, err := e.svc.Validation(v2.ID)
	require.NoError(t, err)
	require.True(t, ok)
	var failed []string
	for _, r := range val.Results {
		if !r.Passed {
			failed = append(failed, string(r.Rule.Kind)+":"+r.Column+"="+r.Value)
		}
	}
	assert.ElementsMatch(t, []string{"range:age=230", "categories:city=Paris"}, failed)
}
