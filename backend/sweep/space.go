package sweep

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
)

// Kinds of a searched parameter.
const (
	Int         = "int"
	Float       = "float"
	Categorical = "categorical"
)

// Param is one dimension of a search space: an int or float range (on a
// linear or log scale) or a list of choices.
type Param struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"` // int, float, categorical
	Low     float64  `json:"low"`
	High    float64  `json:"high"`
	Log     bool     `json:"log,omitempty"`
	Choices []string `json:"choices,omitempty"`
}

// Space is the parameters a sweep searches, in a fixed order (the order
// samplers draw in, so a seed gives the same trials).
type Space []Param

// Assignment is one trial's values: float64 for int and float parameters
// (ints are whole), string for categorical ones.
type Assignment map[string]any

// Validate checks the space, naming the first parameter at fault.
func (s Space) Validate() error {
	if len(s) == 0 {
		return core.Errorf(core.Invalid, "The search space is empty: choose at least one parameter to vary.")
	}
	seen := map[string]bool{}
	for _, p := range s {
		if p.Name == "" {
			return core.Errorf(core.Invalid, "A parameter of the search space has no name.")
		}
		if seen[p.Name] {
			return core.Errorf(core.Invalid, "Parameter %s appears twice in the search space.", p.Name)
		}
		seen[p.Name] = true
		switch p.Kind {
		case Int, Float:
			if math.IsNaN(p.Low) || math.IsNaN(p.High) || math.IsInf(p.Low, 0) || math.IsInf(p.High, 0) {
				return core.Errorf(core.Invalid, "Parameter %s needs finite bounds.", p.Name)
			}
			if p.Low > p.High {
				return core.Errorf(core.Invalid, "Parameter %s: the low bound %g is above the high bound %g.", p.Name, p.Low, p.High)
			}
			if p.Log && p.Low <= 0 {
				return core.Errorf(core.Invalid, "Parameter %s is searched on a log scale, so its low bound must be above 0 (it is %g).", p.Name, p.Low)
			}
			if p.Kind == Int && (p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High)) {
				return core.Errorf(core.Invalid, "Parameter %s is an integer: its bounds must be whole numbers (%g, %g).", p.Name, p.Low, p.High)
			}
		case Categorical:
			if len(p.Choices) == 0 {
				return core.Errorf(core.Invalid, "Parameter %s has no choices.", p.Name)
			}
			for i, c := range p.Choices {
				if slices.Index(p.Choices, c) != i {
					return core.Errorf(core.Invalid, "Parameter %s lists the choice %q twice.", p.Name, c)
				}
			}
		default:
			return core.Errorf(core.Invalid, "Parameter %s has an unknown kind %q: use int, float or categorical.", p.Name, p.Kind)
		}
	}
	return nil
}

// ValidateFor checks the space against a built-in model's schema: every
// parameter must be one the model takes, within its bounds.
func (s Space) ValidateFor(model ml.ModelSpec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	for _, p := range s {
		i := slices.IndexFunc(model.Params, func(q ml.ParamSpec) bool { return q.Name == p.Name })
		if i < 0 {
			return core.Errorf(core.Invalid, "The %s model has no parameter %s.", model.Label, p.Name)
		}
		q := model.Params[i]
		switch q.Type {
		case "choice":
			if p.Kind != Categorical {
				return core.Errorf(core.Invalid, "Parameter %s is a choice; search it as categorical.", p.Name)
			}
			for _, c := range p.Choices {
				if !slices.Contains(q.Choices, c) {
					return core.Errorf(core.Invalid, "Parameter %s has no choice %q (choices: %v).", p.Name, c, q.Choices)
				}
			}
			continue
		case "integer":
			if p.Kind != Int {
				return core.Errorf(core.Invalid, "Parameter %s is an integer; search it as int.", p.Name)
			}
		case "number":
			if p.Kind != Float {
				return core.Errorf(core.Invalid, "Parameter %s is a number; search it as float.", p.Name)
			}
		}
		if q.Min != nil && p.Low < *q.Min {
			return core.Errorf(core.Invalid, "Parameter %s cannot go below %g (the range starts at %g).", p.Name, *q.Min, p.Low)
		}
		if q.Max != nil && p.High > *q.Max {
			return core.Errorf(core.Invalid, "Parameter %s cannot go above %g (the range ends at %g).", p.Name, *q.Max, p.High)
		}
	}
	return nil
}

// DefaultSpace proposes what to search for a built-in model: its tuning
// parameters with ranges a person would start from (learning rate and
// regularisation on log scales), never the split or the seed.
func DefaultSpace(model string) Space {
	switch model {
	case ml.AlgoLogistic:
		return Space{{Name: "C", Kind: Float, Low: 1e-3, High: 100, Log: true}}
	case ml.AlgoLinear:
		return Space{{Name: "alpha", Kind: Float, Low: 1e-3, High: 100, Log: true}}
	}
	return Space{
		{Name: "learning_rate", Kind: Float, Low: 0.01, High: 0.5, Log: true},
		{Name: "max_leaf_nodes", Kind: Int, Low: 4, High: 64, Log: true},
		{Name: "min_samples_leaf", Kind: Int, Low: 2, High: 100, Log: true},
		{Name: "l2_regularization", Kind: Float, Low: 0, High: 10},
	}
}

// value turns a unit-free draw into the parameter's value: ints rounded
// into range, floats clipped.
func (p Param) clip(x float64) float64 {
	if p.Kind == Int {
		x = math.Round(x)
	}
	return math.Min(math.Max(x, p.Low), p.High)
}

// Format writes a value as a run parameter shows it.
func Format(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// Key is an assignment written canonically (sorted names), to tell two
// trials with the same values apart from different ones.
func (a Assignment) Key() string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, Format(a[k])...)
		b = append(b, ';')
	}
	return string(b)
}
