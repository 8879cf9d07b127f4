package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
)

// Window selects the current sample of a prediction log: the last N
// requests, or those of the last T. Zero means the source's default.
type Window struct {
	LastN int           `json:"lastN,omitempty"`
	Last  time.Duration `json:"last,omitempty"` // nanoseconds in JSON
}

func (w Window) String() string {
	switch {
	case w.LastN > 0 && w.Last > 0:
		return fmt.Sprintf("last %d requests within %s", w.LastN, w.Last)
	case w.LastN > 0:
		return fmt.Sprintf("last %d requests", w.LastN)
	case w.Last > 0:
		return "last " + w.Last.String()
	}
	return "everything"
}

// defaultMaxWindow is how many records a window with no count reads at
// most; retention keeps that many for such a monitor.
const defaultMaxWindow = 100000

// Ops are the serving figures of a window, for reports and alert rules.
type Ops struct {
	Requests     int     `json:"requests"`
	Errors       int     `json:"errors"`
	ErrorRate    float64 `json:"errorRate"`
	LatencyP50Ms float64 `json:"latencyP50Ms"`
	LatencyP95Ms float64 `json:"latencyP95Ms"`
}

// Sample is the current side of a comparison.
type Sample struct {
	Columns []drift.Column `json:"-"`
	Rows    int            `json:"rows"`
	From    time.Time      `json:"from,omitzero"`
	To      time.Time      `json:"to,omitzero"`
	Ops     *Ops           `json:"ops,omitempty"`
}

// Source yields a frozen reference profile and a current window. The
// reference is a profile, not rows, so a window's cost does not grow with
// the reference.
type Source interface {
	Describe() string
	Reference(ctx context.Context) (*drift.Profile, error)
	Current(ctx context.Context, w Window) (Sample, error)
}

// Static is a source over columns already in memory: two dataset versions
// read by the caller, or an uploaded file against a stored profile.
type Static struct {
	Name string
	Ref  *drift.Profile
	Cur  []drift.Column
}

func (s Static) Describe() string                                  { return s.Name }
func (s Static) Reference(context.Context) (*drift.Profile, error) { return s.Ref, nil }
func (s Static) Current(context.Context, Window) (Sample, error) {
	n := 0
	for _, c := range s.Cur {
		n = max(n, len(c.Num), len(c.Cat))
	}
	return Sample{Columns: s.Cur, Rows: n}, nil
}

// TableReader reads a stored table (a dataset version) as columns.
type TableReader interface {
	ReadColumns(ctx context.Context, id string) ([]drift.Column, error)
}

// Versions compares two stored tables, e.g. two dataset versions.
type Versions struct {
	Tables       TableReader
	RefID, CurID string
}

func (v Versions) Describe() string {
	return fmt.Sprintf("version %s against version %s", v.CurID, v.RefID)
}

func (v Versions) Reference(ctx context.Context) (*drift.Profile, error) {
	cols, err := v.Tables.ReadColumns(ctx, v.RefID)
	if err != nil {
		return nil, err
	}
	return drift.BuildProfile(cols, drift.ProfileOptions{}), nil
}

func (v Versions) Current(ctx context.Context, _ Window) (Sample, error) {
	cols, err := v.Tables.ReadColumns(ctx, v.CurID)
	if err != nil {
		return Sample{}, err
	}
	return Static{Cur: cols}.Current(ctx, Window{})
}

// LogRecord is one logged prediction as monitoring needs it; adapters map
// the prediction log's records (backend/predlog) onto it.
type LogRecord struct {
	ID        string    `json:"id,omitempty"`
	Time      time.Time `json:"time"`
	LatencyMs float64   `json:"latencyMs"`
	Status    int       `json:"status"`
	Request   []byte    `json:"-"`
	Response  []byte    `json:"-"`
}

// LogReader returns a deployment's records, newest first, at most limit.
type LogReader interface {
	Recent(ctx context.Context, deployment string, limit int) ([]LogRecord, error)
}

// PredictionLog compares a model version's frozen reference profile with a
// window of its deployment's prediction log. Requests are parsed as MLflow
// scoring payloads into feature columns; responses give a "prediction"
// column, so prediction drift is measured like any feature.
type PredictionLog struct {
	Log        LogReader
	Deployment string
	Ref        *drift.Profile
	// MaxWindow caps how many records a window reads (default
	// defaultMaxWindow).
	MaxWindow int
	// Clock places the end of a time window; nil is the wall clock.
	Clock core.Clock
}

func (p PredictionLog) Describe() string {
	return fmt.Sprintf("prediction log of deployment %s against the model's reference profile", p.Deployment)
}

func (p PredictionLog) Reference(context.Context) (*drift.Profile, error) {
	if p.Ref == nil {
		return nil, core.Errorf(core.NotFound, "Deployment %s has no reference profile to compare with; freeze one from a dataset version first.", p.Deployment)
	}
	return p.Ref, nil
}

func (p PredictionLog) Current(ctx context.Context, w Window) (Sample, error) {
	limit := p.MaxWindow
	if limit <= 0 {
		limit = defaultMaxWindow
	}
	if w.LastN > 0 {
		limit = min(limit, w.LastN)
	}
	recs, err := p.Log.Recent(ctx, p.Deployment, limit)
	if err != nil {
		return Sample{}, err
	}
	if w.Last > 0 {
		cut := core.OrSystem(p.Clock).Now().Add(-w.Last)
		recs = slices.DeleteFunc(recs, func(r LogRecord) bool { return r.Time.Before(cut) })
	}
	return samplePredictions(recs, p.Ref), nil
}

// samplePredictions turns records into columns and ops figures. Columns
// follow the reference's names and kinds; a feature missing from a
// request is a missing value. Records that fail to parse still count for
// ops (they are often the errors).
func samplePredictions(recs []LogRecord, ref *drift.Profile) Sample {
	s := Sample{Ops: &Ops{Requests: len(recs)}}
	var lat []float64
	kinds := map[string]drift.Kind{}
	var order []string
	if ref != nil {
		for _, c := range ref.Columns {
			kinds[c.Name] = c.Kind
			order = append(order, c.Name)
		}
	}
	cols := map[string]*drift.Column{}
	rows := 0
	add := func(name string, v any) {
		c := cols[name]
		if c == nil {
			k, ok := kinds[name]
			if !ok && name == PredictionColumn {
				// No reference for predictions yet: keep them, so the
				// first window can become their baseline.
				k, ok = drift.Categorical, true
				if _, num := v.(float64); num {
					k = drift.Numeric
				}
				kinds[name] = k
				order = append(order, name)
			}
			if !ok {
				return // not in the reference: nothing to compare it with
			}
			c = &drift.Column{Name: name, Kind: k}
			cols[name] = c
		}
		if c.Kind == drift.Numeric {
			for len(c.Num) < rows {
				c.Num = append(c.Num, math.NaN())
			}
			c.Num = append(c.Num, toFloat(v))
		} else {
			for len(c.Cat) < rows {
				c.Cat = append(c.Cat, "")
			}
			c.Cat = append(c.Cat, toString(v))
		}
	}
	for _, r := range recs {
		lat = append(lat, r.LatencyMs)
		if r.Status >= 400 || r.Status == 0 {
			s.Ops.Errors++
		}
		if s.From.IsZero() || r.Time.Before(s.From) {
			s.From = r.Time
		}
		if r.Time.After(s.To) {
			s.To = r.Time
		}
		if r.Status >= 400 {
			continue
		}
		inputs, err := ParseRequest(r.Request)
		if err != nil {
			continue
		}
		preds, _ := ParseResponse(r.Response)
		for i, row := range inputs {
			for k, v := range row {
				add(k, v)
			}
			if i < len(preds) {
				add(PredictionColumn, preds[i])
			}
			rows++
		}
	}
	for _, name := range order {
		c := cols[name]
		if c == nil {
			continue
		}
		for len(c.Num) < rows && c.Kind == drift.Numeric {
			c.Num = append(c.Num, math.NaN())
		}
		for len(c.Cat) < rows && c.Kind == drift.Categorical {
			c.Cat = append(c.Cat, "")
		}
		s.Columns = append(s.Columns, *c)
	}
	s.Rows = rows
	if n := len(recs); n > 0 {
		s.Ops.ErrorRate = float64(s.Ops.Errors) / float64(n)
		sort.Float64s(lat)
		s.Ops.LatencyP50Ms = quantile(lat, 0.5)
		s.Ops.LatencyP95Ms = quantile(lat, 0.95)
	}
	return s
}

// PredictionColumn names the model's output in a prediction-log window;
// a reference profile that holds it gets prediction drift too.
const PredictionColumn = "prediction"

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return math.NaN()
		}
		return f
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case bool:
		if x {
			return 1
		}
		return 0
	}
	return math.NaN()
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
