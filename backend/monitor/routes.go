package monitor

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpapi"
)

// Routes serve reports as files: GET /api/monitor/reports/{id}.html and
// {id}.pdf (the link an alert's webhook carries), and a column's overlay
// chart as SVG. Behind the server's usual Host/token checks.
func (s *Service) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /api/monitor/reports/{file}", Handler: http.HandlerFunc(s.serveReport)},
		{Pattern: "GET /api/monitor/reports/{id}/charts/{column}", Handler: http.HandlerFunc(s.serveChart)},
		// A label file as the raw body (CSV or JSON lines); ?task= and
		// ?window= (a Go duration such as 1h) tune the metrics.
		{Pattern: "POST /api/monitor/monitors/{id}/labels", Handler: http.HandlerFunc(s.serveLabels), RawBody: true, MaxBytes: maxLabelBytes},
		{Pattern: "GET /api/monitor/monitors/{id}/performance.svg", Handler: http.HandlerFunc(s.servePerformanceChart)},
	}
}

func (s *Service) serveLabels(w http.ResponseWriter, r *http.Request) {
	var opt LabelOptions
	opt.Task = r.URL.Query().Get("task")
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			httpapi.WriteError(w, core.Errorf(core.Invalid, "The window %q is not a duration such as 15m or 1h.", v))
			return
		}
		opt.Window = d
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxLabelBytes+1))
	if err != nil {
		httpapi.WriteError(w, core.Errorf(core.Invalid, "The label file could not be read."))
		return
	}
	res, err := s.IngestLabels(r.Context(), r.PathValue("id"), data, opt)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
}

func (s *Service) servePerformanceChart(w http.ResponseWriter, r *http.Request) {
	svg, err := s.PerformanceChart(r.PathValue("id"), r.URL.Query().Get("metric"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(svg)
}

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

func (s *Service) serveReport(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	id, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "html" && ext != "pdf") {
		http.Error(w, "ask for <id>.html or <id>.pdf", http.StatusNotFound)
		return
	}
	rep, err := s.Report(id)
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	var body []byte
	ctype := "text/html; charset=utf-8"
	if ext == "pdf" {
		body, err = PDF(rep)
		ctype = "application/pdf"
	} else {
		body, err = HTML(rep)
	}
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="drift-report-`+id+`.`+ext+`"`)
	if ext == "html" && r.URL.Query().Get("view") == "1" {
		w.Header().Set("Content-Disposition", "inline")
	}
	// The report's inline script sorts its table; nothing else may run.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(body)
}

func (s *Service) serveChart(w http.ResponseWriter, r *http.Request) {
	svg, err := s.ChartSVG(r.PathValue("id"), r.PathValue("column"))
	if err != nil {
		httpapi.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(svg)
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
