package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Exec is what an executor sees of the step it runs: its fields (with the
// type's defaults), its resolved inputs, and durable ways to log, link and
// remember.
type Exec struct {
	Run    Run
	Step   Step
	Inputs map[string]Value

	e   *Engine
	mu  sync.Mutex
	rec *StepRecord
}

// Key identifies the step across restarts ("runID/step"): executors tag
// what they create with it, so a resumed step finds its work instead of
// doing it twice.
func (x *Exec) Key() string { return x.Run.ID + "/" + x.Step.ID }

// Field is a field's value, or the type's default when absent.
func (x *Exec) Field(name string) any {
	if v, ok := x.Step.Fields[name]; ok && v != nil {
		return v
	}
	if d, ok := x.e.types.Get(x.Step.Type); ok {
		if f, ok := d.Type.field(name); ok {
			if c, err := canonical(f.Default); err == nil {
				return c
			}
		}
	}
	return nil
}

// String is a text field ("" when absent).
func (x *Exec) String(name string) string {
	s, _ := x.Field(name).(string)
	return strings.TrimSpace(s)
}

// Float is a number field (0 when absent).
func (x *Exec) Float(name string) float64 {
	f, _ := x.Field(name).(float64)
	return f
}

// Int is a whole-number field (0 when absent).
func (x *Exec) Int(name string) int { return int(x.Float(name)) }

// Bool is a true/false field.
func (x *Exec) Bool(name string) bool {
	b, _ := x.Field(name).(bool)
	return b
}

// Object is a name: value field (nil when absent).
func (x *Exec) Object(name string) map[string]any {
	m, _ := x.Field(name).(map[string]any)
	return m
}

// List is a list-of-names field.
func (x *Exec) List(name string) []string {
	l, _ := x.Field(name).([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Logf adds a line to the step's log (kept durably, the last 500 lines).
func (x *Exec) Logf(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rec.Logs = append(x.rec.Logs, fmt.Sprintf(format, args...))
	if n := len(x.rec.Logs); n > maxLogLines {
		x.rec.Logs = x.rec.Logs[n-maxLogLines:]
	}
	x.e.saveStep(*x.rec)
}

// Remember stores a handle durably before the executor waits on what it
// names, so a restart can find it (Recall).
func (x *Exec) Remember(key, value string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rec.Handles == nil {
		x.rec.Handles = map[string]string{}
	}
	x.rec.Handles[key] = value
	x.e.saveStep(*x.rec)
}

// Recall reads a handle remembered by an earlier attempt of this step
// (before a restart), "" when none.
func (x *Exec) Recall(key string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.rec.Handles[key]
}

// Link records something the step made or used; SetJob also links the
// training job whose log holds the step's full output.
func (x *Exec) Link(l Link) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, have := range x.rec.Links {
		if have == l {
			return
		}
	}
	x.rec.Links = append(x.rec.Links, l)
	x.e.saveStep(*x.rec)
}

// SetJob points the step's log at a runner job.
func (x *Exec) SetJob(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rec.JobID = id
	x.e.saveStep(*x.rec)
}

// Approval is a person's decision on this step, nil before one.
func (x *Exec) Approval() *Approval {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.rec.Approval
}

// Cancelled says the run was cancelled (not the process stopping): an
// executor then stops what it started, such as a training job; when the
// process stops it leaves the job running for the next start.
func (x *Exec) Cancelled() bool { return !x.e.shuttingDown() }

// cacheKeyOf is the SHA-256 of the step's type, fields (with defaults),
// inputs' content identities and whatever the executor adds (Keyer).
func (e *Engine) cacheKeyOf(ctx context.Context, def Def, x *Exec) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "type %s\n", def.Type.Name)
	fields := map[string]any{}
	for _, f := range def.Type.Fields {
		if v := x.Field(f.Name); v != nil {
			fields[f.Name] = v
		}
	}
	b, err := json.Marshal(fields) // encoding/json sorts map keys
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "fields %s\n", b)
	names := make([]string, 0, len(x.Inputs))
	for n := range x.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := x.Inputs[n]
		id := v.Identity
		if id == "" {
			id = string(v.Type) + ":" + v.ID
		}
		fmt.Fprintf(h, "input %s %s\n", n, id)
	}
	if k, ok := def.Exec.(Keyer); ok {
		extra, err := k.Key(ctx, x)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "extra %s\n", extra)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
