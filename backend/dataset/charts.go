package dataset

import (
	"github.com/tern-studio/tern/backend/chart"
	"github.com/tern-studio/tern/backend/core"
)

// ColumnChart renders one column's distribution from the stored profile:
// a histogram for numeric and datetime columns, frequent values as bars
// otherwise. w and h are CSS pixels.
func (s *Service) ColumnChart(versionID, column string, w, h int) ([]byte, error) {
	p, err := s.Profile(versionID)
	if err != nil {
		return nil, err
	}
	for _, c := range p.Columns {
		if c.Name != column {
			continue
		}
		o := chart.Options{Width: w, Height: h}
		if c.Numeric != nil && c.Type != Boolean && len(c.Numeric.Histogram.Counts) > 0 {
			o.YLabel = "rows"
			if c.Type == Datetime {
				o.XLabel = "Unix time (s)"
			}
			return chart.Histogram(c.Numeric.Histogram.Edges, c.Numeric.Histogram.Counts, o)
		}
		var labels []string
		var vals []float64
		if c.Categories != nil {
			for i, t := range c.Categories.Top {
				if i == 10 {
					break
				}
				labels = append(labels, t.Value)
				vals = append(vals, float64(t.Count))
			}
		}
		o.XLabel = "rows"
		return chart.Bar(labels, vals, o)
	}
	return nil, core.Errorf(core.NotFound, "This version has no column named %q.", column)
}
