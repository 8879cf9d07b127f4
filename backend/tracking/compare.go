package tracking

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
)

// CompareRow is one param, metric or tag across the compared runs.
type CompareRow struct {
	Column  string   `json:"column"`
	Values  []string `json:"values"` // "" where a run lacks it
	Differs bool     `json:"differs"`
}

// Comparison is 2–10 runs side by side.
type Comparison struct {
	Runs []Run        `json:"runs"`
	Rows []CompareRow `json:"rows"`
	// MetricKeys present in any run, for overlaid curves.
	MetricKeys []string `json:"metricKeys"`
	// Parallel is a parallel-coordinates SVG over the numeric columns that
	// differ (empty when fewer than two).
	Parallel string `json:"parallel"`
}

// Compare lines up 2–10 runs: every param, latest metric and tag (params
// first, then metrics, then tags, each by name), with whether the runs
// differ on it, and a parallel-coordinates chart of up to 12 numeric
// columns that differ.
func (s *Service) Compare(runIDs []string) (Comparison, error) {
	if len(runIDs) < 2 || len(runIDs) > 10 {
		return Comparison{}, core.Errorf(core.Invalid, "Compare 2 to 10 runs; got %d.", len(runIDs))
	}
	c := Comparison{Rows: []CompareRow{}}
	cols := map[string]bool{}
	for _, id := range runIDs {
		r, err := s.GetRun(id)
		if err != nil {
			return Comparison{}, err
		}
		c.Runs = append(c.Runs, r)
		for k := range r.Params {
			cols["params."+k] = true
		}
		for k := range r.Metrics {
			cols["metrics."+k] = true
		}
		for k := range r.Tags {
			// MLflow's own bookkeeping tags (run name, source, user) are
			// noise in a comparison; the run header already shows them.
			if !strings.HasPrefix(k, "mlflow.") {
				cols["tags."+k] = true
			}
		}
	}
	names := make([]string, 0, len(cols))
	for k := range cols {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return colRank(names[i]) < colRank(names[j]) || (colRank(names[i]) == colRank(names[j]) && names[i] < names[j])
	})
	var axes []string
	for _, col := range names {
		row := CompareRow{Column: col}
		numeric := true
		for _, r := range c.Runs {
			v, ok := compareCell(r, col)
			row.Values = append(row.Values, v)
			if _, err := strconv.ParseFloat(v, 64); !ok || err != nil {
				numeric = false
			}
		}
		for _, v := range row.Values[1:] {
			if v != row.Values[0] {
				row.Differs = true
			}
		}
		if key, ok := strings.CutPrefix(col, "metrics."); ok {
			c.MetricKeys = append(c.MetricKeys, key)
		}
		if row.Differs && numeric && !strings.HasPrefix(col, "tags.") && len(axes) < 12 {
			axes = append(axes, col)
		}
		c.Rows = append(c.Rows, row)
	}
	if len(axes) >= 2 {
		rows := make([][]float64, len(c.Runs))
		labels := make([]string, len(c.Runs))
		for i, r := range c.Runs {
			labels[i] = r.Name
			for _, a := range axes {
				v, _ := compareCell(r, a)
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					f = math.NaN()
				}
				rows[i] = append(rows[i], f)
			}
		}
		svg, err := chart.ParallelCoordinates(axes, labels, rows, chart.Options{Width: 720, Height: 240})
		if err == nil {
			c.Parallel = string(svg)
		}
	}
	return c, nil
}

// MetricChart draws one metric of 1–10 runs as overlaid curves (SVG),
// each downsampled to about two points per pixel of width.
func (s *Service) MetricChart(runIDs []string, key string, width, height int) ([]byte, error) {
	if len(runIDs) == 0 || len(runIDs) > 10 {
		return nil, core.Errorf(core.Invalid, "Chart 1 to 10 runs at a time; got %d.", len(runIDs))
	}
	var series []chart.LineSeries
	for _, id := range runIDs {
		r, err := s.GetRun(id)
		if err != nil {
			return nil, err
		}
		pts, err := s.SeriesSample(id, key, max(width, 200)*2)
		if err != nil {
			return nil, err
		}
		line := chart.LineSeries{Name: r.Name}
		for _, p := range pts {
			line.X = append(line.X, float64(p.Step))
			line.Y = append(line.Y, float64(p.Value))
		}
		series = append(series, line)
	}
	svg, err := chart.Lines(series, chart.Options{Title: key, XLabel: "step", Width: width, Height: height})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not draw the chart of %q.", key)
	}
	return svg, nil
}

func colRank(c string) int {
	switch {
	case strings.HasPrefix(c, "params."):
		return 0
	case strings.HasPrefix(c, "metrics."):
		return 1
	}
	return 2
}

// compareCell is a run's value in a "params.", "metrics." or "tags."
// column as text; a metric reads as MLflow writes it ("NaN" for NaN).
func compareCell(r Run, col string) (string, bool) {
	if k, ok := strings.CutPrefix(col, "params."); ok {
		v, ok := r.Params[k]
		return v, ok
	}
	if k, ok := strings.CutPrefix(col, "metrics."); ok {
		p, ok := r.Metrics[k]
		if !ok {
			return "", false
		}
		b, _ := p.Value.MarshalJSON()
		return strings.Trim(string(b), `"`), true
	}
	if k, ok := strings.CutPrefix(col, "tags."); ok {
		v, ok := r.Tags[k]
		return v, ok
	}
	return "", false
}
