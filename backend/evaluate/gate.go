package evaluate

import (
	"fmt"
	"math"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// Rule is one condition of a gate on one metric. Set at least one bound.
type Rule struct {
	Metric string `json:"metric"`
	// MinCandidate and MaxCandidate bound the candidate's own value
	// (e.g. roc_auc at least 0.8, rmse at most 3).
	MinCandidate *float64 `json:"minCandidate,omitempty"`
	MaxCandidate *float64 `json:"maxCandidate,omitempty"`
	// DiffAbove asks the whole interval of candidate − champion to lie
	// above it: for roc_auc, −0.005 means "no worse than half a point,
	// with the report's confidence". DiffBelow asks it to lie below, for
	// metrics where lower is better (log_loss below 0.01).
	DiffAbove *float64 `json:"diffAbove,omitempty"`
	DiffBelow *float64 `json:"diffBelow,omitempty"`
}

// Check is one rule's outcome.
type Check struct {
	Rule     Rule   `json:"rule"`
	Pass     bool   `json:"pass"`
	Sentence string `json:"sentence"`
}

// Verdict is the gate's outcome: Pass only when every check passes.
type Verdict struct {
	Pass     bool    `json:"pass"`
	Checks   []Check `json:"checks"`
	Sentence string  `json:"sentence"`
}

// Gate checks rules against a report. A rule naming a metric the report
// does not have, or setting no bound, is an Invalid error (a gate that
// checks nothing must not pass). A difference rule when the report has no
// champion passes and says so: the first model has nothing to beat.
func Gate(r *Report, rules []Rule) (Verdict, error) {
	if r == nil {
		return Verdict{}, core.Errorf(core.Invalid, "There is no comparison to gate on.")
	}
	if len(rules) == 0 {
		return Verdict{}, core.Errorf(core.Invalid, "The gate has no rules; add at least one.")
	}
	v := Verdict{Pass: true}
	var failed []string
	for i, rule := range rules {
		m, ok := r.Metric(rule.Metric)
		if !ok {
			var names []string
			for _, m := range r.Metrics {
				names = append(names, m.Name)
			}
			return Verdict{}, core.Errorf(core.Invalid, "Gate rule %d names metric %q, which a %s comparison does not report (it reports %s).", i+1, rule.Metric, r.Task, strings.Join(names, ", "))
		}
		if rule.MinCandidate == nil && rule.MaxCandidate == nil && rule.DiffAbove == nil && rule.DiffBelow == nil {
			return Verdict{}, core.Errorf(core.Invalid, "Gate rule %d on %s sets no bound: give minCandidate, maxCandidate, diffAbove or diffBelow.", i+1, rule.Metric)
		}
		for _, b := range []*float64{rule.MinCandidate, rule.MaxCandidate, rule.DiffAbove, rule.DiffBelow} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return Verdict{}, core.Errorf(core.Invalid, "Gate rule %d on %s has a bound that is not a finite number.", i+1, rule.Metric)
			}
		}
		c := check(r, m, rule)
		if !c.Pass {
			v.Pass = false
			failed = append(failed, c.Sentence)
		}
		v.Checks = append(v.Checks, c)
	}
	if v.Pass {
		parts := make([]string, len(v.Checks))
		for i, c := range v.Checks {
			parts[i] = c.Sentence
		}
		v.Sentence = "Passed: " + strings.Join(parts, " ")
	} else {
		v.Sentence = "Failed: " + strings.Join(failed, " ")
	}
	return v, nil
}

func check(r *Report, m Metric, rule Rule) Check {
	c := Check{Rule: rule, Pass: true}
	var says []string
	fail := func(s string) { c.Pass = false; says = append(says, s) }
	ok := func(s string) { says = append(says, s) }
	name := metricName(m.Name)
	if b := rule.MinCandidate; b != nil {
		if m.Candidate >= *b {
			ok(fmt.Sprintf("candidate %s %s ≥ %s.", name, num(m.Candidate), num(*b)))
		} else {
			fail(fmt.Sprintf("candidate %s %s is below the minimum %s.", name, num(m.Candidate), num(*b)))
		}
	}
	if b := rule.MaxCandidate; b != nil {
		if m.Candidate <= *b {
			ok(fmt.Sprintf("candidate %s %s ≤ %s.", name, num(m.Candidate), num(*b)))
		} else {
			fail(fmt.Sprintf("candidate %s %s is above the maximum %s.", name, num(m.Candidate), num(*b)))
		}
	}
	if rule.DiffAbove != nil || rule.DiffBelow != nil {
		iv := m.Interval
		conf := fmt.Sprintf("%s %%", num(r.Options.Confidence*100))
		span := fmt.Sprintf("the %s interval of candidate − champion %s, [%s, %s],", conf, name, num(iv.Low), num(iv.High))
		switch {
		case r.Champion == "":
			ok(fmt.Sprintf("no champion to compare %s with, so the difference rule does not apply.", name))
		case iv.Replicates == 0:
			fail(fmt.Sprintf("%s could not be computed on any resample, so its difference is unknown.", name))
		default:
			if b := rule.DiffAbove; b != nil {
				if iv.Low > *b {
					ok(fmt.Sprintf("%s lies above %s.", span, num(*b)))
				} else {
					fail(fmt.Sprintf("%s does not lie above %s.", span, num(*b)))
				}
			}
			if b := rule.DiffBelow; b != nil {
				if iv.High < *b {
					ok(fmt.Sprintf("%s lies below %s.", span, num(*b)))
				} else {
					fail(fmt.Sprintf("%s does not lie below %s.", span, num(*b)))
				}
			}
		}
	}
	c.Sentence = capitalise(strings.Join(says, " "))
	return c
}

// metricName is how a metric is named in sentences.
func metricName(m string) string {
	switch m {
	case "roc_auc":
		return "AUC"
	case "log_loss":
		return "log loss"
	case "rmse", "mae":
		return strings.ToUpper(m)
	case "r2":
		return "R²"
	case "f1":
		return "F1"
	}
	return m
}

// num formats a figure with four significant digits, as the app does.
func num(x float64) string {
	if x == 0 {
		return "0"
	}
	s := fmt.Sprintf("%.4g", x)
	return strings.Replace(s, "-", "−", 1)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
