package modelfmt

import (
	"bytes"
	"errors"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tern-studio/tern/backend/core"
)

// Flavor names of the models Tern can load, in the order it prefers them.
const (
	FlavorTern     = "tern"
	FlavorXGBoost  = "xgboost"
	FlavorLightGBM = "lightgbm"
)

var loadableFlavors = []string{FlavorTern, FlavorXGBoost, FlavorLightGBM}

// MLmodel is the descriptor at the root of a model directory, in the shape
// MLflow writes it. Fields are in MLflow's (alphabetical) key order so a
// file Tern writes reads like one MLflow wrote.
type MLmodel struct {
	ArtifactPath string                    `yaml:"artifact_path,omitempty" json:"artifactPath,omitempty"`
	Flavors      map[string]map[string]any `yaml:"flavors" json:"flavors"`
	MLflowVer    string                    `yaml:"mlflow_version,omitempty" json:"mlflowVersion,omitempty"`
	ModelUUID    string                    `yaml:"model_uuid,omitempty" json:"modelUuid,omitempty"`
	RunID        string                    `yaml:"run_id,omitempty" json:"runId,omitempty"`
	InputExample *ExampleInfo              `yaml:"saved_input_example_info,omitempty" json:"-"`
	Signature    *SignatureText            `yaml:"signature,omitempty" json:"-"`
	Created      quoted                    `yaml:"utc_time_created,omitempty" json:"created,omitempty"`
}

// ExampleInfo says where the input example is saved and in which form.
type ExampleInfo struct {
	ArtifactPath string `yaml:"artifact_path"`
	Type         string `yaml:"type"`
	Orient       string `yaml:"pandas_orient"`
}

// SignatureText is the signature as MLflow stores it: each part a JSON
// string inside the YAML.
type SignatureText struct {
	Inputs  quoted  `yaml:"inputs"`
	Outputs quoted  `yaml:"outputs,omitempty"`
	Params  *quoted `yaml:"params"`
}

// quoted is a string written single-quoted, as MLflow's YAML dumper
// writes the JSON of a signature and the creation time, so the files read
// the same whoever wrote them.
type quoted string

func (q quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.SingleQuotedStyle, Tag: "!!str", Value: string(q)}, nil
}

// ParseMLmodel reads an MLmodel file. The YAML is bounded in size and
// decoded only into plain fields, so tags and alias bombs cannot make it
// expensive; nothing in it is ever executed or unpickled.
func ParseMLmodel(data []byte) (*MLmodel, error) {
	if len(data) > maxMLmodelBytes {
		return nil, core.Errorf(core.Invalid, "The MLmodel file is larger than %d KB; it is not a model descriptor.", maxMLmodelBytes>>10)
	}
	var m MLmodel
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, core.Wrap(err, core.Invalid, "The MLmodel file is not valid YAML: %s.", firstLine(err.Error()))
	}
	if len(m.Flavors) == 0 {
		return nil, core.Errorf(core.Invalid, "Unsupported model format/version: the MLmodel file lists no flavors.")
	}
	return &m, nil
}

// Marshal renders the descriptor as YAML with MLflow's two-space indent.
func (m *MLmodel) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot encode the MLmodel file.")
	}
	if err := enc.Close(); err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot encode the MLmodel file.")
	}
	return b.Bytes(), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// InputSignature returns the descriptor's input signature, if it has one.
func (m *MLmodel) InputSignature() ([]Column, error) {
	if m.Signature == nil || strings.TrimSpace(string(m.Signature.Inputs)) == "" {
		return nil, nil
	}
	return ParseMLflowSchema(string(m.Signature.Inputs))
}

// Flavor picks the flavor Tern will load, or says why none can be.
func (m *MLmodel) Flavor() (string, error) {
	for _, f := range loadableFlavors {
		if _, ok := m.Flavors[f]; ok {
			return f, nil
		}
	}
	names := make([]string, 0, len(m.Flavors))
	for k := range m.Flavors {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "sklearn" || n == "python_function" || strings.Contains(n, "pickle") {
			return "", core.Errorf(core.Invalid, "Unsupported model format/version: the model has flavors %s, which store a Python pickle; Tern never unpickles (loading a pickle runs code). Save it as XGBoost JSON, LightGBM text, or train it in Tern.", strings.Join(names, ", "))
		}
	}
	return "", core.Errorf(core.Invalid, "Unsupported model format/version: the model has flavors %s; Tern serves tern, xgboost and lightgbm.", strings.Join(names, ", "))
}

// flavorString reads a string setting of a flavor ("" when absent).
func (m *MLmodel) flavorString(flavor, key string) string {
	s, _ := m.Flavors[flavor][key].(string)
	return s
}
