package mlflowapi

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Hand-written JSON for runs, the bulk of search-runs and get-run
// responses: a page of 1,000 runs with 100 metrics each is 100,000
// metric objects, where reflection-based encoding dominates the time.
// The output equals encoding/json's (tested).

func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // control characters and <, >, & (as encoding/json escapes them)
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat writes a metric value as tracking.Float marshals it.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	case v == 0 && math.Signbit(v):
		return append(b, `-0.0`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendKVs(b []byte, kvs []kv) []byte {
	b = append(b, '[')
	for i, e := range kvs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendString(b, e.Key)
		b = append(b, `,"value":`...)
		b = appendString(b, e.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendRunInfo(b []byte, r runInfoJSON) []byte {
	b = append(b, `{"run_id":`...)
	b = appendString(b, r.RunID)
	b = append(b, `,"run_uuid":`...)
	b = appendString(b, r.RunUUID)
	b = append(b, `,"run_name":`...)
	b = appendString(b, r.RunName)
	b = append(b, `,"experiment_id":`...)
	b = appendString(b, r.ExperimentID)
	if r.UserID != "" {
		b = append(b, `,"user_id":`...)
		b = appendString(b, r.UserID)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, r.Status)
	b = append(b, `,"start_time":`...)
	b = strconv.AppendInt(b, r.StartTime, 10)
	if r.EndTime != 0 {
		b = append(b, `,"end_time":`...)
		b = strconv.AppendInt(b, r.EndTime, 10)
	}
	b = append(b, `,"artifact_uri":`...)
	b = appendString(b, r.ArtifactURI)
	b = append(b, `,"lifecycle_stage":`...)
	b = appendString(b, r.LifecycleStage)
	return append(b, '}')
}

// appendRun writes one run exactly as encoding/json writes runJSON.
func appendRun(b []byte, r runJSON) []byte {
	b = append(b, `{"info":`...)
	b = appendRunInfo(b, r.Info)
	b = append(b, `,"data":{`...)
	comma := false
	if len(r.Data.Metrics) > 0 {
		b = append(b, `"metrics":[`...)
		for i, m := range r.Data.Metrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = appendString(b, m.Key)
			b = append(b, `,"value":`...)
			b = appendFloat(b, float64(m.Value))
			b = append(b, `,"timestamp":`...)
			b = strconv.AppendInt(b, m.Timestamp, 10)
			b = append(b, `,"step":`...)
			b = strconv.AppendInt(b, m.Step, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
		comma = true
	}
	b, comma = appendKVField(b, comma, `"params":`, r.Data.Params)
	b, _ = appendKVField(b, comma, `"tags":`, r.Data.Tags)
	return append(b, `},"inputs":{}}`...)
}

// appendKVField writes `name:[...]` unless kvs is empty (omitempty),
// after a comma when a field came before; it says whether one has now.
func appendKVField(b []byte, comma bool, name string, kvs []kv) ([]byte, bool) {
	if len(kvs) == 0 {
		return b, comma
	}
	if comma {
		b = append(b, ',')
	}
	b = append(b, name...)
	return appendKVs(b, kvs), true
}

// directJSON is a response body already encoded; handlers return it to
// skip encoding/json (which would re-scan it).
type directJSON []byte

// searchRunsJSON encodes a search-runs response.
func searchRunsJSON(runs []runJSON, next string) directJSON {
	n := 256
	for _, r := range runs {
		n += 256 + 96*len(r.Data.Metrics) + 64*(len(r.Data.Params)+len(r.Data.Tags))
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	if len(runs) > 0 {
		b = append(b, `"runs":[`...)
		for i, r := range runs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRun(b, r)
		}
		b = append(b, ']')
	}
	if next != "" {
		if len(runs) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"next_page_token":`...)
		b = appendString(b, next)
	}
	return append(b, '}', '\n')
}
