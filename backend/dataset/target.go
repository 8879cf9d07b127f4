package dataset

import (
	"fmt"
	"strings"
)

// targetNames are column names that usually hold what a table is meant to
// predict, lower case, in order of preference.
var targetNames = []string{"target", "label", "class", "y", "outcome", "churn", "churned", "survived", "diagnosis", "fraud", "is_fraud", "default", "response"}

// TargetProposal is the column the Train form proposes to predict, why,
// and what kind of task that makes. The user confirms it before training
// unless it is the dataset's own marked target.
type TargetProposal struct {
	Column string `json:"column"`
	// Why says in words how it was chosen.
	Why string `json:"why"`
	// Marked: the dataset marks this column as its target (a choice the
	// user already made), so no confirmation is needed.
	Marked bool `json:"marked"`
}

// ColumnTask is what training would do with a column as its target,
// read from the profile as the built-in models infer it (ml.InferTask): a
// non-numeric column, or whole numbers with at most 10 distinct values
// (0/1 included), is classification; other numbers are regression.
type ColumnTask struct {
	Column string `json:"column"`
	// Task is "classification", "regression", or "" when the column cannot
	// be a target (text with too many values, dates, nothing present).
	Task string `json:"task"`
	// Classes is the number of distinct values for a classification.
	Classes int64 `json:"classes,omitempty"`
	// Describe is the task in words: "binary classification (0, 1)".
	Describe string `json:"describe"`
}

// ColumnTasks says, for every column of a profiled version, what task it
// would be as the target.
func ColumnTasks(p Profile) []ColumnTask {
	out := make([]ColumnTask, 0, len(p.Columns))
	for _, c := range p.Columns {
		out = append(out, columnTask(c))
	}
	return out
}

func columnTask(c ColumnProfile) ColumnTask {
	t := ColumnTask{Column: c.Name}
	if c.Count == 0 {
		t.Describe = "no values"
		return t
	}
	whole := c.Numeric != nil && (c.Type == Integer || c.Type == Boolean || (c.Type == Float && wholeFloats(c)))
	switch {
	case c.Type == Datetime:
		t.Describe = "dates cannot be predicted here"
		return t
	case c.Type == Categorical || c.Type == Boolean || (c.Type == Text && c.Distinct <= 100) || (whole && c.Distinct <= 10):
		t.Task, t.Classes = "classification", c.Distinct
	case c.Type == Integer || c.Type == Float:
		t.Task = "regression"
		t.Describe = "regression (numbers)"
		return t
	default:
		t.Describe = fmt.Sprintf("%d distinct texts: too many classes", c.Distinct)
		return t
	}
	if t.Classes > 100 {
		t.Task, t.Describe = "", fmt.Sprintf("%d distinct values: too many classes", t.Classes)
		return t
	}
	if t.Classes >= c.Count && c.Count > 2 {
		// Every row has its own value: a name or an ID, nothing to learn.
		t.Task, t.Describe = "", "every value differs: an identifier, not a target"
		return t
	}
	if t.Classes < 2 {
		t.Task, t.Describe = "", "a single value: nothing to predict"
		return t
	}
	if t.Classes == 2 {
		t.Describe = "binary classification"
		if vals := topValues(c); len(vals) == 2 {
			t.Describe += " (" + strings.Join(vals, ", ") + ")"
		}
	} else {
		t.Describe = fmt.Sprintf("classification, %d classes", t.Classes)
	}
	return t
}

// wholeFloats: a float column whose range and histogram are whole numbers
// only is read as integer-valued (the sketch cannot prove it; the min,
// max and quantiles being whole is the profile's best evidence).
func wholeFloats(c ColumnProfile) bool {
	n := c.Numeric
	if n.Min != float64(int64(n.Min)) || n.Max != float64(int64(n.Max)) {
		return false
	}
	for _, q := range n.Quantiles {
		if q.Value != float64(int64(q.Value)) {
			return false
		}
	}
	return true
}

// topValues are the column's values when the profile knows them: the
// category counts, or the minimum and maximum of a two-valued number.
func topValues(c ColumnProfile) []string {
	if c.Categories != nil && len(c.Categories.Top) > 0 {
		var out []string
		for _, v := range c.Categories.Top {
			out = append(out, v.Value)
		}
		return out
	}
	if c.Numeric != nil {
		return []string{fmt.Sprint(c.Numeric.Min), fmt.Sprint(c.Numeric.Max)}
	}
	return nil
}

// ProposeTarget picks the column to propose as the target: the one the
// dataset marks; else one named like a target (case-insensitive, a name
// of targetNames or a name with "target" or "label" as one of its words);
// else the last column that is binary or categorical. Empty when none fits.
func ProposeTarget(v Version, p Profile) TargetProposal {
	if c := v.TargetColumn(); c != "" {
		return TargetProposal{Column: c, Why: "marked as the target on the dataset", Marked: true}
	}
	tasks := map[string]ColumnTask{}
	for _, t := range ColumnTasks(p) {
		tasks[t.Column] = t
	}
	usable := func(name string) bool {
		for _, c := range v.Schema {
			if c.Name == name {
				return c.Role != IDRole && c.Role != Ignore && tasks[name].Task != ""
			}
		}
		return false
	}
	for _, want := range targetNames {
		for _, c := range v.Schema {
			if strings.EqualFold(strings.TrimSpace(c.Name), want) && usable(c.Name) {
				return TargetProposal{Column: c.Name, Why: fmt.Sprintf("named like a target (%q)", c.Name)}
			}
		}
	}
	for _, c := range v.Schema {
		for _, w := range strings.FieldsFunc(strings.ToLower(c.Name), func(r rune) bool { return r == '_' || r == '-' || r == ' ' || r == '.' }) {
			if (w == "target" || w == "label") && usable(c.Name) {
				return TargetProposal{Column: c.Name, Why: fmt.Sprintf("named like a target (%q)", c.Name)}
			}
		}
	}
	for i := len(v.Schema) - 1; i >= 0; i-- {
		c := v.Schema[i]
		if t := tasks[c.Name]; t.Task == "classification" && usable(c.Name) {
			kind := "categorical"
			if t.Classes == 2 {
				kind = "binary"
			}
			return TargetProposal{Column: c.Name, Why: fmt.Sprintf("the last %s column", kind)}
		}
	}
	return TargetProposal{}
}
