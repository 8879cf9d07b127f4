package dataset

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// importCSV imports text as a dataset version and returns it with its
// profile.
func importCSV(t *testing.T, e *env, name, text string) (Version, Profile) {
	t.Helper()
	v, err := e.svc.ImportReader(t.Context(), strings.NewReader(text), name, 0, Options{})
	require.NoError(t, err)
	p, err := e.svc.Profile(v.ID)
	require.NoError(t, err)
	return v, p
}

// rows writes n rows from row(i) under header.
func rows(header string, n int, row func(i int) string) string {
	var b strings.Builder
	b.WriteString(header + "\n")
	for i := range n {
		b.WriteString(row(i) + "\n")
	}
	return b.String()
}

func TestProposeTarget(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, text string
		column     string
		why        string
	}{
		{"named label, not last", rows("a,Label,b", 50, func(i int) string { return fmt.Sprintf("%d,%d,%.2f", i, i%2, float64(i)/3) }), "Label", "named like a target"},
		{"churn beats the last categorical", rows("Churn,city,plan", 50, func(i int) string { return fmt.Sprintf("%s,x%d,p%d", []string{"yes", "no"}[i%2], i%3, i%4) }), "Churn", "named like a target"},
		{"a word of the name", rows("x,loan_target_flag,z", 50, func(i int) string { return fmt.Sprintf("%d,%d,%d", i, i%2, i*7) }), "loan_target_flag", "named like a target"},
		{"y", rows("x1,x2,Y", 50, func(i int) string { return fmt.Sprintf("%d,%d,%.3f", i, i*2, float64(i)*1.5) }), "Y", "named like a target"},
		{"last binary", rows("colour,score,passed,amount", 50, func(i int) string {
			return fmt.Sprintf("%s,%.2f,%d,%.2f", []string{"red", "blue"}[i%2], float64(i)/7, i%2, float64(i)*3.3)
		}), "passed", "the last binary column"},
		{"last categorical", rows("size,kind,amount", 50, func(i int) string {
			return fmt.Sprintf("%.1f,%s,%.2f", float64(i)/2, []string{"a", "b", "c"}[i%3], float64(i)*3.3)
		}), "kind", "the last categorical column"},
		{"nothing fits", rows("a,b", 50, func(i int) string { return fmt.Sprintf("%.2f,%.3f", float64(i)/3, float64(i)/7) }), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, p := importCSV(t, e, strings.ReplaceAll(c.name, " ", "_")+".csv", c.text)
			got := ProposeTarget(v, p)
			assert.Equal(t, c.column, got.Column)
			assert.Contains(t, got.Why, c.why)
			assert.False(t, got.Marked, "a proposal is confirmed by the user")
		})
	}

	// A column the dataset marks as its target wins and needs no confirming.
	v, p := importCSV(t, e, "marked.csv", rows("label,y,other", 50, func(i int) string { return fmt.Sprintf("%d,%d,%s", i%2, i%3, []string{"u", "v"}[i%2]) }))
	v, err := e.svc.EditSchema(t.Context(), v.ID, []ColumnEdit{{Name: "other", Role: Target}})
	require.NoError(t, err)
	got := ProposeTarget(v, p)
	assert.Equal(t, TargetProposal{Column: "other", Why: "marked as the target on the dataset", Marked: true}, got)

	// An ID column named like a target is not proposed.
	v, p = importCSV(t, e, "ids.csv", rows("target,flag", 50, func(i int) string { return fmt.Sprintf("%d,%d", i%2, i%2) }))
	v, err = e.svc.EditSchema(t.Context(), v.ID, []ColumnEdit{{Name: "target", Role: IDRole}})
	require.NoError(t, err)
	assert.Equal(t, "flag", ProposeTarget(v, p).Column)
}

// TestColumnTasks: a 0/1 integer column is binary classification, as
// training infers it; a few whole numbers are classes; other numbers are
// regression; dates and a constant are no target.
func TestColumnTasks(t *testing.T) {
	e := newEnv(t)
	_, p := importCSV(t, e, "tasks.csv", rows("bin,grade,price,name,when,const,yn", 60, func(i int) string {
		return fmt.Sprintf("%d,%d,%.2f,n%d,2024-01-%02d,7,%s", i%2, i%4+1, float64(i)*1.37, i, i%28+1, []string{"yes", "no"}[i%2])
	}))
	got := map[string]ColumnTask{}
	for _, c := range ColumnTasks(p) {
		got[c.Column] = c
	}
	assert.Equal(t, ColumnTask{Column: "bin", Task: "classification", Classes: 2, Describe: "binary classification (0, 1)"}, got["bin"])
	assert.Equal(t, "classification", got["grade"].Task)
	assert.EqualValues(t, 4, got["grade"].Classes)
	assert.Equal(t, "classification, 4 classes", got["grade"].Describe)
	assert.Equal(t, "regression", got["price"].Task)
	assert.Equal(t, "classification", got["yn"].Task)
	assert.Contains(t, got["yn"].Describe, "binary classification")
	assert.Equal(t, "", got["when"].Task)
	assert.Equal(t, "", got["const"].Task)
	assert.Equal(t, "", got["name"].Task, "60 distinct texts in 60 rows are no classes")
}
