package modelserver

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/modelfmt"
)

var nanValue = math.NaN()

func itoa(i int) string { return strconv.Itoa(i) }

// V2Request is the Open Inference Protocol (KServe V2) infer request.
type V2Request struct {
	ID         string         `json:"id,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Inputs     []V2Tensor     `json:"inputs"`
	Outputs    []struct {
		Name string `json:"name"`
	} `json:"outputs,omitempty"`
}

// V2Tensor is one named input or output tensor; data is row-major and
// may be sent flat or nested.
type V2Tensor struct {
	Name     string  `json:"name"`
	Shape    []int64 `json:"shape"`
	Datatype string  `json:"datatype"`
	Data     any     `json:"data"`
}

// V2 datatypes the protocol defines, and what kind of value each carries.
var v2Types = map[string]byte{
	"BOOL": 'b', "UINT8": 'u', "UINT16": 'u', "UINT32": 'u', "UINT64": 'u',
	"INT8": 'i', "INT16": 'i', "INT32": 'i', "INT64": 'i',
	"FP16": 'f', "FP32": 'f', "FP64": 'f', "BYTES": 's',
}

// DecodeV2 decodes an infer request against sig. Inputs are either one
// tensor of shape [rows, features] in signature order, or one tensor per
// signature input named after it, of shape [rows] or [rows, 1]. The
// request's outputs, if it names any, are returned for the server to
// check against what the model gives.
func DecodeV2(body []byte, sig modelfmt.Signature) (*Batch, string, *RequestError) {
	b, req, err := decodeV2Checked(body, sig)
	return b, req.ID, err
}

// decodeV2Checked is DecodeV2 keeping the whole request; a request with
// no rows is refused.
func decodeV2Checked(body []byte, sig modelfmt.Signature) (*Batch, *V2Request, *RequestError) {
	b, req, err := decodeV2(body, sig)
	if err == nil && b.NRows == 0 {
		err = bad("The request has no rows to score.")
	}
	if err == nil {
		b.Explain, err = explainParam("parameters", req.Parameters)
	}
	if err != nil {
		return nil, req, err
	}
	return b, req, nil
}

func decodeV2(body []byte, sig modelfmt.Signature) (*Batch, *V2Request, *RequestError) {
	req := &V2Request{}
	if !utf8.Valid(body) {
		return nil, req, bad("The body is not valid UTF-8.")
	}
	if err := json.Unmarshal(body, req); err != nil {
		return nil, req, bad("The body is not a V2 inference request: %s.", jsonProblem(err))
	}
	if len(req.Inputs) == 0 {
		return nil, req, bad("The request has no inputs.")
	}
	idx := sig.Index()
	if len(req.Inputs) == 1 {
		if _, named := idx[req.Inputs[0].Name]; !named || len(sig.Inputs) == 1 && len(req.Inputs[0].Shape) == 2 {
			b, err := matrixInput(req.Inputs[0], sig)
			return b, req, err
		}
	}
	seen := make([]bool, len(sig.Inputs))
	var unknown []string
	for _, t := range req.Inputs {
		p, ok := idx[t.Name]
		if !ok {
			unknown = append(unknown, t.Name)
			continue
		}
		if seen[p] {
			return nil, req, bad("Input %q is given twice.", t.Name)
		}
		seen[p] = true
	}
	if err := checkColumns(sig, seen, unknown, "The request"); err != nil {
		return nil, req, err
	}
	n := int64(-1)
	cols := make([][]float64, len(sig.Inputs))
	texts := make([][]string, len(sig.Inputs))
	for _, t := range req.Inputs {
		p := idx[t.Name]
		if len(t.Shape) == 0 || len(t.Shape) > 2 || len(t.Shape) == 2 && t.Shape[1] != 1 {
			return nil, req, bad("Input %q has shape %v; a named input must have shape [rows] or [rows, 1].", t.Name, t.Shape)
		}
		if n >= 0 && t.Shape[0] != n {
			return nil, req, bad("Input %q has %d rows but other inputs have %d.", t.Name, t.Shape[0], n)
		}
		n = t.Shape[0]
		if sig.Inputs[p].Type == "string" {
			txt, err := tensorText(t)
			if err != nil {
				return nil, req, err
			}
			texts[p] = txt
			continue
		}
		if err := datatypeFits(t, sig.Inputs[p]); err != nil {
			return nil, req, err
		}
		vals, err := tensorValues(t, sig.Inputs[p])
		if err != nil {
			return nil, req, err
		}
		cols[p] = vals
	}
	b := newBatch(int(n), sig)
	for p, col := range cols {
		for r, v := range col {
			b.X[r*b.NCols+p] = v
		}
		if texts[p] != nil {
			b.Text[p] = texts[p]
		}
	}
	return b, req, nil
}

// datatypeFits applies MLflow's safe conversions to a named V2 tensor: a
// column takes tensors of its own kind and narrower ones (INT32 into long,
// FP32 into double, any integer of up to 32 bits into double), never a
// narrowing or a change of kind (FP64 into long, INT64 into integer, BOOL
// into a number). An unknown datatype is left to tensorValues to name.
func datatypeFits(t V2Tensor, col modelfmt.Column) *RequestError {
	kind, ok := v2Types[t.Datatype]
	if !ok || kind == 's' {
		return nil
	}
	bits := v2Bits[t.Datatype]
	fits := false
	switch col.Type {
	case "double":
		fits = kind == 'f' || (kind == 'i' || kind == 'u') && bits <= 32
	case "float":
		fits = kind == 'f' && bits <= 32 || (kind == 'i' || kind == 'u') && bits <= 16
	case "long":
		fits = kind == 'i' || kind == 'u' && bits < 64
	case "integer":
		fits = kind == 'i' && bits <= 32 || kind == 'u' && bits < 32
	case "boolean":
		fits = kind == 'b'
	}
	if !fits {
		return bad("Input %q is %s, which cannot be converted safely to the model's %s column (MLflow converts only to a wider type of the same kind, or small integers to double).", clip(t.Name), t.Datatype, col.Type)
	}
	return nil
}

var v2Bits = map[string]int{
	"BOOL": 8, "UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64,
	"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64, "FP16": 16, "FP32": 32, "FP64": 64,
}

func matrixInput(t V2Tensor, sig modelfmt.Signature) (*Batch, *RequestError) {
	nf := int64(len(sig.Inputs))
	switch {
	case hasText(sig):
		return nil, bad("The model has string inputs (%s); send one named input per column.", inputList(sig))
	case len(t.Shape) == 2 && t.Shape[1] == nf:
	case len(t.Shape) == 1 && nf == 1:
	case len(t.Shape) == 1 && t.Shape[0] == nf:
		t.Shape = []int64{1, nf} // a single row sent flat
	default:
		return nil, bad("Input %q has shape %v; the model takes [rows, %d] (%s), or one input per column named after it.", clip(t.Name), t.Shape, nf, inputList(sig))
	}
	// Columns may differ in type; check each value against its own column.
	vals, err := tensorValues(t, modelfmt.Column{Name: t.Name, Type: "double"})
	if err != nil {
		return nil, err
	}
	b := &Batch{X: vals, NRows: int(t.Shape[0]), NCols: int(nf), Text: make([][]string, nf)}
	// One tensor has one datatype, so each value is checked against its
	// own column as a JSON number would be.
	for i, v := range vals {
		c := sig.Inputs[i%int(nf)]
		row := i/int(nf) + 1
		switch {
		case c.Type == "double":
		case c.Type == "boolean" && (v == 0 || v == 1 || math.IsNaN(v)):
		case c.Type == "boolean":
			return nil, bad("Column %q expects boolean but row %d has %v; in a numeric tensor a boolean column takes 0 or 1.", c.Name, row, v)
		case math.IsNaN(v):
			if c.Type == "long" || c.Type == "integer" {
				return nil, missingWhole(c, " in row "+itoa(row))
			}
		default:
			if _, err := convert(v, c, row); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// tensorValues checks shape, datatype and data agree and flattens data.
func tensorValues(t V2Tensor, col modelfmt.Column) ([]float64, *RequestError) {
	kind, ok := v2Types[t.Datatype]
	if !ok {
		return nil, bad("Input %q has datatype %q, which the V2 protocol does not define.", clip(t.Name), clip(t.Datatype))
	}
	if kind == 's' {
		return nil, bad("Input %q is BYTES but the model expects numbers (%s).", clip(t.Name), col.Type)
	}
	want := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return nil, bad("Input %q has a negative dimension in shape %v.", clip(t.Name), t.Shape)
		}
		if d > maxRows*64 || want*d > maxRows*64 {
			return nil, &RequestError{Status: 413, Msg: "Input " + strconv.Quote(clip(t.Name)) + " is larger than one request may be."}
		}
		want *= d
	}
	out := make([]float64, 0, want)
	err := eachLeaf(t.Data, func(v any) *RequestError {
		switch x := v.(type) {
		case float64:
			switch kind {
			case 'b':
				return bad("Input %q is BOOL but holds the number %v.", clip(t.Name), x)
			case 'i', 'u':
				if x != math.Trunc(x) || kind == 'u' && x < 0 {
					return bad("Input %q is %s but holds %v.", clip(t.Name), t.Datatype, x)
				}
			}
		case bool:
			if kind != 'b' {
				return bad("Input %q is %s but holds %v.", clip(t.Name), t.Datatype, x)
			}
		case nil:
			if kind != 'f' {
				return bad("Input %q is %s but holds null.", clip(t.Name), t.Datatype)
			}
		default:
			return bad("Input %q is %s but holds %s.", clip(t.Name), t.Datatype, describe(v))
		}
		if int64(len(out)) >= want {
			return bad("Input %q has more values than its shape %v holds (%d).", clip(t.Name), t.Shape, want)
		}
		f, err := convert(v, col, 0)
		if err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != want {
		return nil, bad("Input %q has %d values but its shape %v needs %d.", clip(t.Name), len(out), t.Shape, want)
	}
	return out, nil
}

// eachLeaf calls f on every value of a nested JSON array, in order, and
// stops at the first error.
func eachLeaf(v any, f func(any) *RequestError) *RequestError {
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if err := eachLeaf(e, f); err != nil {
				return err
			}
		}
		return nil
	}
	return f(v)
}

func hasText(sig modelfmt.Signature) bool {
	for _, c := range sig.Inputs {
		if c.Type == "string" {
			return true
		}
	}
	return false
}

// tensorText reads a BYTES tensor of shape [rows] or [rows, 1] as text.
func tensorText(t V2Tensor) ([]string, *RequestError) {
	if t.Datatype != "BYTES" {
		return nil, bad("Input %q is %s but the model expects text (BYTES).", clip(t.Name), clip(t.Datatype))
	}
	if t.Shape[0] < 0 || t.Shape[0] > maxRows {
		return nil, &RequestError{Status: 413, Msg: "Input " + strconv.Quote(clip(t.Name)) + " is larger than one request may be."}
	}
	var out []string
	err := eachLeaf(t.Data, func(v any) *RequestError {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case nil:
			out = append(out, "")
		default:
			return bad("Input %q is BYTES but holds %s.", clip(t.Name), describe(v))
		}
		if int64(len(out)) > t.Shape[0] {
			return bad("Input %q has more values than its shape %v holds.", clip(t.Name), t.Shape)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != t.Shape[0] {
		return nil, bad("Input %q has %d values but its shape %v needs %d.", clip(t.Name), len(out), t.Shape, t.Shape[0])
	}
	return out, nil
}
