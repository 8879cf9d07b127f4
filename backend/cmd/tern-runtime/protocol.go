package main

import (
	"encoding/json"
	"math"
	"os"
	"sync"
)

// emitter writes protocol lines to stdout, one JSON object per line, so a
// runner can tell them from free-form logs (which go to stderr).
type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

var out = &emitter{enc: json.NewEncoder(os.Stdout)}

func (e *emitter) line(v map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(v)
}

func (e *emitter) metric(key string, value float64, step int) {
	var v any = value
	// JSON has no NaN/Inf; send them as strings as MLflow does.
	switch {
	case math.IsNaN(value):
		v = "NaN"
	case math.IsInf(value, 1):
		v = "Infinity"
	case math.IsInf(value, -1):
		v = "-Infinity"
	}
	e.line(map[string]any{"tern": "metric", "key": key, "value": v, "step": step})
}

func (e *emitter) param(key, value string) {
	e.line(map[string]any{"tern": "param", "key": key, "value": value})
}

func (e *emitter) tag(key, value string) {
	e.line(map[string]any{"tern": "tag", "key": key, "value": value})
}

func (e *emitter) status(msg string) { e.line(map[string]any{"tern": "status", "message": msg}) }

func (e *emitter) fail(msg string) { e.line(map[string]any{"tern": "error", "message": msg}) }
