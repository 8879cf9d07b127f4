package app

import (
	"context"

	"github.com/tern-studio/tern/backend/monitor"
)

// Monitoring is the Monitoring screen's face of the monitor service:
// monitors and their alert rules, drift reports (as data, HTML and chart
// SVG) and alerts. Alerts also arrive as "monitor.alert" events.
type Monitoring struct {
	life lifetime
	svc  *monitor.Service
}

// NewMonitoring binds the monitor service; calls live within ctx.
func NewMonitoring(ctx context.Context, svc *monitor.Service) *Monitoring {
	return &Monitoring{life: lifetime{ctx}, svc: svc}
}

// Monitors lists monitors, newest first.
func (m *Monitoring) Monitors() ([]monitor.Monitor, error) { return m.svc.Monitors() }

// CreateMonitor stores a monitor; a deployment monitor freezes its
// reference profile from the chosen dataset version now.
func (m *Monitoring) CreateMonitor(mon monitor.Monitor) (monitor.Monitor, error) {
	ctx, done := m.life.call()
	defer done()
	return m.svc.CreateMonitor(ctx, mon)
}

// DeleteMonitor removes a monitor (its reports and alerts stay).
func (m *Monitoring) DeleteMonitor(id string) (bool, error) {
	if err := m.svc.DeleteMonitor(id); err != nil {
		return false, err
	}
	return true, nil
}

// SetRules replaces a monitor's alert rules.
func (m *Monitoring) SetRules(id string, rules []monitor.Rule) (monitor.Monitor, error) {
	return m.svc.SetRules(id, rules)
}

// Run evaluates a monitor on its current window now.
func (m *Monitoring) Run(id string) (*monitor.Report, error) {
	ctx, done := m.life.call()
	defer done()
	return m.svc.RunMonitor(ctx, id)
}

// CompareFiles compares a current CSV file with a reference CSV file
// (both on this machine) and stores the report.
func (m *Monitoring) CompareFiles(refPath, curPath string) (*monitor.Report, error) {
	ctx, done := m.life.call()
	defer done()
	return m.svc.CompareFiles(ctx, refPath, curPath)
}

// Reports lists report summaries, newest first (limit 0 = all).
func (m *Monitoring) Reports(limit int) ([]monitor.ReportSummary, error) { return m.svc.Reports(limit) }

// Report returns a stored report with every column's verdict.
func (m *Monitoring) Report(id string) (*monitor.Report, error) { return m.svc.Report(id) }

// ReportHTML returns the report as one self-contained HTML document.
func (m *Monitoring) ReportHTML(id string) (string, error) {
	r, err := m.svc.Report(id)
	if err != nil {
		return "", err
	}
	b, err := monitor.HTML(r)
	return string(b), err
}

// Chart returns one column's reference-vs-current overlay as SVG.
func (m *Monitoring) Chart(reportID, column string) (string, error) {
	b, err := m.svc.ChartSVG(reportID, column)
	return string(b), err
}

// Alerts lists alerts, newest first (limit 0 = all).
func (m *Monitoring) Alerts(limit int) ([]monitor.Alert, error) { return m.svc.Alerts(limit) }

// LabelsFromFile reads a label file on this machine (CSV or JSON lines
// with request_id and label) for a deployment monitor; task ("" auto,
// classification, regression) and window ("" auto, or a duration such as
// 1h) tune the realised metrics. Browser mode uploads the same file to
// POST /api/monitor/monitors/{id}/labels instead.
func (m *Monitoring) LabelsFromFile(monitorID, path, task, window string) (*monitor.LabelResult, error) {
	opt, err := monitor.NewLabelOptions(task, window)
	if err != nil {
		return nil, err
	}
	ctx, done := m.life.call()
	defer done()
	return m.svc.IngestLabelsFile(ctx, monitorID, path, opt)
}

// Performance returns a monitor's stored realised performance.
func (m *Monitoring) Performance(monitorID string) (*monitor.Performance, error) {
	return m.svc.Performance(monitorID)
}

// PerformanceChart returns a realised metric over time as SVG ("" for the
// headline metric: accuracy or RMSE).
func (m *Monitoring) PerformanceChart(monitorID, metric string) (string, error) {
	b, err := m.svc.PerformanceChart(monitorID, metric)
	return string(b), err
}

// TrafficDataset writes a deployment monitor's labelled traffic — the
// logged inputs joined with the labels that arrived, in the time range
// given (zero times: all) — as the next version of a dataset (by default
// the one the model was trained on), with lineage back to the deployment
// and the label files. Progress and Cancel go by opt.ImportID as for any
// import (Datasets.Cancel).
func (m *Monitoring) TrafficDataset(monitorID string, opt monitor.TrafficOptions) (*monitor.TrafficResult, error) {
	ctx, done := m.life.call()
	defer done()
	return m.svc.TrafficDataset(ctx, monitorID, opt)
}
