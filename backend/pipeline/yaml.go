package pipeline

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/tern-studio/tern/backend/core"
)

// MaxYAML bounds a pipeline file; a real one is a few kilobytes.
const MaxYAML = 1 << 20

// The file's shape, for export. Keys are snake_case as people write YAML;
// fields and inputs come out sorted (yaml sorts map keys), so two exports
// of the same pipeline are byte-equal and diff well.
type yamlFile struct {
	ID          string        `yaml:"id,omitempty"`
	Name        string        `yaml:"name"`
	Description string        `yaml:"description,omitempty"`
	OnActive    OnActive      `yaml:"on_active,omitempty"`
	Triggers    []yamlTrigger `yaml:"triggers,omitempty"`
	Steps       []yamlStep    `yaml:"steps"`
}

type yamlTrigger struct {
	Kind    TriggerKind `yaml:"kind"`
	Cron    string      `yaml:"cron,omitempty"`
	Dataset string      `yaml:"dataset,omitempty"`
	Monitor string      `yaml:"monitor,omitempty"`
	Rule    string      `yaml:"rule,omitempty"`
	Folder  string      `yaml:"folder,omitempty"`
	// ImportOnly is a folder trigger's import_only.
	ImportOnly bool `yaml:"import_only,omitempty"`
}

type yamlStep struct {
	ID     string            `yaml:"id"`
	Type   string            `yaml:"type"`
	Fields map[string]any    `yaml:"fields,omitempty"`
	Inputs map[string]string `yaml:"inputs,omitempty"`
}

// ExportYAML writes p as a pipeline file (see doc.go for the format).
func ExportYAML(p Pipeline) ([]byte, error) {
	f := yamlFile{ID: p.ID, Name: p.Name, Description: p.Description, OnActive: p.OnActive}
	for _, t := range p.Triggers {
		f.Triggers = append(f.Triggers, yamlTrigger(t))
	}
	for _, s := range p.Steps {
		f.Steps = append(f.Steps, yamlStep{ID: s.ID, Type: s.Type, Fields: s.Fields, Inputs: s.Inputs})
	}
	var buf bytes.Buffer
	buf.WriteString("# Tern pipeline. Import it in the Pipelines area; see the README's Pipelines section.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not write the pipeline as YAML.")
	}
	_ = enc.Close()
	return buf.Bytes(), nil
}

// positions remembers where each part of a file was, to put a line on
// each validation problem.
type positions map[string]int

func (ps positions) line(p Problem) int {
	switch {
	case p.Trigger > 0:
		return ps[fmt.Sprintf("trigger/%d", p.Trigger)]
	case p.Step != "" && p.Field != "":
		if l := ps["step/"+p.Step+"/field/"+p.Field]; l > 0 {
			return l
		}
	case p.Step != "" && p.Input != "":
		if l := ps["step/"+p.Step+"/input/"+p.Input]; l > 0 {
			return l
		}
	case p.Step == "" && p.Field != "":
		return ps[p.Field]
	}
	if p.Step != "" {
		return ps["step/"+p.Step]
	}
	return 0
}

// yamlError is a parse problem at a line.
func yamlError(n *yaml.Node, format string, args ...any) error {
	return core.Errorf(core.Invalid, "Line %d: %s", n.Line, fmt.Sprintf(format, args...))
}

// ParseYAML reads a pipeline file and checks it against types. Every
// refusal is a sentence that names the line and the field: a malformed
// file, an unknown key, a wrong value kind, then everything Validate finds.
func ParseYAML(data []byte, types *Types) (Pipeline, error) {
	if len(data) > MaxYAML {
		return Pipeline{}, core.Errorf(core.Invalid, "The pipeline file is %d bytes; Tern reads pipeline files up to %d bytes.", len(data), MaxYAML)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if strings.HasPrefix(msg, "line ") {
			msg = "Line " + strings.TrimPrefix(msg, "line ")
		}
		return Pipeline{}, core.Wrap(err, core.Invalid, "The pipeline file is not valid YAML. %s.", strings.TrimSuffix(msg, "."))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return Pipeline{}, core.Errorf(core.Invalid, "The pipeline file is empty; it needs at least a name and steps.")
	}
	if err := noAliases(&doc); err != nil {
		return Pipeline{}, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Pipeline{}, yamlError(root, "a pipeline file is a mapping with the keys name, triggers and steps.")
	}
	pos := positions{}
	var p Pipeline
	err := eachKey(root, []string{"id", "name", "description", "on_active", "triggers", "steps"}, "the pipeline", func(key string, k, v *yaml.Node) error {
		pos[key] = k.Line
		switch key {
		case "id":
			return scalar(v, "id", &p.ID)
		case "name":
			return scalar(v, "name", &p.Name)
		case "description":
			return scalar(v, "description", &p.Description)
		case "on_active":
			var s string
			err := scalar(v, "on_active", &s)
			p.OnActive = OnActive(s)
			return err
		case "triggers":
			return parseTriggers(v, &p, pos)
		case "steps":
			return parseSteps(v, &p, pos)
		}
		return nil
	})
	if err != nil {
		return Pipeline{}, err
	}
	if err := Normalize(&p); err != nil {
		return Pipeline{}, err
	}
	probs := Validate(p, types)
	for i := range probs {
		probs[i].Line = pos.line(probs[i])
	}
	if err := problemsError(probs); err != nil {
		return Pipeline{}, err
	}
	return p, nil
}

// noAliases refuses anchors' aliases anywhere: a pipeline never needs
// them, and refusing them outright rules out alias bombs.
func noAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return yamlError(n, "aliases (*%s) are not allowed in a pipeline file; write the value out.", n.Value)
	}
	for _, c := range n.Content {
		if err := noAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// eachKey walks a mapping's keys in order, refusing keys outside known
// (when known is not nil) and keys given twice.
func eachKey(m *yaml.Node, known []string, where string, fn func(key string, k, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return yamlError(k, "a key of %s must be a plain name.", where)
		}
		if seen[k.Value] {
			return yamlError(k, "%q is given twice in %s.", k.Value, where)
		}
		seen[k.Value] = true
		if known != nil && !contains(known, k.Value) {
			return yamlError(k, "unknown key %q in %s (known: %s).", k.Value, where, strings.Join(known, ", "))
		}
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func scalar(v *yaml.Node, field string, out *string) error {
	if v.Kind != yaml.ScalarNode {
		return yamlError(v, "%s must be a single value, not a %s.", field, nodeKind(v))
	}
	if v.Tag == "!!null" {
		*out = ""
		return nil
	}
	*out = v.Value
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

func parseTriggers(v *yaml.Node, p *Pipeline, pos positions) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return yamlError(v, "triggers must be a list (each item: kind and its fields).")
	}
	for i, item := range v.Content {
		if item.Kind != yaml.MappingNode {
			return yamlError(item, "trigger %d must be a mapping with a kind, e.g. kind: manual.", i+1)
		}
		pos[fmt.Sprintf("trigger/%d", i+1)] = item.Line
		var t Trigger
		where := fmt.Sprintf("trigger %d", i+1)
		err := eachKey(item, []string{"kind", "cron", "dataset", "monitor", "rule", "folder", "import_only"}, where, func(key string, _, val *yaml.Node) error {
			var s string
			if err := scalar(val, where+"'s "+key, &s); err != nil {
				return err
			}
			if key == "import_only" {
				switch strings.ToLower(s) {
				case "true", "yes":
					t.ImportOnly = true
				case "false", "no", "":
				default:
					return yamlError(val, "%s's import_only must be true or false, not %q.", where, s)
				}
				return nil
			}
			switch key {
			case "kind":
				t.Kind = TriggerKind(s)
			case "cron":
				t.Cron = s
			case "dataset":
				t.Dataset = s
			case "monitor":
				t.Monitor = s
			case "rule":
				t.Rule = s
			case "folder":
				t.Folder = s
			}
			return nil
		})
		if err != nil {
			return err
		}
		if t.Kind == "" {
			return yamlError(item, "trigger %d has no kind (manual, schedule, dataset, alert, webhook or folder).", i+1)
		}
		p.Triggers = append(p.Triggers, t)
	}
	return nil
}

func parseSteps(v *yaml.Node, p *Pipeline, pos positions) error {
	if v.Kind != yaml.SequenceNode {
		return yamlError(v, "steps must be a list of steps, each with an id and a type.")
	}
	for i, item := range v.Content {
		if item.Kind != yaml.MappingNode {
			return yamlError(item, "step %d must be a mapping with id, type, fields and inputs.", i+1)
		}
		s := Step{Fields: map[string]any{}, Inputs: map[string]string{}}
		where := fmt.Sprintf("step %d", i+1)
		for j := 0; j+1 < len(item.Content); j += 2 { // name the step by its id in every message
			if k, v := item.Content[j], item.Content[j+1]; k.Value == "id" && v.Kind == yaml.ScalarNode && v.Value != "" {
				where = fmt.Sprintf("step %q", v.Value)
			}
		}
		var fields, inputs *yaml.Node
		err := eachKey(item, []string{"id", "type", "fields", "inputs"}, where, func(key string, _, val *yaml.Node) error {
			switch key {
			case "id":
				return scalar(val, where+"'s id", &s.ID)
			case "type":
				return scalar(val, where+"'s type", &s.Type)
			case "fields":
				fields = val
			case "inputs":
				inputs = val
			}
			return nil
		})
		if err != nil {
			return err
		}
		if s.ID == "" {
			return yamlError(item, "step %d has no id; give each step a short name such as train.", i+1)
		}
		if s.Type == "" {
			return yamlError(item, "step %q has no type.", s.ID)
		}
		if _, dup := pos["step/"+s.ID]; !dup {
			pos["step/"+s.ID] = item.Line
		}
		if fields != nil && !(fields.Kind == yaml.ScalarNode && fields.Tag == "!!null") {
			if fields.Kind != yaml.MappingNode {
				return yamlError(fields, "the fields of step %q must be a mapping of field: value.", s.ID)
			}
			err := eachKey(fields, nil, fmt.Sprintf("the fields of step %q", s.ID), func(key string, k, val *yaml.Node) error {
				pos["step/"+s.ID+"/field/"+key] = k.Line
				var x any
				if err := val.Decode(&x); err != nil {
					return yamlError(val, "field %q of step %q: %s.", key, s.ID, strings.TrimPrefix(err.Error(), "yaml: "))
				}
				c, err := canonical(x)
				if err != nil {
					return yamlError(val, "field %q of step %q holds a value Tern cannot store (%s).", key, s.ID, err.Error())
				}
				s.Fields[key] = c
				return nil
			})
			if err != nil {
				return err
			}
		}
		if inputs != nil && !(inputs.Kind == yaml.ScalarNode && inputs.Tag == "!!null") {
			if inputs.Kind != yaml.MappingNode {
				return yamlError(inputs, "the inputs of step %q must be a mapping of input: step.output.", s.ID)
			}
			err := eachKey(inputs, nil, fmt.Sprintf("the inputs of step %q", s.ID), func(key string, k, val *yaml.Node) error {
				pos["step/"+s.ID+"/input/"+key] = k.Line
				var ref string
				if err := scalar(val, fmt.Sprintf("input %q of step %q", key, s.ID), &ref); err != nil {
					return err
				}
				s.Inputs[key] = ref
				return nil
			})
			if err != nil {
				return err
			}
		}
		p.Steps = append(p.Steps, s)
	}
	return nil
}

// sortedKeys is for deterministic walks over field maps.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
