package httpapi

import (
	"net/http"
	"strings"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
)

// MLflow's clients read every error under its paths as
// {"error_code": "...", "message": "..."}; anything else (an HTML page,
// Tern's {"code"} body) surfaces as an unreadable failure. So refusals
// there are worded in that shape, and a path no route serves is MLflow's
// 404 ENDPOINT_NOT_FOUND rather than the UI page (GET) or a bare 405.

var mlflowPrefixes = []string{"/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/ajax-api/"}

func mlflowPath(p string) bool {
	for _, pre := range mlflowPrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// mlflowCodes names the gate's refusals in MLflow's error codes.
var mlflowCodes = map[string]string{
	"unauthenticated":        "UNAUTHENTICATED",
	"forbidden":              "PERMISSION_DENIED",
	"unsupported_media_type": "BAD_REQUEST",
	string(core.Invalid):     "INVALID_PARAMETER_VALUE",
}

// refuse writes a refusal in the shape the path's clients read.
func refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if mlflowPath(r.URL.Path) {
		c, ok := mlflowCodes[code]
		if !ok {
			c = "BAD_REQUEST"
		}
		httpjson.WriteMLflowError(w, status, c, msg)
		return
	}
	writeError(w, status, code, msg)
}

// mlflowFallbacks answer what no MLflow route serves, one pattern per
// method so they outrank the UI's "GET /" without conflicting with it.
func (s *Server) mlflowFallbacks() []Route {
	var out []Route
	for _, pre := range mlflowPrefixes {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			// RawBody: the answer is the same whatever is sent
			out = append(out, Route{Pattern: m + " " + pre, Handler: http.HandlerFunc(s.mlflowNotFound), RawBody: true, MaxBytes: 1 << 20})
		}
	}
	return out
}

func isFallback(pattern string) bool {
	if pattern == "GET /" {
		return true
	}
	_, p, _ := strings.Cut(pattern, " ")
	for _, pre := range mlflowPrefixes {
		if p == pre {
			return true
		}
	}
	return false
}

// mlflowNotFound is 404 ENDPOINT_NOT_FOUND, or 405 naming the methods
// when the path is served under another method.
func (s *Server) mlflowNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method || (m == http.MethodGet && r.Method == http.MethodHead) {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && !isFallback(pattern) {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		httpjson.WriteMLflowError(w, http.StatusMethodNotAllowed, "BAD_REQUEST", r.URL.Path+" takes "+strings.Join(allow, " or ")+", not "+r.Method+".")
		return
	}
	httpjson.WriteMLflowError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "No API endpoint "+r.Method+" "+r.URL.Path+" in Tern's MLflow API.")
}
