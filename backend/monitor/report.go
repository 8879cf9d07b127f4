package monitor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/drift"
)

// Report is one drift report: aggregates only (test results, shares per bin
// or category, ops figures), never a row.
type Report struct {
	ID      string        `json:"id"`
	Monitor string        `json:"monitor,omitempty"` // the monitor that produced it, if any
	Title   string        `json:"title"`
	Source  string        `json:"source"`
	Window  string        `json:"window"`
	Created time.Time     `json:"created"`
	Rows    int           `json:"rows"` // current rows compared
	From    time.Time     `json:"from,omitzero"`
	To      time.Time     `json:"to,omitzero"`
	Drift   *drift.Result `json:"drift"`
	Ops     *Ops          `json:"ops,omitempty"`
	Alerts  []Alert       `json:"alerts,omitempty"`
	// Performance is realised quality from the labels received so far
	// (deployment monitors with labels only).
	Performance *Performance `json:"performance,omitempty"`
	// Importance weights the drifted columns by the deployed model's
	// explanation (deployment monitors whose version has one).
	Importance *Importance `json:"importance,omitempty"`
	// Notes say what a person should know about how the report was made.
	Notes []string `json:"notes,omitempty"`
}

// BuildOptions tune Build.
type BuildOptions struct {
	Title  string
	Window Window
	Drift  drift.Options
	// Clock stamps the report; nil is the wall clock.
	Clock core.Clock
	NewID func() string
	// Sample, when set, sees the current window after it is read.
	Sample func(Sample)
}

// Build runs a comparison and wraps it as a report. Its cost is the current
// window's: the reference arrives as a frozen profile.
func Build(ctx context.Context, src Source, o BuildOptions) (*Report, error) {
	clock, newID := core.OrSystem(o.Clock), core.NewID
	if o.NewID != nil {
		newID = o.NewID
	}
	ref, err := src.Reference(ctx)
	if err != nil {
		return nil, err
	}
	if ref == nil || len(ref.Columns) == 0 {
		return nil, core.Errorf(core.Invalid, "The reference has no columns to compare.")
	}
	cur, err := src.Current(ctx, o.Window)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "The drift report was cancelled.")
	}
	if o.Sample != nil {
		o.Sample(cur)
	}
	res, err := drift.CompareWindow(ref, cur.Columns, o.Drift)
	if err != nil {
		return nil, err
	}
	title := o.Title
	if title == "" {
		title = "Drift report"
	}
	return &Report{
		ID: newID(), Title: title, Source: src.Describe(), Window: o.Window.String(),
		Created: clock.Now().UTC(), Rows: cur.Rows, From: cur.From, To: cur.To, Drift: res, Ops: cur.Ops,
		Notes: roleNotes(res, o.Drift.CountTarget),
	}, nil
}

// roleNotes say which columns the data-drift share leaves out, and that
// the target's drift is reported on its own.
func roleNotes(res *drift.Result, countTarget bool) []string {
	var notes, left []string
	for _, v := range res.Columns {
		if v.Status == drift.StatusSkipped && strings.HasPrefix(v.Reason, "left out: ") {
			left = append(left, fmt.Sprintf("%s (%s)", v.Column, strings.TrimPrefix(v.Reason, "left out: ")))
		}
	}
	if len(left) > 0 {
		notes = append(notes, "Not compared: "+strings.Join(left, "; ")+".")
	}
	for _, v := range res.Columns {
		if v.Role != drift.RoleTarget || v.Status != drift.StatusOK {
			continue
		}
		what := "did not drift"
		if v.Drift {
			what = "drifted"
		}
		counted := "it is target (label) drift, not counted in the share of drifted columns"
		if countTarget {
			counted = "it is counted in the share of drifted columns, as this monitor asks"
		}
		notes = append(notes, fmt.Sprintf("The target %s %s: %s.", v.Column, what, counted))
	}
	return notes
}

// OverlaySVG renders a verdict's reference-vs-current chart in Tern's chart
// style.
func OverlaySVG(v drift.Verdict, width, height int) ([]byte, error) {
	return overlay(v, chart.Options{Title: v.Column, Width: width, Height: height}, chart.OverlayHistogram, chart.OverlayBars)
}

// overlay draws a verdict's overlay with hist (numeric columns, shares on
// the y axis) or bars (categories, shares on the x axis); the SVG and the
// PDF renderers are passed in.
func overlay[T any](v drift.Verdict, o chart.Options,
	hist func(edges, ref, cur []float64, o chart.Options) (T, error),
	bars func(labels []string, ref, cur []float64, o chart.Options) (T, error)) (T, error) {
	o.YLabel = "share"
	edges, ref, cur, numeric := overlaySeries(v)
	if numeric {
		return hist(edges, ref, cur, o)
	}
	o.YLabel, o.XLabel = "", "share"
	if v.Overlay == nil {
		return bars(nil, nil, nil, o)
	}
	return bars(v.Overlay.Labels, v.Overlay.Ref, v.Overlay.Cur, o)
}

// overlaySeries turns a numeric overlay into plain bins. Shares outside the
// reference range are drawn as one extra bin each side when they hold
// anything.
func overlaySeries(v drift.Verdict) (edges, ref, cur []float64, numeric bool) {
	ov := v.Overlay
	if ov == nil || ov.Kind != drift.Numeric || len(ov.Edges) < 2 || len(ov.Ref) != len(ov.Edges)+1 || len(ov.Cur) != len(ov.Ref) {
		return nil, nil, nil, false
	}
	edges = append([]float64(nil), ov.Edges...)
	ref = append([]float64(nil), ov.Ref[1:len(ov.Ref)-1]...)
	cur = append([]float64(nil), ov.Cur[1:len(ov.Cur)-1]...)
	w := edges[1] - edges[0]
	if w <= 0 {
		w = 1
	}
	if ov.Ref[0] > 0 || ov.Cur[0] > 0 {
		edges = append([]float64{edges[0] - w}, edges...)
		ref = append([]float64{ov.Ref[0]}, ref...)
		cur = append([]float64{ov.Cur[0]}, cur...)
	}
	last := len(ov.Ref) - 1
	if ov.Ref[last] > 0 || ov.Cur[last] > 0 {
		edges = append(edges, edges[len(edges)-1]+w)
		ref = append(ref, ov.Ref[last])
		cur = append(cur, ov.Cur[last])
	}
	return edges, ref, cur, true
}
