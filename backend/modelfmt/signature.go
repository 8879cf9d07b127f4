package modelfmt

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/ml"
)

// Column is one named input or output of a model, as MLflow's ColSpec
// describes it: {"name": "age", "type": "double"}.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Optional columns may be absent from a request; they are scored as
	// missing (NaN), which tree models route down their default branch.
	Optional bool `json:"optional,omitempty"`
}

// Signature is what a model takes and gives. Requests are checked against
// Inputs before the model sees them, so a wrong payload is a 400 naming
// the column rather than a crash inside the model.
type Signature struct {
	Inputs  []Column `json:"inputs"`
	Outputs []Column `json:"outputs,omitempty"`
}

// Column types Tern's models can score. MLflow also has binary and
// datetime; a signature naming them is rejected with a sentence, because no
// built-in or GBDT model can take them.
var numericTypes = map[string]bool{
	"double": true, "float": true, "long": true, "integer": true, "boolean": true, "string": true,
}

// Validate checks the signature is usable for scoring.
func (s Signature) Validate() error {
	if len(s.Inputs) == 0 {
		return core.Errorf(core.Invalid, "The model signature has no inputs.")
	}
	seen := map[string]bool{}
	for i, c := range s.Inputs {
		if c.Name == "" {
			return core.Errorf(core.Invalid, "Input %d of the model signature has no name.", i+1)
		}
		if seen[c.Name] {
			return core.Errorf(core.Invalid, "The model signature names input %q twice.", c.Name)
		}
		seen[c.Name] = true
		if !numericTypes[c.Type] {
			return core.Errorf(core.Invalid, "Input %q has type %q; Tern serves double, float, long, integer, boolean and string inputs.", c.Name, c.Type)
		}
	}
	return nil
}

// Index maps input names to positions.
func (s Signature) Index() map[string]int {
	m := make(map[string]int, len(s.Inputs))
	for i, c := range s.Inputs {
		m[c.Name] = i
	}
	return m
}

// DefaultSignature names n double inputs f0..f{n-1}, for models saved
// without a signature (XGBoost and LightGBM files carry only a count).
func DefaultSignature(names []string, n int) Signature {
	s := Signature{Inputs: make([]Column, n)}
	for i := range s.Inputs {
		name := fmt.Sprintf("f%d", i)
		if i < len(names) && names[i] != "" {
			name = names[i]
		}
		s.Inputs[i] = Column{Name: name, Type: "double"}
	}
	return s
}

// ParseMLflowSchema reads the JSON string MLflow stores in an MLmodel file's
// signature.inputs: a list of {"type","name","required"} objects. Tensor
// specs ({"type":"tensor"}) become unnamed double inputs of their width.
func ParseMLflowSchema(text string) ([]Column, error) {
	var raw []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Required   *bool  `json:"required"`
		TensorSpec *struct {
			Dtype string `json:"dtype"`
			Shape []int  `json:"shape"`
		} `json:"tensor-spec"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, core.Wrap(err, core.Invalid, "The signature in the MLmodel file is not a JSON list of columns.")
	}
	var cols []Column
	for i, r := range raw {
		if r.Type == "tensor" {
			if r.TensorSpec == nil || len(r.TensorSpec.Shape) != 2 || r.TensorSpec.Shape[1] <= 0 {
				return nil, core.Errorf(core.Invalid, "Signature input %d is a tensor whose shape is not [-1, features].", i+1)
			}
			for j := 0; j < r.TensorSpec.Shape[1]; j++ {
				cols = append(cols, Column{Name: fmt.Sprintf("f%d", len(cols)), Type: "double"})
			}
			continue
		}
		c := Column{Name: r.Name, Type: strings.ToLower(r.Type)}
		if c.Name == "" {
			c.Name = fmt.Sprintf("f%d", len(cols))
		}
		if r.Required != nil && !*r.Required {
			c.Optional = true
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// MLflowSchema renders columns in the form ParseMLflowSchema reads.
func MLflowSchema(cols []Column) string {
	type col struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Required bool   `json:"required"`
	}
	out := make([]col, len(cols))
	for i, c := range cols {
		out[i] = col{Type: c.Type, Name: c.Name, Required: !c.Optional}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// plainSchema renders columns as MLflow's plain {name, type} list, the
// form built-in models have always been saved with.
func plainSchema(cols []Column) string {
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	out := make([]col, len(cols))
	for i, c := range cols {
		out[i] = col{Name: c.Name, Type: c.Type}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// SignatureOf derives a built-in model's signature from its preprocessing
// (MLflow's column types "double" and "string"). Every input is required,
// as MLflow reads a column without "required": a request must name each
// column, though a value in it may be missing (null), which the fitted
// preprocessing imputes. A request leaving out 29 of 30 columns is a
// mistake to report, not a row of medians to score.
func SignatureOf(m *ml.Model) Signature {
	var s Signature
	for _, f := range m.Prep.Features {
		t := "double"
		if f.Kind == ml.Categorical {
			t = "string"
		}
		s.Inputs = append(s.Inputs, Column{Name: f.Name, Type: t})
	}
	out := "double"
	if m.Task == ml.Classification && !m.NumericClasses {
		out = "string"
	}
	s.Outputs = []Column{{Name: "prediction", Type: out}}
	return s
}
