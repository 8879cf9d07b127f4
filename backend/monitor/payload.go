package monitor

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
)

// ParseRequest reads an MLflow scoring request into rows of named values:
// {"dataframe_split": {"columns": [...], "data": [[...]]}},
// {"dataframe_records": [{...}]}, {"instances": [{...}]} or
// {"inputs": {...} | [{...}]}. Unnamed inputs (arrays of arrays) get the
// names f0, f1, ….
func ParseRequest(b []byte) ([]map[string]any, error) {
	var env map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&env); err != nil {
		return nil, core.Errorf(core.Invalid, "The request is not a JSON object.")
	}
	if raw, ok := env["dataframe_split"]; ok {
		var ds struct {
			Columns []string `json:"columns"`
			Data    [][]any  `json:"data"`
		}
		if err := json.Unmarshal(raw, &ds); err != nil {
			return nil, core.Errorf(core.Invalid, "dataframe_split is malformed.")
		}
		out := make([]map[string]any, 0, len(ds.Data))
		for _, row := range ds.Data {
			m := make(map[string]any, len(row))
			for i, v := range row {
				m[name(ds.Columns, i)] = v
			}
			out = append(out, m)
		}
		return out, nil
	}
	if raw, ok := env["inputs"]; ok {
		if rows, ok := parseV2(raw); ok {
			return rows, nil
		}
	}
	for _, key := range []string{"dataframe_records", "instances", "inputs"} {
		raw, ok := env[key]
		if !ok {
			continue
		}
		var recs []any
		if err := json.Unmarshal(raw, &recs); err != nil {
			// {"inputs": {"a": [1,2], "b": [3,4]}} — columnar.
			var colsm map[string][]any
			if err2 := json.Unmarshal(raw, &colsm); err2 != nil {
				return nil, core.Errorf(core.Invalid, "%s is neither a list of records nor an object of columns.", key)
			}
			n := 0
			for _, v := range colsm {
				n = max(n, len(v))
			}
			out := make([]map[string]any, n)
			for i := range out {
				out[i] = map[string]any{}
			}
			for k, v := range colsm {
				for i, x := range v {
					out[i][k] = x
				}
			}
			return out, nil
		}
		out := make([]map[string]any, 0, len(recs))
		for _, r := range recs {
			switch x := r.(type) {
			case map[string]any:
				out = append(out, x)
			case []any:
				m := make(map[string]any, len(x))
				for i, v := range x {
					m[name(nil, i)] = v
				}
				out = append(out, m)
			default:
				out = append(out, map[string]any{"f0": x})
			}
		}
		return out, nil
	}
	return nil, core.Errorf(core.Invalid, "The request has none of dataframe_split, dataframe_records, instances or inputs.")
}

func name(cols []string, i int) string {
	if i < len(cols) {
		return cols[i]
	}
	return "f" + strconv.Itoa(i)
}

// ParseResponse reads {"predictions": [...]} (or a bare list); a
// prediction that is itself a list or object keeps its first value.
func ParseResponse(b []byte) ([]any, error) {
	var env struct {
		Predictions []any `json:"predictions"`
		Outputs     []any `json:"outputs"`
	}
	if err := json.Unmarshal(b, &env); err != nil || (env.Predictions == nil && env.Outputs == nil) {
		var list []any
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, core.Errorf(core.Invalid, "The response holds no predictions.")
		}
		env.Predictions = list
	}
	p := env.Predictions
	if p == nil {
		// V2: {"outputs": [{"name": …, "data": [...]}]} — the first tensor.
		if len(env.Outputs) > 0 {
			if t, ok := env.Outputs[0].(map[string]any); ok {
				if d, ok := t["data"].([]any); ok {
					return flatten(d), nil
				}
			}
		}
		p = env.Outputs
	}
	for i, v := range p {
		switch x := v.(type) {
		case []any:
			if len(x) > 0 {
				p[i] = x[0]
			}
		case map[string]any:
			for _, k := range []string{"prediction", "label", "value"} {
				if y, ok := x[k]; ok {
					p[i] = y
					break
				}
			}
		}
	}
	return p, nil
}

// v2Tensor is an Open Inference (KServe V2) tensor.
type v2Tensor struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     []any   `json:"data"`
}

// parseV2 reads V2 inputs: one tensor per column ([rows] or [rows, 1]), or
// one [rows, features] tensor whose columns are named f0, f1, ….
func parseV2(raw json.RawMessage) ([]map[string]any, bool) {
	var ts []v2Tensor
	if err := json.Unmarshal(raw, &ts); err != nil || len(ts) == 0 {
		return nil, false
	}
	for _, t := range ts {
		if t.Datatype == "" || t.Shape == nil {
			return nil, false
		}
	}
	var out []map[string]any
	row := func(i int) map[string]any {
		for len(out) <= i {
			out = append(out, map[string]any{})
		}
		return out[i]
	}
	for _, t := range ts {
		flat := flatten(t.Data)
		if len(t.Shape) == 2 && t.Shape[1] > 1 {
			w := int(t.Shape[1])
			for i, v := range flat {
				row(i / w)["f"+strconv.Itoa(i%w)] = v
			}
			continue
		}
		for i, v := range flat {
			row(i)[t.Name] = v
		}
	}
	return out, true
}

func flatten(v []any) []any {
	var out []any
	for _, x := range v {
		if xs, ok := x.([]any); ok {
			out = append(out, flatten(xs)...)
		} else {
			out = append(out, x)
		}
	}
	return out
}
