package table

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/tern-studio/tern/backend/core"
)

// JSON lines: one object per line. Columns are the keys seen in the sample,
// in order of first appearance; a later line with a new key is an error
// (naming the key and line) rather than a silently dropped field.

func decodeJSONLine(b []byte) (map[string]json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not an object")
	}
	m := map[string]json.RawMessage{}
	var keys []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		if _, dup := m[k]; !dup {
			keys = append(keys, k)
		}
		m[k] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("text after the object")
	}
	return m, keys, nil
}

// jsonText turns a JSON value into the field text the accumulators read:
// strings unquoted, numbers and booleans as written, null as empty
// (missing), objects and arrays as their JSON text.
func jsonText(raw json.RawMessage, dst []byte) []byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return dst
	}
	if raw[0] == '"' {
		if bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 {
			return append(dst, raw[1:len(raw)-1]...)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return append(dst, s...)
		}
	}
	return append(dst, raw...)
}

func sampleJSON(sample []byte, complete bool) ([][]string, []string, error) {
	if !complete {
		if i := bytes.LastIndexByte(sample, '\n'); i >= 0 {
			sample = sample[:i+1]
		}
	}
	var keys []string
	seen := map[string]bool{}
	var objs []map[string]json.RawMessage
	line := int64(0)
	for len(sample) > 0 && len(objs) < sampleRows {
		line++
		var l []byte
		if i := bytes.IndexByte(sample, '\n'); i >= 0 {
			l, sample = sample[:i], sample[i+1:]
		} else {
			l, sample = sample, nil
		}
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		m, ks, err := decodeJSONLine(l)
		if err != nil {
			return nil, nil, core.Errorf(core.Invalid, "Line %d is not a JSON object (%v). A JSON-lines file has one {...} object per line.", line, err)
		}
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		objs = append(objs, m)
	}
	if len(keys) == 0 {
		return nil, nil, core.Errorf(core.Invalid, "The JSON lines have no fields to make columns from.")
	}
	recs := make([][]string, len(objs))
	for i, m := range objs {
		rec := make([]string, len(keys))
		for j, k := range keys {
			rec[j] = string(jsonText(m[k], nil))
		}
		recs[i] = rec
	}
	return recs, keys, nil
}

type jsonRecords struct {
	data    []byte
	line    int64
	index   map[string]int
	keys    []string
	fields  [][]byte
	scratch []byte
	ends    []int
}

func jsonSourceFactory(keys []string) recordSourceFactory {
	index := map[string]int{}
	for i, k := range keys {
		index[k] = i
	}
	return func(data []byte, line int64) recordSource {
		return &jsonRecords{data: data, line: line, index: index, keys: keys}
	}
}

func (r *jsonRecords) next() ([][]byte, int64, error) {
	for {
		if len(r.data) == 0 {
			return nil, 0, io.EOF
		}
		var l []byte
		if i := bytes.IndexByte(r.data, '\n'); i >= 0 {
			l, r.data = r.data[:i], r.data[i+1:]
		} else {
			l, r.data = r.data, nil
		}
		line := r.line
		r.line++
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(l) > MaxRecordBytes {
			return nil, line, tooLong(l, line, "jsonl")
		}
		m, _, err := decodeJSONLine(l)
		if err != nil {
			return nil, line, &lineError{line, fmt.Sprintf("Line %d is not a JSON object (%v). A JSON-lines file has one {...} object per line.", line, err)}
		}
		sc := r.scratch[:0]
		ends := r.ends[:0]
		for k := range m {
			if _, ok := r.index[k]; !ok {
				return nil, line, &lineError{line, fmt.Sprintf("Line %d has a field %s that the first lines of the file do not have; Tern takes its columns from the first %d lines.", line, strconv.Quote(k), sampleRows)}
			}
		}
		for _, k := range r.keys {
			sc = jsonText(m[k], sc)
			ends = append(ends, len(sc))
		}
		f := splitFields(r.fields[:0], sc, ends)
		r.scratch, r.ends, r.fields = sc, ends, f
		return f, line, nil
	}
}
