package monitor

import (
	"net/http"
	"strings"

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
	}
}

func httpStatus(err error) int {
	switch core.ErrorCode(err) {
	case core.NotFound:
		return http.StatusNotFound
	case core.Invalid:
		return http.StatusBadRequest
	case core.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
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
		http.Error(w, core.ErrorMessage(err), httpStatus(err))
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
		http.Error(w, core.ErrorMessage(err), httpStatus(err))
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
		http.Error(w, core.ErrorMessage(err), httpStatus(err))
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
