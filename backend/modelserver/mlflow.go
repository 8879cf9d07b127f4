package modelserver

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/modelfmt"
)

// The four JSON forms of MLflow's /invocations; exactly one must be given.
var mlflowKeys = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

// DecodeMLflow decodes an /invocations body of the given Content-Type
// against sig. Errors are *RequestError with the status MLflow's scoring
// server gives: 415 for a media type or charset it does not take, 400 for
// everything wrong inside the body.
func DecodeMLflow(contentType string, body []byte, sig modelfmt.Signature) (*Batch, *RequestError) {
	mt, params, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		return nil, &RequestError{Status: 415, Msg: "Content-Type is missing; send application/json or text/csv."}
	}
	if err != nil {
		return nil, &RequestError{Status: 415, Msg: "Content-Type is not a valid media type; send application/json or text/csv."}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, &RequestError{Status: 415, Msg: "Charset " + clip(cs) + " is not supported; send UTF-8."}
	}
	var b *Batch
	var rerr *RequestError
	switch mt {
	case "application/json":
		b, rerr = decodeMLflowJSON(body, sig)
	case "text/csv":
		b, rerr = decodeCSV(body, sig)
	default:
		return nil, &RequestError{Status: 415, Msg: "Content-Type " + clip(mt) + " is not supported; send application/json or text/csv."}
	}
	if rerr == nil && b.NRows == 0 {
		// MLflow's scoring server answers an empty frame with an empty
		// list; Tern refuses it, because a caller sending nothing has made
		// a mistake it should hear about.
		return nil, bad("The request has no rows to score.")
	}
	return b, rerr
}

func decodeMLflowJSON(body []byte, sig modelfmt.Signature) (*Batch, *RequestError) {
	if !utf8.Valid(body) {
		return nil, bad("The body is not valid UTF-8.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, bad("The body is empty; send a JSON object with one of dataframe_split, dataframe_records, instances or inputs.")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, bad("The body is not a JSON object: %s.", jsonProblem(err))
	}
	var found []string
	for _, k := range mlflowKeys {
		if _, ok := top[k]; ok {
			found = append(found, k)
		}
	}
	if len(found) != 1 {
		msg := "The body must have exactly one of the keys dataframe_split, dataframe_records, instances, inputs"
		if len(found) == 0 {
			return nil, bad("%s; it has none.", msg)
		}
		return nil, bad("%s; it has %s.", msg, strings.Join(found, " and "))
	}
	proba, explain, rerr := inferenceParams(top["params"])
	if rerr != nil {
		return nil, rerr
	}
	raw := top[found[0]]
	var b *Batch
	switch found[0] {
	case "dataframe_split":
		b, rerr = decodeSplit(raw, sig)
	case "dataframe_records":
		var recs []map[string]any
		if err := json.Unmarshal(raw, &recs); err != nil {
			return nil, bad("dataframe_records must be a list of objects: %s.", jsonProblem(err))
		}
		b, rerr = fromRecords(recs, sig)
	default:
		b, rerr = decodeInstances(found[0], raw, sig)
	}
	if b != nil {
		b.Proba, b.Explain = proba, explain
	}
	return b, rerr
}

// inferenceParams reads MLflow's inference params. predict_method chooses
// between labels ("predict", the default) and class probabilities
// ("predict_proba"), as scikit-learn models served through a custom pyfunc
// do; explain (a boolean) asks for each row's contributions next to the
// predictions. Other params are ignored, as MLflow ignores params a model
// does not declare.
func inferenceParams(raw json.RawMessage) (proba, explain bool, rerr *RequestError) {
	if len(raw) == 0 || string(raw) == "null" {
		return false, false, nil
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		return false, false, bad("params must be an object of parameter values: %s.", jsonProblem(err))
	}
	if explain, rerr = explainParam("params", params); rerr != nil {
		return false, false, rerr
	}
	v, ok := params["predict_method"]
	if !ok || v == nil {
		return false, explain, nil
	}
	switch v {
	case "predict":
		return false, explain, nil
	case "predict_proba":
		return true, explain, nil
	}
	return false, false, bad("params.predict_method is %s; it takes \"predict\" or \"predict_proba\".", describe(v))
}

// explainParam reads the explain parameter of MLflow's params or V2's
// parameters: a boolean, absent meaning false.
func explainParam(where string, params map[string]any) (bool, *RequestError) {
	switch v := params["explain"].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, bad("%s.explain is %s; it takes true or false.", where, describe(v))
	}
}

func decodeSplit(raw json.RawMessage, sig modelfmt.Signature) (*Batch, *RequestError) {
	var split struct {
		Columns []string `json:"columns"`
		Data    [][]any  `json:"data"`
	}
	if err := json.Unmarshal(raw, &split); err != nil {
		return nil, bad("dataframe_split must be an object with columns (a list of names) and data (a list of rows): %s.", jsonProblem(err))
	}
	if split.Columns == nil {
		return fromRows(split.Data, sig, "dataframe_split")
	}
	pos, rerr := columnMap(sig, split.Columns)
	if rerr != nil {
		return nil, rerr
	}
	if len(split.Data) > maxRows {
		return nil, &RequestError{Status: 413, Msg: "Too many rows in one request."}
	}
	b := newBatch(len(split.Data), sig)
	for r, row := range split.Data {
		if len(row) != len(split.Columns) {
			return nil, bad("Row %d of dataframe_split has %d values but %d columns are named.", r+1, len(row), len(split.Columns))
		}
		for i, v := range row {
			if err := b.set(r, pos[i], v, sig.Inputs[pos[i]]); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// fromRows reads positional rows: values in signature order.
func fromRows(rows [][]any, sig modelfmt.Signature, form string) (*Batch, *RequestError) {
	if len(rows) > maxRows {
		return nil, &RequestError{Status: 413, Msg: "Too many rows in one request."}
	}
	b := newBatch(len(rows), sig)
	for r, row := range rows {
		if len(row) != len(sig.Inputs) {
			return nil, bad("Row %d of %s has %d values; the model takes %d (%s).", r+1, form, len(row), len(sig.Inputs), inputList(sig))
		}
		for c, v := range row {
			if err := b.set(r, c, v, sig.Inputs[c]); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

func fromRecords(recs []map[string]any, sig modelfmt.Signature) (*Batch, *RequestError) {
	if len(recs) > maxRows {
		return nil, &RequestError{Status: 413, Msg: "Too many rows in one request."}
	}
	idx := sig.Index()
	b := newBatch(len(recs), sig)
	seen := make([]bool, len(sig.Inputs))
	for r, rec := range recs {
		if rec == nil {
			return nil, bad("Row %d is null; each record must be an object of column values.", r+1)
		}
		clear(seen)
		var unknown []string
		for name := range rec {
			if p, ok := idx[name]; ok {
				seen[p] = true
			} else {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown) // map order is random; the answer must not be
		if err := checkColumns(sig, seen, unknown, "Row "+itoa(r+1)); err != nil {
			return nil, err
		}
		for name, v := range rec {
			p := idx[name]
			if err := b.set(r, p, v, sig.Inputs[p]); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// decodeInstances handles TF-serving style "instances" and "inputs": a list
// of records, a list of positional rows, a list of scalars for a one-input
// model, or (inputs only) an object of column -> list of values.
func decodeInstances(key string, raw json.RawMessage, sig modelfmt.Signature) (*Batch, *RequestError) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, bad("%s is not valid JSON: %s.", key, jsonProblem(err))
	}
	switch t := v.(type) {
	case []any:
		if len(t) == 0 {
			return newBatch(0, sig), nil
		}
		switch t[0].(type) {
		case map[string]any:
			recs := make([]map[string]any, len(t))
			for i, e := range t {
				m, ok := e.(map[string]any)
				if !ok {
					return nil, bad("Item %d of %s is %s; items must all be objects like the first.", i+1, key, describe(e))
				}
				recs[i] = m
			}
			return fromRecords(recs, sig)
		case []any:
			rows := make([][]any, len(t))
			for i, e := range t {
				r, ok := e.([]any)
				if !ok {
					return nil, bad("Item %d of %s is %s; items must all be lists like the first.", i+1, key, describe(e))
				}
				rows[i] = r
			}
			return fromRows(rows, sig, key)
		default:
			if len(sig.Inputs) != 1 {
				return nil, bad("%s is a list of single values but the model takes %d inputs (%s); send a list of rows or records.", key, len(sig.Inputs), inputList(sig))
			}
			rows := make([][]any, len(t))
			for i, e := range t {
				rows[i] = []any{e}
			}
			return fromRows(rows, sig, key)
		}
	case map[string]any:
		if key != "inputs" {
			return nil, bad("instances must be a list.")
		}
		return fromColumns(t, sig)
	}
	return nil, bad("%s must be a list of rows or records, or an object of columns; got %s.", key, describe(v))
}

func fromColumns(cols map[string]any, sig modelfmt.Signature) (*Batch, *RequestError) {
	idx := sig.Index()
	seen := make([]bool, len(sig.Inputs))
	var unknown []string
	for name := range cols {
		if p, ok := idx[name]; ok {
			seen[p] = true
		} else {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	if err := checkColumns(sig, seen, unknown, "The request"); err != nil {
		return nil, err
	}
	n := -1
	lists := make([][]any, len(sig.Inputs))
	// In signature order, so the first length mismatch named is stable.
	for p, c := range sig.Inputs {
		v, ok := cols[c.Name]
		if !ok {
			continue
		}
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // a single value is one row, as MLflow reads it
		}
		if n >= 0 && len(list) != n {
			return nil, bad("Input %q has %d values but other inputs have %d; all columns must be the same length.", c.Name, len(list), n)
		}
		if len(list) > maxRows {
			return nil, &RequestError{Status: 413, Msg: "Too many rows in one request."}
		}
		n = len(list)
		lists[p] = list
	}
	if n < 0 {
		n = 0
	}
	b := newBatch(n, sig)
	for p, list := range lists {
		for r, v := range list {
			if err := b.set(r, p, v, sig.Inputs[p]); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// decodeCSV reads text/csv with a header row naming the columns.
func decodeCSV(body []byte, sig modelfmt.Signature) (*Batch, *RequestError) {
	if !utf8.Valid(body) {
		return nil, &RequestError{Status: 415, Msg: "The CSV body is not valid UTF-8; send it as UTF-8."}
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, bad("The CSV body is empty; it needs a header row naming the columns.")
	}
	if err != nil {
		return nil, bad("The CSV header cannot be read: %s.", csvProblem(err))
	}
	header = append([]string(nil), header...)
	pos, rerr := columnMap(sig, header)
	if rerr != nil {
		return nil, rerr
	}
	b := &Batch{NCols: len(sig.Inputs), Text: make([][]string, len(sig.Inputs))}
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bad("CSV row %d cannot be read: %s.", row, csvProblem(err))
		}
		if row > maxRows {
			return nil, &RequestError{Status: 413, Msg: "Too many rows in one request."}
		}
		start := len(b.X)
		for range b.NCols {
			b.X = append(b.X, nanValue)
		}
		for i, s := range rec {
			if c := sig.Inputs[pos[i]]; c.Type == "string" {
				b.Text[pos[i]] = append(b.Text[pos[i]], s)
				continue
			}
			f, rerr := convertText(s, sig.Inputs[pos[i]], row)
			if rerr != nil {
				return nil, rerr
			}
			b.X[start+pos[i]] = f
		}
		b.NRows++
		for p, c := range sig.Inputs {
			if c.Type == "string" && len(b.Text[p]) < b.NRows {
				b.Text[p] = append(b.Text[p], "")
			}
		}
	}
	return b, nil
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return "it has a different number of fields than the header (ragged CSV)"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// jsonProblem words a JSON error without Go type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON near byte " + itoa(int(se.Offset))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			where = "the top level"
		}
		return "found a JSON " + te.Value + " at " + where
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the JSON ends too early"
	}
	return "invalid JSON"
}
