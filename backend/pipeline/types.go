package pipeline

import (
	"context"
	"sort"
	"sync"
)

// FieldKind is the kind of value a field holds; the UI picks its form
// control from it.
type FieldKind string

const (
	KindString FieldKind = "string"
	KindInt    FieldKind = "int"
	KindFloat  FieldKind = "float"
	KindBool   FieldKind = "bool"
	// KindEnum is a string from Options.
	KindEnum FieldKind = "enum"
	// KindObject is a map of names to values (a model's parameters).
	KindObject FieldKind = "object"
	// KindList is a list of strings (feature columns).
	KindList FieldKind = "list"
)

// Field declares one field of a step type: enough for the UI to draw a
// form and for Validate to check a value.
type Field struct {
	Name     string    `json:"name"`
	Label    string    `json:"label"`
	Kind     FieldKind `json:"kind"`
	Required bool      `json:"required"`
	// Default is used when the field is absent (nil: none).
	Default any      `json:"default,omitempty"`
	Options []string `json:"options,omitempty"` // KindEnum's choices
	Help    string   `json:"help"`
}

// PortType is the type of value that flows along an edge.
type PortType string

const (
	DatasetVersion PortType = "dataset_version"
	RunOutput      PortType = "run"
	ModelVersion   PortType = "model_version"
	Deployment     PortType = "deployment"
	Report         PortType = "report"
	// AnyType, on an input, accepts every type: it orders a step after
	// another (notify after register) without reading a particular value.
	AnyType PortType = "any"
)

// Port is a named, typed input or output of a step type.
type Port struct {
	Name string   `json:"name"`
	Type PortType `json:"type"`
	// Optional inputs may be left unwired.
	Optional bool   `json:"optional,omitempty"`
	Help     string `json:"help,omitempty"`
}

// StepType describes a kind of step: the UI's palette entry and form, and
// what Validate checks wiring against.
type StepType struct {
	Name     string  `json:"name"`
	Title    string  `json:"title"`
	Help     string  `json:"help"`
	Category string  `json:"category"` // data, check, train, model, notify
	Fields   []Field `json:"fields"`
	Inputs   []Port  `json:"inputs"`
	Outputs  []Port  `json:"outputs"`
	// Cacheable steps are reused when their cache key matches an earlier
	// successful step (see doc.go, Caching).
	Cacheable bool `json:"cacheable"`
}

func (t StepType) field(name string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func (t StepType) input(name string) (Port, bool) {
	for _, p := range t.Inputs {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

func (t StepType) output(name string) (Port, bool) {
	for _, p := range t.Outputs {
		if p.Name == name {
			return p, true
		}
	}
	return Port{}, false
}

// Executor runs one step. It reads x's fields and inputs, logs, and
// returns the step's outputs. It must be resumable: anything it needs to
// find its work again after a restart (a job ID) it stores with
// x.Remember before waiting on it, and it looks there first (x.Recall).
type Executor interface {
	Run(ctx context.Context, x *Exec) (map[string]Value, error)
}

// Keyer is implemented by executors whose result depends on more than
// their fields and inputs (the newest version of a dataset, an image's
// digest, a dataset's rules): Key returns that extra identity, read
// cheaply before the step would run, and it joins the cache key.
type Keyer interface {
	Key(ctx context.Context, x *Exec) (string, error)
}

// Reuser is implemented by executors whose earlier result can stop being
// true of the world after it was cached: a ramp that promoted a version
// is reusable only while that version still takes the deployment's
// traffic. Reusable returns "" to take the cache hit, else why not (the
// step then runs).
type Reuser interface {
	Reusable(ctx context.Context, x *Exec, outputs map[string]Value) (string, error)
}

// Def is a step type with the executor that runs it.
type Def struct {
	Type StepType
	Exec Executor
}

// Types is the registry of step types an engine knows; only types whose
// service exists are registered, so a pipeline can never hold a step that
// does nothing.
type Types struct {
	mu   sync.RWMutex
	defs map[string]Def
}

// NewTypes returns an empty registry.
func NewTypes() *Types { return &Types{defs: map[string]Def{}} }

// Register adds (or replaces) a step type.
func (t *Types) Register(d Def) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.defs[d.Type.Name] = d
}

// Get finds a step type by name.
func (t *Types) Get(name string) (Def, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, ok := t.defs[name]
	return d, ok
}

// List returns the step types by category then name, for the palette.
func (t *Types) List() []StepType {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]StepType, 0, len(t.defs))
	for _, d := range t.defs {
		out = append(out, d.Type)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return categoryOrder(out[i].Category) < categoryOrder(out[j].Category)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (t *Types) names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.defs))
	for n := range t.defs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func categoryOrder(c string) int {
	for i, n := range []string{"data", "check", "train", "evaluate", "model", "deploy", "notify"} {
		if n == c {
			return i
		}
	}
	return 99
}
