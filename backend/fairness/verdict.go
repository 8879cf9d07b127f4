package fairness

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
)

// analyse builds one analysis: the frame, its disparities and verdict.
func analyse(cols []string, vals [][]string, o Outcomes, req Request, task string) Analysis {
	a := Analysis{Columns: cols, Groups: []Group{}, Disparities: []Disparity{}}
	name := strings.Join(cols, " × ")
	f, err := NewFrame(cols, vals, o, req.MinGroupSize)
	if err != nil {
		a.Note = core.ErrorMessage(err)
		a.Verdict = Verdict{Status: Unknown, Text: "No figures for " + name + ": " + a.Note}
		return a
	}
	a.frame, a.Groups = f, f.Groups
	for _, g := range f.Groups {
		if g.counts() {
			a.Counted++
		}
	}
	switch {
	case len(f.Groups) == 1 && f.Groups[0].Values[0] == Missing && len(cols) == 1:
		a.Note = fmt.Sprintf("Every value of %s is missing, so there are no groups to compare.", name)
	case len(f.Groups) == 1:
		a.Note = fmt.Sprintf("%s has a single group (%s), so there is nothing to compare.", name, f.Groups[0].Name())
	case a.Counted < 2:
		a.Note = fmt.Sprintf("Fewer than two groups of %s have at least %d rows, so there is nothing to compare; lower the minimum group size to see them.", name, req.MinGroupSize)
	}
	lim := req.Limits
	add := func(metricName, label, kind string, v float64, limit *float64) {
		d := Disparity{Name: metricName, Label: label, Kind: kind, Limit: limit}
		if !math.IsNaN(v) && a.Counted >= 2 {
			d.Value = &v
			if limit != nil {
				pass := (kind == "difference" && v <= *limit) || (kind == "ratio" && v >= *limit)
				d.Pass = &pass
			}
		}
		a.Disparities = append(a.Disparities, d)
	}
	if task == ml.Regression {
		add("mean_absolute_error_difference", "MAE difference", "difference", f.Difference(MAE, BetweenGroups), nil)
		add("mean_absolute_error_ratio", "MAE ratio (smallest / largest)", "ratio", f.Ratio(MAE, BetweenGroups), &lim.MinRatio)
		add("root_mean_squared_error_ratio", "RMSE ratio (smallest / largest)", "ratio", f.Ratio(RMSE, BetweenGroups), &lim.MinRatio)
	} else {
		add("demographic_parity_difference", "Demographic parity difference", "difference", f.DemographicParityDifference(BetweenGroups), &lim.MaxDifference)
		add("demographic_parity_ratio", "Demographic parity ratio", "ratio", f.DemographicParityRatio(BetweenGroups), &lim.MinRatio)
		add("equalized_odds_difference", "Equalized odds difference", "difference", f.EqualizedOddsDifference(BetweenGroups), &lim.MaxDifference)
		add("equalized_odds_ratio", "Equalized odds ratio", "ratio", f.EqualizedOddsRatio(BetweenGroups), &lim.MinRatio)
		add("equal_opportunity_difference", "Equal opportunity difference", "difference", f.EqualOpportunityDifference(BetweenGroups), &lim.MaxDifference)
		add("equal_opportunity_ratio", "Equal opportunity ratio", "ratio", f.EqualOpportunityRatio(BetweenGroups), &lim.MinRatio)
	}
	a.Verdict = analysisVerdict(name, a)
	return a
}

// figure writes a number as the app shows it: four significant digits.
func figure(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func analysisVerdict(name string, a Analysis) Verdict {
	if a.Note != "" {
		return Verdict{Status: Unknown, Text: a.Note}
	}
	var fails []string
	held := 0
	for _, d := range a.Disparities {
		if d.Pass == nil {
			continue
		}
		held++
		if !*d.Pass {
			word := "above"
			if d.Kind == "ratio" {
				word = "below"
			}
			fails = append(fails, fmt.Sprintf("%s %s is %s %s", strings.ToLower(d.Label[:1])+d.Label[1:], figure(*d.Value), word, figure(*d.Limit)))
		}
	}
	switch {
	case len(fails) > 0:
		return Verdict{Status: Fail, Text: fmt.Sprintf("Fails on %s: %s.", name, strings.Join(fails, "; "))}
	case held == 0:
		return Verdict{Status: Unknown, Text: fmt.Sprintf("No disparity of %s could be computed.", name)}
	}
	return Verdict{Status: Pass, Text: fmt.Sprintf("Passes on %s: every disparity between its %d groups is within the limits.", name, a.Counted)}
}

// overallVerdict fails when any analysis fails, passes when at least one
// passes and none fails, and cannot tell otherwise. Its text names the
// analyses; each analysis's own verdict has the figures.
func overallVerdict(as []Analysis, lim Limits) Verdict {
	var fails, unknown, passes []string
	outside := 0
	for _, a := range as {
		name := strings.Join(a.Columns, " × ")
		switch a.Verdict.Status {
		case Fail:
			fails = append(fails, name)
			for _, d := range a.Disparities {
				if d.Pass != nil && !*d.Pass {
					outside++
				}
			}
		case Unknown:
			unknown = append(unknown, name)
		default:
			passes = append(passes, name)
		}
	}
	limits := fmt.Sprintf("difference at most %s, ratio at least %s", figure(lim.MaxDifference), figure(lim.MinRatio))
	switch {
	case len(fails) > 0:
		plural := "disparities are"
		if outside == 1 {
			plural = "disparity is"
		}
		return Verdict{Status: Fail, Text: fmt.Sprintf("Fails on %s: %d %s outside the limits (%s).", and(fails), outside, plural, limits)}
	case len(passes) == 0:
		var notes []string
		for _, a := range as {
			notes = append(notes, a.Verdict.Text)
		}
		return Verdict{Status: Unknown, Text: "Cannot tell: " + strings.Join(notes, " ")}
	}
	text := fmt.Sprintf("Passes: the disparities on %s are within the limits (%s).", and(passes), limits)
	if len(unknown) > 0 {
		text += " Nothing to compare on " + and(unknown) + "."
	}
	return Verdict{Status: Pass, Text: text}
}

// and joins names as a sentence does: "a", "a and b", "a, b and c".
func and(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
