package mlflowapi

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tern-studio/tern/backend/tracking"
)

// parseBatchFast decodes the common shape of a log-batch body in one pass
// without reflection — ingest is the hottest path of the API. It accepts
// only what it is sure of (strict JSON; run_id/run_uuid strings; metrics
// with string keys, numeric or non-finite-string values, integer or
// numeric-string timestamp/step; params/tags as lists of string pairs;
// other fields skipped) and reports ok=false for anything else, so the
// general decoder handles it and words the error.
func parseBatchFast(b []byte) (runID string, batch tracking.Batch, ok bool) {
	p := &fastParser{b: b}
	if !p.consume('{') {
		return "", batch, false
	}
	var uuid string
	first := true
	for {
		p.ws()
		if p.consume('}') {
			break
		}
		if !first && !p.consume(',') {
			return "", batch, false
		}
		first = false
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return "", batch, false
		}
		switch key {
		case "run_id", "run_uuid":
			v, ok := p.str()
			if !ok {
				return "", batch, false
			}
			if key == "run_id" {
				runID = v
			} else {
				uuid = v
			}
		case "metrics":
			if !p.metrics(&batch) {
				return "", batch, false
			}
		case "params", "tags":
			pairs, ok := p.pairs()
			if !ok {
				return "", batch, false
			}
			for _, kv := range pairs {
				if key == "params" {
					batch.Params = append(batch.Params, tracking.Param{Key: kv[0], Value: kv[1]})
				} else {
					batch.Tags = append(batch.Tags, tracking.Tag{Key: kv[0], Value: kv[1]})
				}
			}
		default:
			if !p.skip(0) {
				return "", batch, false
			}
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return "", batch, false
	}
	if runID == "" {
		runID = uuid
	}
	return runID, batch, runID != ""
}

func foldsTo(k string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *fastParser) consume(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// str reads a JSON string; escapes go through strconv.Unquote after a
// check that they are JSON escapes.
func (p *fastParser) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	escaped := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			raw := p.b[start:p.i]
			p.i++
			if !escaped {
				if !utf8.Valid(raw) {
					return "", false
				}
				return string(raw), true
			}
			return unescapeJSON(raw)
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			return "", false
		default:
			p.i++
		}
	}
	return "", false
}

func unescapeJSON(raw []byte) (string, bool) {
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' {
			if i+1 >= len(raw) {
				return "", false
			}
			switch raw[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u':
			default:
				return "", false
			}
			if raw[i+1] == 'u' || raw[i+1] == '/' {
				return "", false // surrogate pairs and \/ differ from Go quoting: let encoding/json do it
			}
			i++
		}
	}
	s, err := strconv.Unquote(`"` + string(raw) + `"`)
	return s, err == nil && utf8.ValidString(s)
}

// number returns the raw literal of a JSON number; ok only when it keeps
// JSON's grammar (no leading zeros, "+", or bare "." that strconv would take).
func (p *fastParser) number() ([]byte, bool) {
	p.ws()
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	lit := p.b[start:p.i]
	return lit, tracking.ValidJSONNumber(lit)
}

func (p *fastParser) int64() (int64, bool) {
	if p.peek() == '"' {
		s, ok := p.str()
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	lit, ok := p.number()
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	return n, err == nil
}

func (p *fastParser) metrics(b *tracking.Batch) bool {
	if p.peek() == 'n' {
		return p.skip(0)
	}
	if !p.consume('[') {
		return false
	}
	if p.consume(']') {
		return true
	}
	for {
		m, ok := p.metric()
		if !ok {
			return false
		}
		b.Metrics = append(b.Metrics, m)
		if p.consume(']') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

func (p *fastParser) metric() (tracking.Metric, bool) {
	var m tracking.Metric
	if !p.consume('{') {
		return m, false
	}
	hasKey, hasValue := false, false
	first := true
	for {
		if p.consume('}') {
			break
		}
		if !first && !p.consume(',') {
			return m, false
		}
		first = false
		k, ok := p.str()
		if !ok || !p.consume(':') {
			return m, false
		}
		switch k {
		case "key":
			if m.Key, ok = p.str(); !ok {
				return m, false
			}
			hasKey = true
		case "value":
			var v float64
			if p.peek() == '"' {
				s, ok := p.str()
				if !ok {
					return m, false
				}
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return m, false
				}
				v = f
			} else {
				lit, ok := p.number()
				if !ok {
					return m, false
				}
				f, err := tracking.ParseFloat(lit)
				if err != nil {
					return m, false
				}
				v = f
			}
			m.Value = tracking.Float(v)
			hasValue = true
		case "timestamp":
			if m.Timestamp, ok = p.int64(); !ok {
				return m, false
			}
		case "step":
			if m.Step, ok = p.int64(); !ok {
				return m, false
			}
		default:
			// encoding/json matches field names case-insensitively; leave
			// such bodies to it rather than read them differently
			if foldsTo(k, "key", "value", "timestamp", "step") || !p.skip(0) {
				return m, false
			}
		}
	}
	return m, hasKey && hasValue && m.Key != ""
}

func (p *fastParser) pairs() ([][2]string, bool) {
	if p.peek() == 'n' {
		return nil, p.skip(0)
	}
	if !p.consume('[') {
		return nil, false
	}
	var out [][2]string
	if p.consume(']') {
		return out, true
	}
	for {
		if !p.consume('{') {
			return nil, false
		}
		var kv [2]string
		hasKey, first := false, true
		for {
			if p.consume('}') {
				break
			}
			if !first && !p.consume(',') {
				return nil, false
			}
			first = false
			k, ok := p.str()
			if !ok || !p.consume(':') {
				return nil, false
			}
			switch k {
			case "key":
				if kv[0], ok = p.str(); !ok {
					return nil, false
				}
				hasKey = true
			case "value":
				if kv[1], ok = p.str(); !ok {
					return nil, false
				}
			default:
				if foldsTo(k, "key", "value") || !p.skip(0) {
					return nil, false
				}
			}
		}
		if !hasKey || kv[0] == "" {
			return nil, false
		}
		out = append(out, kv)
		if p.consume(']') {
			return out, true
		}
		if !p.consume(',') {
			return nil, false
		}
	}
}

// skip passes over any JSON value (depth-limited).
func (p *fastParser) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.i++
		if p.consume(closer) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := p.str(); !ok || !p.consume(':') {
					return false
				}
			}
			if !p.skip(depth + 1) {
				return false
			}
			if p.consume(closer) {
				return true
			}
			if !p.consume(',') {
				return false
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				return true
			}
		}
		return false
	default:
		lit, ok := p.number()
		if !ok {
			return false
		}
		_, err := tracking.ParseFloat(lit)
		return err == nil
	}
}
