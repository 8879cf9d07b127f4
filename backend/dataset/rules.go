package dataset

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Validation rules live here, beside the import, rather than in a package
// of their own: they are evaluated inside the import's one pass (format and
// category rules test each value as the profile counts it) and their
// results are written in the import's own transaction, so they need the
// profiler and the commit that only this package has.

// RuleKind names what a rule checks.
type RuleKind string

const (
	RuleNotNull    RuleKind = "not_null"   // Column present in at least MinShare of rows
	RuleUnique     RuleKind = "unique"     // Column has no repeated value
	RuleRange      RuleKind = "range"      // Column's values within [Min, Max], all finite
	RuleCategories RuleKind = "categories" // Column's values all in Allowed
	RuleFormat     RuleKind = "format"     // Column's values all match Pattern (whole value)
	RuleRows       RuleKind = "rows"       // row count within [Min, Max]
	RuleSchema     RuleKind = "schema"     // the columns and types are Schema's
	RuleDrift      RuleKind = "drift"      // Column (or every column) moved at most MaxDistance from the previous version
)

// Rule is one expectation a dataset's versions must meet.
type Rule struct {
	ID     string   `json:"id"`
	Kind   RuleKind `json:"kind"`
	Column string   `json:"column,omitempty"`
	// MinShare is the least share of rows (0–1) with a value (not_null).
	MinShare *float64 `json:"minShare,omitempty"`
	// Min and Max bound values (range) or the row count (rows).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Allowed are the permitted values (categories).
	Allowed []string `json:"allowed,omitempty"`
	// Pattern is a regular expression (Go RE2 syntax) each value must match
	// as a whole (format).
	Pattern string `json:"pattern,omitempty"`
	// Schema is the expected columns in order (schema).
	Schema []SchemaColumn `json:"schema,omitempty"`
	// MaxDistance bounds the distance to the previous version (drift): KS
	// between the quantile sketches for numbers, total variation for
	// categories, both in [0, 1] as the version diff shows them.
	MaxDistance *float64 `json:"maxDistance,omitempty"`
}

// SchemaColumn is a column a schema rule expects.
type SchemaColumn struct {
	Name string     `json:"name"`
	Type ColumnType `json:"type"`
}

// RuleResult is one rule's verdict on one version.
type RuleResult struct {
	Rule   Rule   `json:"rule"`
	Passed bool   `json:"passed"`
	Column string `json:"column,omitempty"`
	// Value is the offending value ("" when the rule passed): the first
	// value outside the allowed set or format, the minimum below a range,
	// the missing share, the changed column.
	Value string `json:"value,omitempty"`
	// Line is where Value was first seen, for rules checked per value.
	Line    int64  `json:"line,omitempty"`
	Message string `json:"message"`
}

// Validation is the check of one version against its dataset's rules.
type Validation struct {
	VersionID string       `json:"versionId"`
	Checked   time.Time    `json:"checked"`
	Passed    bool         `json:"passed"`
	Failed    int          `json:"failed"`
	Results   []RuleResult `json:"results"`
}

// valueCheck tests each present value of one column during the import's
// pass, for the rules a profile cannot answer afterwards (a regular
// expression needs the values; an allowed set must see every value, not
// the top 20). It keeps the count of failures and the first one by line.
type valueCheck struct {
	rule    int // index into the rules
	re      *regexp.Regexp
	allowed map[string]bool
	bad     int64
	first   string
	line    int64
}

func (c *valueCheck) test(b []byte, line int64) {
	ok := true
	if c.re != nil {
		ok = c.re.Match(b)
	} else if c.allowed != nil {
		ok = c.allowed[string(b)]
	}
	if ok {
		return
	}
	c.bad++
	if c.bad == 1 || line < c.line {
		c.first, c.line = string(b), line
	}
}

func (c *valueCheck) merge(o *valueCheck) {
	if o.bad > 0 && (c.bad == 0 || o.line < c.line) {
		c.first, c.line = o.first, o.line
	}
	c.bad += o.bad
}

// passChecks are the value checks the rules need, by column name, built
// fresh for each parse worker.
func passChecks(rules []Rule, col string) []*valueCheck {
	var out []*valueCheck
	for i, r := range rules {
		if r.Column != col {
			continue
		}
		switch r.Kind {
		case RuleFormat:
			re, err := compilePattern(r.Pattern)
			if err == nil {
				out = append(out, &valueCheck{rule: i, re: re})
			}
		case RuleCategories:
			m := make(map[string]bool, len(r.Allowed))
			for _, a := range r.Allowed {
				m[a] = true
			}
			out = append(out, &valueCheck{rule: i, allowed: m})
		}
	}
	return out
}

// compilePattern anchors the pattern so it must match a whole value.
func compilePattern(p string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		return nil, core.Errorf(core.Invalid, "The format %q is not a regular expression Tern can read: %v.", p, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// checkedValues is what the pass found for each value-checked rule.
type checkedValues map[int]*valueCheck

// ValidateRules checks a rule set for mistakes before it is saved, and
// gives each rule an ID.
func ValidateRules(rules []Rule) ([]Rule, error) {
	out := make([]Rule, 0, len(rules))
	for i, r := range rules {
		n := i + 1
		switch r.Kind {
		case RuleNotNull, RuleUnique, RuleRange, RuleCategories, RuleFormat, RuleRows, RuleSchema, RuleDrift:
		default:
			return nil, core.Errorf(core.Invalid, "Rule %d: %q is not a rule kind; use not_null, unique, range, categories, format, rows, schema or drift.", n, r.Kind)
		}
		needCol := r.Kind != RuleRows && r.Kind != RuleSchema && r.Kind != RuleDrift
		if needCol && strings.TrimSpace(r.Column) == "" {
			return nil, core.Errorf(core.Invalid, "Rule %d (%s) needs a column.", n, r.Kind)
		}
		bad := func(v *float64) bool { return v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) }
		if bad(r.Min) || bad(r.Max) || bad(r.MinShare) || bad(r.MaxDistance) {
			return nil, core.Errorf(core.Invalid, "Rule %d (%s): bounds must be finite numbers.", n, r.Kind)
		}
		switch r.Kind {
		case RuleNotNull:
			if r.MinShare == nil {
				one := 1.0
				r.MinShare = &one
			}
			if *r.MinShare < 0 || *r.MinShare > 1 {
				return nil, core.Errorf(core.Invalid, "Rule %d: the share of present values must be between 0 and 1.", n)
			}
		case RuleUnique:
		case RuleRange, RuleRows:
			if r.Min == nil && r.Max == nil {
				return nil, core.Errorf(core.Invalid, "Rule %d (%s) needs a minimum, a maximum or both.", n, r.Kind)
			}
			if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
				return nil, core.Errorf(core.Invalid, "Rule %d: the minimum %g is above the maximum %g.", n, *r.Min, *r.Max)
			}
		case RuleCategories:
			if len(r.Allowed) == 0 {
				return nil, core.Errorf(core.Invalid, "Rule %d: list at least one allowed value for %q.", n, r.Column)
			}
		case RuleFormat:
			if r.Pattern == "" {
				return nil, core.Errorf(core.Invalid, "Rule %d: a format rule needs a regular expression.", n)
			}
			if _, err := compilePattern(r.Pattern); err != nil {
				return nil, core.Errorf(core.Invalid, "Rule %d: %s", n, core.ErrorMessage(err))
			}
		case RuleSchema:
			if len(r.Schema) == 0 {
				return nil, core.Errorf(core.Invalid, "Rule %d: a schema rule needs the expected columns.", n)
			}
		case RuleDrift:
			if r.MaxDistance == nil || *r.MaxDistance < 0 || *r.MaxDistance > 1 {
				return nil, core.Errorf(core.Invalid, "Rule %d: a drift rule needs a largest distance between 0 and 1.", n)
			}
		}
		if r.ID == "" {
			r.ID = core.NewID()
		}
		out = append(out, r)
	}
	return out, nil
}

// evaluate checks a version against rules from its profile, the value
// checks of its pass (nil when the rule's values were not checked), and
// the previous version's profile for drift (nil for a first version).
func evaluate(rules []Rule, v Version, p *Profile, vals checkedValues, prev *Version, prevProf *Profile, now time.Time) Validation {
	out := Validation{VersionID: v.ID, Checked: now, Passed: true, Results: []RuleResult{}}
	cols := map[string]*ColumnProfile{}
	for i := range p.Columns {
		cols[p.Columns[i].Name] = &p.Columns[i]
	}
	for i, r := range rules {
		res := RuleResult{Rule: r, Column: r.Column, Passed: true}
		fail := func(value, format string, args ...any) {
			res.Passed, res.Value, res.Message = false, value, fmt.Sprintf(format, args...)
		}
		c := cols[r.Column]
		if c == nil && r.Kind != RuleRows && r.Kind != RuleSchema && r.Kind != RuleDrift {
			fail(r.Column, "Column %q is not in %s v%d%s.", r.Column, v.Dataset, v.Number, renamedHint(r.Column, prev, v))
			out.add(res)
			continue
		}
		switch r.Kind {
		case RuleNotNull:
			share := 0.0
			if p.Rows > 0 {
				share = float64(c.Count) / float64(p.Rows)
			}
			res.Message = fmt.Sprintf("%s present in %s of rows (at least %s required).", r.Column, pct(share), pct(*r.MinShare))
			if p.Rows == 0 {
				fail("no rows", "%s v%d has no rows, so %s has no values.", v.Dataset, v.Number, r.Column)
			} else if share < *r.MinShare {
				fail(pct(1-share)+" missing", "%s is missing in %d of %d rows (%s present; at least %s required).", r.Column, p.Rows-c.Count, p.Rows, pct(share), pct(*r.MinShare))
			}
		case RuleUnique:
			res.Message = fmt.Sprintf("%s has no repeated value.", r.Column)
			if c.Categories != nil && len(c.Categories.Top) > 0 && c.Categories.Top[0].Count > 1 {
				top := c.Categories.Top[0]
				fail(top.Value, "%s repeats %q (%d times).", r.Column, top.Value, top.Count)
			} else if c.Count > 0 && float64(c.Distinct) < 0.97*float64(c.Count) {
				// Numbers: only the HyperLogLog estimate (±2%) is kept, so a
				// shortfall beyond its error is what proves repeats.
				fail(fmt.Sprintf("≈%d distinct of %d", c.Distinct, c.Count), "%s has about %d distinct values in %d rows: values repeat.", r.Column, c.Distinct, c.Count)
			}
		case RuleRange:
			res.Message = fmt.Sprintf("%s within %s.", r.Column, bounds(r.Min, r.Max))
			ns := c.Numeric
			switch {
			case ns == nil:
				fail(string(c.Type), "%s is %s, not numbers, so it has no range.", r.Column, c.Type)
			case ns.NonFinite > 0:
				fail("Inf", "%s has %d infinite or NaN values.", r.Column, ns.NonFinite)
			case c.Count == 0:
				// nothing to check: an all-missing column is for not_null
				res.Message = fmt.Sprintf("%s has no values to check.", r.Column)
			case r.Min != nil && ns.Min < *r.Min:
				fail(num(ns.Min), "%s goes down to %s, below the minimum %s.", r.Column, num(ns.Min), num(*r.Min))
			case r.Max != nil && ns.Max > *r.Max:
				fail(num(ns.Max), "%s goes up to %s, above the maximum %s.", r.Column, num(ns.Max), num(*r.Max))
			}
		case RuleCategories, RuleFormat:
			what := "an allowed value"
			if r.Kind == RuleFormat {
				what = "in the format " + r.Pattern
			}
			res.Message = fmt.Sprintf("Every %s value is %s.", r.Column, what)
			vc := vals[i]
			switch {
			case vc == nil:
				fail("", "%s was not checked value by value; check the version again to read it.", r.Column)
			case vc.bad > 0:
				res.Line = vc.line
				fail(vc.first, "%s has %d value%s not %s, first %q on line %d.", r.Column, vc.bad, plural(vc.bad), what, vc.first, vc.line)
			}
		case RuleRows:
			res.Message = fmt.Sprintf("%d rows, within %s.", p.Rows, bounds(r.Min, r.Max))
			if r.Min != nil && float64(p.Rows) < *r.Min || r.Max != nil && float64(p.Rows) > *r.Max {
				fail(fmt.Sprint(p.Rows), "%s v%d has %d rows; expected %s.", v.Dataset, v.Number, p.Rows, bounds(r.Min, r.Max))
			}
		case RuleSchema:
			res.Message = "The columns and their types are as expected."
			if col, msg := schemaChange(r.Schema, v.Schema); msg != "" {
				res.Column = col
				fail(col, "%s", msg)
			}
		case RuleDrift:
			res.Message = fmt.Sprintf("No column moved more than %s from the previous version.", num(*r.MaxDistance))
			if prev == nil || prevProf == nil {
				res.Message = "First version: nothing to compare with."
				break
			}
			worst, worstCol := -1.0, ""
			old := map[string]*ColumnProfile{}
			for j := range prevProf.Columns {
				old[prevProf.Columns[j].Name] = &prevProf.Columns[j]
			}
			for _, cp := range p.Columns {
				if r.Column != "" && cp.Name != r.Column {
					continue
				}
				o := old[cp.Name]
				if o == nil {
					continue
				}
				if d := shift(*o, cp, prev.Rows, v.Rows).Distance; d > worst {
					worst, worstCol = d, cp.Name
				}
			}
			if worst > *r.MaxDistance {
				res.Column = worstCol
				fail(num(worst), "%s moved %s from v%d (largest allowed %s).", worstCol, num(worst), prev.Number, num(*r.MaxDistance))
			}
		}
		out.add(res)
	}
	return out
}

// CheckSummary is what a version's badge shows.
type CheckSummary struct {
	Passed bool `json:"passed"`
	Failed int  `json:"failed"`
	Rules  int  `json:"rules"`
}

func (v Validation) summary() *CheckSummary {
	return &CheckSummary{Passed: v.Passed, Failed: v.Failed, Rules: len(v.Results)}
}

func (v *Validation) add(r RuleResult) {
	if !r.Passed {
		v.Passed = false
		v.Failed++
	}
	v.Results = append(v.Results, r)
}

// renamedHint names the column that appeared when the expected one left,
// so "the column was renamed" reads as such.
func renamedHint(name string, prev *Version, v Version) string {
	if prev == nil {
		return ""
	}
	was := map[string]bool{}
	for _, c := range prev.Schema {
		was[c.Name] = true
	}
	for _, c := range v.Schema {
		if !was[c.Name] {
			return fmt.Sprintf(" (renamed to %q?)", c.Name)
		}
	}
	return ""
}

// schemaChange names the first difference between the expected and the
// actual columns: removed, type changed, added (a rename is both).
func schemaChange(want []SchemaColumn, got []Column) (string, string) {
	have := map[string]Column{}
	for _, c := range got {
		have[c.Name] = c
	}
	exp := map[string]bool{}
	var removed []string
	for _, w := range want {
		exp[w.Name] = true
		c, ok := have[w.Name]
		if !ok {
			removed = append(removed, w.Name)
			continue
		}
		if w.Type != "" && c.Type != w.Type {
			return w.Name, fmt.Sprintf("Column %q is %s; it was %s.", w.Name, c.Type, w.Type)
		}
	}
	var added []string
	for _, c := range got {
		if !exp[c.Name] {
			added = append(added, c.Name)
		}
	}
	switch {
	case len(removed) == 1 && len(added) == 1:
		return removed[0], fmt.Sprintf("Column %q was renamed to %q (or removed, and %q added).", removed[0], added[0], added[0])
	case len(removed) > 0:
		return removed[0], fmt.Sprintf("Column %q is missing%s.", removed[0], more(len(removed)-1))
	case len(added) > 0:
		return added[0], fmt.Sprintf("Column %q is new%s.", added[0], more(len(added)-1))
	}
	return "", ""
}

func more(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d more)", n)
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pct(f float64) string { return fmt.Sprintf("%.4g%%", 100*f) }

func num(f float64) string { return fmt.Sprintf("%.4g", f) }

func bounds(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("%s to %s", num(*lo), num(*hi))
	case lo != nil:
		return "at least " + num(*lo)
	case hi != nil:
		return "at most " + num(*hi)
	}
	return "any range"
}

// Suggest proposes rules from a version's profile: what this version
// already meets, as a starting point to edit. Columns that are all missing,
// text and ID-like columns get only what fits them.
func Suggest(v Version, p Profile) []Rule {
	f := func(x float64) *float64 { return &x }
	var out []Rule
	out = append(out, Rule{Kind: RuleRows, Min: f(math.Floor(float64(p.Rows) / 2))})
	var schema []SchemaColumn
	for _, c := range v.Schema {
		schema = append(schema, SchemaColumn{Name: c.Name, Type: c.Type})
	}
	out = append(out, Rule{Kind: RuleSchema, Schema: schema})
	role := map[string]Role{}
	for _, c := range v.Schema {
		role[c.Name] = c.Role
	}
	for _, c := range p.Columns {
		if c.Count == 0 {
			continue
		}
		if c.Missing == 0 {
			out = append(out, Rule{Kind: RuleNotNull, Column: c.Name, MinShare: f(1)})
		} else if share := float64(c.Count) / float64(max(p.Rows, 1)); share >= 0.5 {
			// Leave room: the next version may miss a little more.
			out = append(out, Rule{Kind: RuleNotNull, Column: c.Name, MinShare: f(math.Floor(share*0.95*100) / 100)})
		}
		if role[c.Name] == IDRole || (c.Distinct >= c.Count && c.Count > 1 && (c.Type == Integer || c.Type == Text)) {
			out = append(out, Rule{Kind: RuleUnique, Column: c.Name})
			continue
		}
		switch {
		case c.Numeric != nil && c.Type != Boolean && c.Type != Datetime:
			out = append(out, Rule{Kind: RuleRange, Column: c.Name, Min: f(c.Numeric.Min), Max: f(c.Numeric.Max)})
		case c.Type == Categorical && c.Categories != nil && !c.Categories.Approximate && c.Categories.Other == 0:
			var vals []string
			for _, t := range c.Categories.Top {
				vals = append(vals, t.Value)
			}
			sort.Strings(vals)
			out = append(out, Rule{Kind: RuleCategories, Column: c.Name, Allowed: vals})
		}
	}
	out = append(out, Rule{Kind: RuleDrift, MaxDistance: f(0.2)})
	rules, _ := ValidateRules(out)
	return rules
}

// Rules returns a dataset's rules (none yet is an empty list).
func (s *Service) Rules(datasetID string) ([]Rule, error) {
	rules := []Rule{}
	err := s.db.DB.View(func(txn *badger.Txn) error {
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(datasetID)), &d); err != nil {
			return notFound(err, "There is no dataset with id %s.", datasetID)
		}
		return s.rules(txn, datasetID, &rules)
	})
	return rules, err
}

func (s *Service) rules(txn *badger.Txn, datasetID string, out *[]Rule) error {
	err := store.GetJSON(txn, store.Key(pRules, []byte(datasetID)), out)
	if err == badger.ErrKeyNotFound {
		return nil
	}
	return err
}

// SetRules replaces a dataset's rules; new versions are checked against
// them on import.
func (s *Service) SetRules(datasetID string, rules []Rule) ([]Rule, error) {
	rules, err := ValidateRules(rules)
	if err != nil {
		return nil, err
	}
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		var d Dataset
		if err := store.GetJSON(txn, store.Key(pDataset, []byte(datasetID)), &d); err != nil {
			return notFound(err, "There is no dataset with id %s.", datasetID)
		}
		if err := audit.Append(txn, audit.Record{Action: "dataset.rules", Objects: []audit.Object{datasetObj(d)}, After: fmt.Sprintf("%d rules", len(rules))}); err != nil {
			return err
		}
		return store.SetJSON(txn, store.Key(pRules, []byte(datasetID)), rules)
	})
	if err != nil {
		return nil, err
	}
	s.bus.Publish(TopicChanged, map[string]string{"datasetId": datasetID})
	return rules, nil
}

// SuggestRules proposes rules from a version's stored profile.
func (s *Service) SuggestRules(versionID string) ([]Rule, error) {
	v, err := s.Version(versionID)
	if err != nil {
		return nil, err
	}
	p, err := s.Profile(versionID)
	if err != nil {
		return nil, err
	}
	return Suggest(v, p), nil
}

// Validation returns the stored check of a version; ok is false when the
// version was imported before its dataset had rules.
func (s *Service) Validation(versionID string) (Validation, bool, error) {
	var val Validation
	err := s.db.DB.View(func(txn *badger.Txn) error {
		return store.GetJSON(txn, store.Key(pValidation, []byte(versionID)), &val)
	})
	if err == badger.ErrKeyNotFound {
		return val, false, nil
	}
	if err != nil {
		return val, false, core.Wrap(err, core.Internal, "Tern could not read the checks of this version.")
	}
	return val, true, nil
}

// Check evaluates a version against its dataset's current rules, stores the
// result and returns it: the call a pipeline's validate step makes (it
// stops when Passed is false). Rules read from the profile cost nothing;
// format and category rules need the values, so when there are any the
// version's stored bytes are read once more (an import checks them in its
// own pass instead).
func (s *Service) Check(ctx context.Context, versionID string) (Validation, error) {
	v, err := s.Version(versionID)
	if err != nil {
		return Validation{}, err
	}
	rules, err := s.Rules(v.DatasetID)
	if err != nil {
		return Validation{}, err
	}
	p, err := s.Profile(versionID)
	if err != nil {
		return Validation{}, err
	}
	var vals checkedValues
	for _, r := range rules {
		if r.Kind != RuleFormat && r.Kind != RuleCategories {
			continue
		}
		path, err := s.VersionFile(v.ID)
		if err != nil {
			return Validation{}, err
		}
		f, err := os.Open(path)
		if err != nil {
			return Validation{}, core.Wrap(err, core.Unavailable, "Tern cannot read the stored file of %s v%d.", v.Dataset, v.Number)
		}
		defer f.Close()
		fi, _ := f.Stat()
		opts := Options{Options: v.Reading(), checks: rules}
		pp, err := parseStream(ctx, f, io.Discard, func() (io.ReaderAt, int64, error) { return f, fi.Size(), nil }, v.SourceName, opts, nil)
		if err != nil {
			return Validation{}, err
		}
		vals = pp.vals
		break
	}
	var prev *Version
	var prevProf *Profile
	if err := s.db.DB.View(func(txn *badger.Txn) error {
		vs, err := s.versions(txn, v.DatasetID, false)
		for i := range vs {
			if vs[i].Number < v.Number {
				prev = &vs[i]
				break
			}
		}
		return err
	}); err != nil {
		return Validation{}, core.Wrap(err, core.Internal, "Tern could not read the versions of %s.", v.Dataset)
	}
	if prev != nil {
		if pp, err := s.Profile(prev.ID); err == nil {
			prevProf = &pp
		}
	}
	val := evaluate(rules, v, &p, vals, prev, prevProf, s.Now().UTC())
	err = s.db.DB.Update(func(txn *badger.Txn) error {
		var cur Version
		if err := store.GetJSON(txn, store.Key(pVersion, []byte(v.ID)), &cur); err != nil {
			return err
		}
		cur.Checks = val.summary()
		if err := audit.Append(txn, audit.Record{Action: "dataset_version.check", Objects: []audit.Object{versionObj(cur)}, After: fmt.Sprintf("%d of %d rules failed", cur.Checks.Failed, cur.Checks.Rules)}); err != nil {
			return err
		}
		if err := store.SetJSON(txn, store.Key(pVersion, []byte(v.ID)), cur.stored()); err != nil {
			return err
		}
		return store.SetJSON(txn, store.Key(pValidation, []byte(v.ID)), val)
	})
	if err != nil {
		return val, core.Wrap(err, core.Internal, "Tern could not record the checks of %s v%d.", v.Dataset, v.Number)
	}
	s.bus.Publish(TopicChanged, map[string]string{"datasetId": v.DatasetID, "versionId": v.ID})
	return val, nil
}
