package monitor

import (
	"slices"
	"strings"

	"github.com/tern-studio/tern/backend/core"
)

// PerformanceChart draws a realised metric of a monitor over time (the
// headline metric when metric is "").
func (s *Service) PerformanceChart(monitorID, metric string) ([]byte, error) {
	p, err := s.Performance(monitorID)
	if err != nil {
		return nil, err
	}
	if metric == "" {
		metric = HeadlineMetric(p)
	}
	if !slices.Contains(Metrics, metric) {
		return nil, core.Errorf(core.Invalid, "Unknown metric %q (use %s).", metric, strings.Join(Metrics, ", "))
	}
	return PerformanceSVG(p, metric, 480, 220)
}

// ChartSVG renders one column's overlay of a stored report.
func (s *Service) ChartSVG(reportID, column string) ([]byte, error) {
	rep, err := s.Report(reportID)
	if err != nil {
		return nil, err
	}
	for _, v := range rep.Drift.Columns {
		if v.Column == column {
			return OverlaySVG(v, 480, 220)
		}
	}
	return nil, core.Errorf(core.NotFound, "Report %s has no column %q.", reportID, column)
}
