package httpapi

import (
	"context"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/monitor"
)

// Monitoring is what the monitor routes need of the monitor service.
type Monitoring interface {
	Report(id string) (*monitor.Report, error)
	ChartSVG(reportID, column string) ([]byte, error)
	IngestLabels(ctx context.Context, monitorID string, data []byte, opt monitor.LabelOptions) (*monitor.LabelResult, error)
	PerformanceChart(monitorID, metric string) ([]byte, error)
}

// monitorRoutes serve reports as files: GET /api/monitor/reports/{id}.html
// and {id}.pdf (the link an alert's webhook carries), a column's overlay
// chart as SVG, label uploads and the realised-performance chart.
func monitorRoutes(m Monitoring) []Route {
	h := monitorHandlers{m}
	return []Route{
		{Pattern: "GET /api/monitor/reports/{file}", Handler: http.HandlerFunc(h.report)},
		{Pattern: "GET /api/monitor/reports/{id}/charts/{column}", Handler: http.HandlerFunc(h.chart)},
		// A label file as the raw body (CSV or JSON lines); ?task= and
		// ?window= (a Go duration such as 1h) tune the metrics, ?name=
		// is the file's name (kept in lineage).
		{Pattern: "POST /api/monitor/monitors/{id}/labels", Handler: http.HandlerFunc(h.labels), RawBody: true, MaxBytes: monitor.MaxLabelBytes},
		{Pattern: "GET /api/monitor/monitors/{id}/performance.svg", Handler: http.HandlerFunc(h.performanceChart)},
	}
}

type monitorHandlers struct{ svc Monitoring }

func (h monitorHandlers) labels(w http.ResponseWriter, r *http.Request) {
	opt, err := monitor.NewLabelOptions(r.URL.Query().Get("task"), r.URL.Query().Get("window"))
	if err != nil {
		WriteError(w, err)
		return
	}
	opt.Source = path.Base(r.URL.Query().Get("name")) // the uploaded file's name, for lineage
	if opt.Source == "." || opt.Source == "/" {
		opt.Source = ""
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, monitor.MaxLabelBytes+1))
	if err != nil {
		WriteError(w, core.Errorf(core.Invalid, "The label file could not be read."))
		return
	}
	res, err := h.svc.IngestLabels(r.Context(), r.PathValue("id"), data, opt)
	if err != nil {
		WriteError(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

func (h monitorHandlers) performanceChart(w http.ResponseWriter, r *http.Request) {
	svg, err := h.svc.PerformanceChart(r.PathValue("id"), r.URL.Query().Get("metric"))
	writeSVG(w, svg, err, "no-store")
}

func (h monitorHandlers) chart(w http.ResponseWriter, r *http.Request) {
	svg, err := h.svc.ChartSVG(r.PathValue("id"), r.PathValue("column"))
	writeSVG(w, svg, err, "private, max-age=3600")
}

// writeSVG answers a drawn chart, or err in the shared error body.
func writeSVG(w http.ResponseWriter, svg []byte, err error, cacheControl string) {
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", cacheControl)
	_, _ = w.Write(svg)
}

func (h monitorHandlers) report(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	id, ext, ok := strings.Cut(file, ".")
	if !ok || (ext != "html" && ext != "pdf") {
		http.Error(w, "ask for <id>.html or <id>.pdf", http.StatusNotFound)
		return
	}
	rep, err := h.svc.Report(id)
	if err != nil {
		WriteError(w, err)
		return
	}
	var body []byte
	ctype := "text/html; charset=utf-8"
	if ext == "pdf" {
		body, err = monitor.PDF(rep)
		ctype = "application/pdf"
	} else {
		body, err = monitor.HTML(rep)
	}
	if err != nil {
		WriteError(w, err)
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
