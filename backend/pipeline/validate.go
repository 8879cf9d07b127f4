package pipeline

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/tern-studio/tern/backend/core"
)

// Problem is one thing wrong with a pipeline, worded for a person and
// pointing at the place: the step, and the field or input inside it.
// Line is set when the pipeline came from a YAML file.
type Problem struct {
	Step    string `json:"step,omitempty"`
	Field   string `json:"field,omitempty"`
	Input   string `json:"input,omitempty"`
	Trigger int    `json:"trigger,omitempty"` // 1-based; 0 when not about a trigger
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("Line %d: %s", p.Line, p.Message)
	}
	return p.Message
}

// problemsError joins problems into one worded core.Invalid error (the
// first few; a pipeline with twenty problems needs the first ones fixed).
func problemsError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	const most = 5
	var parts []string
	for i, p := range ps {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(ps)-most))
			break
		}
		parts = append(parts, p.String())
	}
	return core.Errorf(core.Invalid, "%s", strings.Join(parts, " "))
}

// MaxSteps bounds a pipeline (a real one has about ten).
const MaxSteps = 200

var stepIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// cronParser reads five-field expressions and @hourly-style descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron reads a schedule trigger's expression.
func ParseCron(expr string) (cron.Schedule, error) {
	s, err := cronParser.Parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, core.Wrap(err, core.Invalid, "The schedule %q is not a cron expression (five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\" for 03:00 every day; or @hourly, @daily, @weekly): %s.", expr, err.Error())
	}
	return s, nil
}

// Normalize makes a spec canonical in place (field values as JSON gives
// them back, empty maps rather than nil) so equal specs compare equal.
func Normalize(p *Pipeline) error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Triggers == nil {
		p.Triggers = []Trigger{}
	}
	if p.Steps == nil {
		p.Steps = []Step{}
	}
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Fields == nil {
			s.Fields = map[string]any{}
		}
		if s.Inputs == nil {
			s.Inputs = map[string]string{}
		}
		for k, v := range s.Fields {
			c, err := canonical(v)
			if err != nil {
				return core.Wrap(err, core.Invalid, "Step %q: field %q holds a value that cannot be stored (%s).", s.ID, k, err.Error())
			}
			s.Fields[k] = c
		}
	}
	return nil
}

// Validate checks p against the step types in types and returns every
// problem found, each naming its place; none means p can run.
func Validate(p Pipeline, types *Types) []Problem {
	var ps []Problem
	add := func(pr Problem) { ps = append(ps, pr) }
	if strings.TrimSpace(p.Name) == "" {
		add(Problem{Message: "The pipeline needs a name."})
	}
	switch p.OnActive {
	case "", OnActiveCoalesce, OnActiveQueue:
	default:
		add(Problem{Field: "on_active", Message: fmt.Sprintf("on_active is %q; it must be %q or %q.", p.OnActive, OnActiveCoalesce, OnActiveQueue)})
	}
	for i, t := range p.Triggers {
		ps = append(ps, validateTrigger(i+1, t)...)
	}
	if len(p.Steps) == 0 {
		add(Problem{Message: "The pipeline has no steps; add at least one."})
	}
	if len(p.Steps) > MaxSteps {
		return append(ps, Problem{Message: fmt.Sprintf("The pipeline has %d steps; Tern runs pipelines of up to %d.", len(p.Steps), MaxSteps)})
	}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if !stepIDPattern.MatchString(s.ID) {
			add(Problem{Step: s.ID, Field: "id", Message: fmt.Sprintf("Step id %q must start with a letter and hold only letters, digits, - and _ (at most 64).", s.ID)})
		}
		if seen[s.ID] {
			add(Problem{Step: s.ID, Field: "id", Message: fmt.Sprintf("Two steps are called %q; step ids must be unique.", s.ID)})
		}
		seen[s.ID] = true
	}
	for _, s := range p.Steps {
		d, ok := types.Get(s.Type)
		if !ok {
			add(Problem{Step: s.ID, Field: "type", Message: fmt.Sprintf("Step %q: unknown step type %q (known: %s).", s.ID, s.Type, strings.Join(types.names(), ", "))})
			continue
		}
		ps = append(ps, validateFields(s, d.Type)...)
		ps = append(ps, validateInputs(p, s, d.Type, types)...)
	}
	if cyc := findCycle(p); cyc != nil {
		add(Problem{Step: cyc[0], Message: fmt.Sprintf("The steps form a cycle: %s; a pipeline must flow one way.", strings.Join(cyc, " → "))})
	}
	return ps
}

func validateTrigger(n int, t Trigger) []Problem {
	bad := func(msg string, args ...any) []Problem {
		return []Problem{{Trigger: n, Message: fmt.Sprintf("Trigger %d (%s): ", n, t.Kind) + fmt.Sprintf(msg, args...)}}
	}
	if t.ImportOnly && t.Kind != TriggerFolder {
		return bad("only a folder trigger can import without starting a run (import_only).")
	}
	switch t.Kind {
	case TriggerManual, TriggerWebhook:
	case TriggerSchedule:
		if strings.TrimSpace(t.Cron) == "" {
			return bad("a schedule needs a cron expression, e.g. \"0 3 * * *\".")
		}
		if _, err := ParseCron(t.Cron); err != nil {
			return bad("%s", core.ErrorMessage(err))
		}
	case TriggerDataset:
		if strings.TrimSpace(t.Dataset) == "" {
			return bad("name the dataset whose new versions start a run.")
		}
	case TriggerAlert:
	case TriggerFolder:
		if strings.TrimSpace(t.Folder) == "" || !filepath.IsAbs(t.Folder) {
			return bad("give the folder to watch as an absolute path (e.g. /home/me/incoming).")
		}
		if strings.TrimSpace(t.Dataset) == "" {
			return bad("name the dataset whose next versions the new files become.")
		}
	default:
		return []Problem{{Trigger: n, Message: fmt.Sprintf("Trigger %d: unknown kind %q (known: manual, schedule, dataset, alert, webhook, folder).", n, t.Kind)}}
	}
	return nil
}

func validateFields(s Step, t StepType) []Problem {
	var ps []Problem
	names := make([]string, 0, len(s.Fields))
	for k := range s.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		f, ok := t.field(k)
		if !ok {
			var known []string
			for _, f := range t.Fields {
				known = append(known, f.Name)
			}
			ps = append(ps, Problem{Step: s.ID, Field: k, Message: fmt.Sprintf("Step %q: a %s step has no field %q (its fields: %s).", s.ID, t.Name, k, strings.Join(known, ", "))})
			continue
		}
		if msg := checkKind(f, s.Fields[k]); msg != "" {
			ps = append(ps, Problem{Step: s.ID, Field: k, Message: fmt.Sprintf("Step %q: field %q %s.", s.ID, k, msg)})
		}
	}
	for _, f := range t.Fields {
		v, ok := s.Fields[f.Name]
		if f.Required && f.Default == nil && (!ok || v == nil || v == "") {
			ps = append(ps, Problem{Step: s.ID, Field: f.Name, Message: fmt.Sprintf("Step %q: field %q is required (%s).", s.ID, f.Name, strings.TrimSuffix(f.Help, "."))})
		}
	}
	return ps
}

// checkKind says what is wrong with v for f, or "" when it fits. Values
// are canonical JSON values (numbers float64).
func checkKind(f Field, v any) string {
	if v == nil {
		return ""
	}
	switch f.Kind {
	case KindString:
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("must be text, not %s", describe(v))
		}
	case KindEnum:
		s, ok := v.(string)
		if !ok {
			return fmt.Sprintf("must be one of %s, not %s", strings.Join(f.Options, ", "), describe(v))
		}
		for _, o := range f.Options {
			if o == s {
				return ""
			}
		}
		return fmt.Sprintf("is %q; it must be one of %s", s, strings.Join(f.Options, ", "))
	case KindInt:
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || math.IsInf(n, 0) || math.Abs(n) > 1<<53 {
			return fmt.Sprintf("must be a whole number, not %s", describe(v))
		}
	case KindFloat:
		if _, ok := v.(float64); !ok {
			return fmt.Sprintf("must be a number, not %s", describe(v))
		}
	case KindBool:
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("must be true or false, not %s", describe(v))
		}
	case KindObject:
		if _, ok := v.(map[string]any); !ok {
			return fmt.Sprintf("must be a set of name: value pairs, not %s", describe(v))
		}
	case KindList:
		l, ok := v.([]any)
		if !ok {
			return fmt.Sprintf("must be a list of names, not %s", describe(v))
		}
		for i, e := range l {
			if _, ok := e.(string); !ok {
				return fmt.Sprintf("item %d must be text, not %s", i+1, describe(e))
			}
		}
	}
	return ""
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the text %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case map[string]any:
		return "a set of name: value pairs"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// ParseRef splits an input wiring "step.output".
func ParseRef(ref string) (step, output string, ok bool) {
	i := strings.LastIndexByte(ref, '.')
	if i <= 0 || i == len(ref)-1 {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

func validateInputs(p Pipeline, s Step, t StepType, types *Types) []Problem {
	var ps []Problem
	names := make([]string, 0, len(s.Inputs))
	for k := range s.Inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ref := s.Inputs[k]
		in, ok := t.input(k)
		if !ok {
			var known []string
			for _, p := range t.Inputs {
				known = append(known, p.Name)
			}
			list := strings.Join(known, ", ")
			if list == "" {
				list = "none"
			}
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: a %s step has no input %q (its inputs: %s).", s.ID, t.Name, k, list)})
			continue
		}
		from, out, ok := ParseRef(ref)
		if !ok {
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: input %q is wired to %q; write it as step.output, e.g. data.version.", s.ID, k, ref)})
			continue
		}
		if from == s.ID {
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: input %q is wired to the step's own output; that is a cycle: %s → %s.", s.ID, k, s.ID, s.ID)})
			continue
		}
		up, ok := p.step(from)
		if !ok {
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: input %q is wired to step %q, which is not in the pipeline.", s.ID, k, from)})
			continue
		}
		ud, ok := types.Get(up.Type)
		if !ok {
			continue // reported on the upstream step itself
		}
		o, ok := ud.Type.output(out)
		if !ok {
			var known []string
			for _, p := range ud.Type.Outputs {
				known = append(known, p.Name)
			}
			list := strings.Join(known, ", ")
			if list == "" {
				list = "none"
			}
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: input %q is wired to %q, but a %s step has no output %q (its outputs: %s).", s.ID, k, ref, ud.Type.Name, out, list)})
			continue
		}
		if in.Type != AnyType && in.Type != o.Type {
			ps = append(ps, Problem{Step: s.ID, Input: k, Message: fmt.Sprintf("Step %q: input %q takes a %s, but %q gives a %s.", s.ID, k, in.Type, ref, o.Type)})
		}
	}
	for _, in := range t.Inputs {
		if _, ok := s.Inputs[in.Name]; !ok && !in.Optional {
			ps = append(ps, Problem{Step: s.ID, Input: in.Name, Message: fmt.Sprintf("Step %q: input %q (a %s) is not wired to any step's output.", s.ID, in.Name, in.Type)})
		}
	}
	return ps
}

// upstream lists the steps s reads from, once each, sorted.
func upstream(s Step) []string {
	set := map[string]bool{}
	for _, ref := range s.Inputs {
		if from, _, ok := ParseRef(ref); ok {
			set[from] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// findCycle returns one cycle as a path that ends where it starts
// (a → b → a), or nil. Self-wiring is reported per input instead.
func findCycle(p Pipeline) []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		color[id] = grey
		stack = append(stack, id)
		s, _ := p.step(id)
		for _, up := range upstream(*s) {
			if up == id {
				continue
			}
			if _, ok := p.step(up); !ok {
				continue
			}
			switch color[up] {
			case grey:
				// The cycle is the stack from up to here; edges point
				// downstream, so reverse it to read in flow order.
				i := len(stack) - 1
				for stack[i] != up {
					i--
				}
				cyc := append([]string(nil), stack[i:]...)
				for l, r := 0, len(cyc)-1; l < r; l, r = l+1, r-1 {
					cyc[l], cyc[r] = cyc[r], cyc[l]
				}
				// Start at the smallest id so the sentence is stable.
				m := 0
				for i := range cyc {
					if cyc[i] < cyc[m] {
						m = i
					}
				}
				cyc = append(cyc[m:], cyc[:m]...)
				found = append(cyc, cyc[0])
				return true
			case white:
				if visit(up) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return false
	}
	ids := make([]string, 0, len(p.Steps))
	for _, s := range p.Steps {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if color[id] == white && visit(id) {
			return found
		}
	}
	return nil
}

// order returns the steps in a topological order (upstream first), ties
// by position in the spec. It assumes Validate found no cycle.
func order(p Pipeline) []string {
	done := map[string]bool{}
	var out []string
	for len(out) < len(p.Steps) {
		progressed := false
		for _, s := range p.Steps {
			if done[s.ID] {
				continue
			}
			ready := true
			for _, up := range upstream(s) {
				if !done[up] {
					ready = false
				}
			}
			if ready {
				done[s.ID] = true
				out = append(out, s.ID)
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	return out
}
