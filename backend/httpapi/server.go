package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/tern-studio/tern/backend/audit"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
)

// DefaultMaxBytes caps request bodies of routes that set no limit.
const DefaultMaxBytes = 32 << 20

const sessionCookie = "tern_session"

// Config is what the server needs; main.go fills it.
type Config struct {
	// Token is the secret every non-public route requires.
	Token string
	// Bindings are the same pointers the Wails window binds.
	Bindings []any
	Bus      *core.Bus
	// UI is the built frontend (index.html at its root); nil serves none.
	UI fs.FS
	// Datasets takes browser uploads at UploadPath; nil serves no upload.
	Datasets Importer
	// UploadLimit caps one upload; 0 means DefaultUploadLimit.
	UploadLimit int64
	// Monitor serves drift reports, charts and label uploads; nil serves
	// none of them.
	Monitor Monitoring
	// Pipelines serves the pipeline webhook route; nil serves none.
	Pipelines PipelineHooks
	// Routes are routes of other HTTP faces served beside these (the
	// MLflow-compatible API).
	Routes []Route
	// ExtraHosts are Host names accepted besides loopback ones, for a
	// user who deliberately binds another address.
	ExtraHosts []string
	Logger     *slog.Logger
}

// Server is the HTTP face; it implements http.Handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	routes []Route
}

// New builds the route table: bound methods, events, session, health,
// uploads, monitor files, cfg.Routes and the UI.
func New(cfg Config) (*Server, error) {
	if len(cfg.Token) < 16 {
		return nil, errors.New("httpapi: token too short")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	calls, err := bindCalls(cfg.Bindings)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s.routes = append(s.routes, Route{Pattern: "POST /api/call/" + name, Handler: calls[name]})
	}
	s.routes = append(s.routes,
		Route{Pattern: "GET /healthz", Handler: http.HandlerFunc(healthz), Public: true},
		// The session route checks the token itself, from the body, so a
		// browser can trade the URL fragment for an HttpOnly cookie.
		Route{Pattern: "POST /api/session", Handler: http.HandlerFunc(s.session), Public: true, MaxBytes: 4 << 10},
		Route{Pattern: "GET /api/events", Handler: http.HandlerFunc(s.events), MaxBytes: 0},
		Route{Pattern: "GET /api/routes", Handler: http.HandlerFunc(s.listRoutes)},
	)
	if cfg.Datasets != nil {
		s.routes = append(s.routes, datasetRoutes(cfg.Datasets, cfg.UploadLimit)...)
	}
	if cfg.Monitor != nil {
		s.routes = append(s.routes, monitorRoutes(cfg.Monitor)...)
	}
	if cfg.Pipelines != nil {
		s.routes = append(s.routes, pipelineRoutes(cfg.Pipelines)...)
	}
	s.routes = append(s.routes, cfg.Routes...)
	s.routes = append(s.routes, s.mlflowFallbacks()...)
	if cfg.UI != nil {
		s.routes = append(s.routes, Route{Pattern: "GET /", Handler: uiHandler(cfg.UI)})
	}
	for _, r := range s.routes {
		if err := s.register(r); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) register(r Route) (err error) {
	defer func() {
		if p := recover(); p != nil { // ServeMux panics on conflicting patterns
			err = fmt.Errorf("httpapi: route %q: %v", r.Pattern, p)
		}
	}()
	s.mux.Handle(r.Pattern, s.gate(r))
	return nil
}

// Routes is the whole table, for tests that sweep it.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// ServeHTTP checks the Host before anything else, so even a 404 is never
// served to a rebound name.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		refuse(w, r, http.StatusForbidden, "forbidden", "This Tern only answers to localhost.")
		return
	}
	// ServeMux would answer a path with "..", "." or "//" segments with a
	// redirect that keeps a PUT's method and body, pointing an upload at
	// somewhere else; such paths are refused outright instead.
	if !cleanPath(r.URL.Path) {
		refuse(w, r, http.StatusBadRequest, string(core.Invalid), "The request path has empty, '.' or '..' segments.")
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || (strings.HasSuffix(p, "/") && c+"/" == p)
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	for _, h := range s.cfg.ExtraHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// gate wraps a route with the token, Origin, content-type and size checks.
func (s *Server) gate(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.Public && !s.authorized(r) {
			if r.Method == http.MethodGet && acceptsHTML(r) && !mlflowPath(r.URL.Path) {
				serveBootstrap(w)
				return
			}
			refuse(w, r, http.StatusUnauthorized, "unauthenticated", "This Tern needs its access token (printed by `tern serve`).")
			return
		}
		if isWrite(r.Method) {
			if !sameOrigin(r) {
				refuse(w, r, http.StatusForbidden, "forbidden", "Cross-origin requests are refused.")
				return
			}
			if !rt.RawBody && !isJSON(r.Header.Get("Content-Type")) {
				refuse(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the request body as application/json.")
				return
			}
		}
		limit := rt.MaxBytes
		if limit == 0 {
			limit = DefaultMaxBytes
		}
		if limit > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		defer audit.Bind(requestActor(r))() // what this request changes is recorded as its face's
		rt.Handler.ServeHTTP(w, r)
	})
}

// requestActor is the face of an authorized request: a browser holds the
// session cookie; a client that sends the token itself (the MLflow
// client, a script) is the MLflow face.
func requestActor(r *http.Request) audit.Actor {
	if r.Header.Get("Authorization") != "" {
		return audit.Actor{Face: audit.MLflow}
	}
	return audit.Actor{Face: audit.Browser}
}

func (s *Server) authorized(r *http.Request) bool {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
			return tokenEqual(tok, s.cfg.Token)
		}
		return false
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return tokenEqual(c.Value, s.cfg.Token)
	}
	return false
}

// tokenEqual compares in constant time; hashing first makes the time
// independent of the lengths too.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

func isWrite(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// sameOrigin accepts clients that send no Origin (scripts, the MLflow
// client) and browsers on this very origin; "null" and foreign origins,
// and browsers that say the request is cross-site, are refused.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return origin == scheme+r.Host
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !tokenEqual(body.Token, s.cfg.Token) {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "That access token is not this Tern's.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.cfg.Token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listRoutes(w http.ResponseWriter, _ *http.Request) {
	out := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r.Pattern)
	}
	httpjson.Write(w, http.StatusOK, out)
}

// events streams bus events as server-sent events until the client goes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Bus == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "No events in this mode.")
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	ch, stop := s.cfg.Bus.Subscribe(256)
	defer stop()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": tern events\n\n")
	_ = rc.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case ev, ok := <-ch:
			if !ok {
				return
			}
			b, err := json.Marshal(ev)
			if err != nil {
				s.log.Warn("event not serialisable", "topic", ev.Topic, "err", err)
				continue
			}
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// Serve answers on ln until ctx ends, then drains for up to 5 seconds.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Write(w, status, errorBody{Code: code, Message: msg})
}

// uiHandler serves the built frontend, falling back to index.html for
// client-side routes.
func uiHandler(ui fs.FS) http.Handler {
	files := http.FileServerFS(ui)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" {
			p = "index.html"
		}
		if _, err := fs.Stat(ui, p); err != nil {
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		w.Header().Set("Content-Security-Policy", uiCSP)
		files.ServeHTTP(w, r)
	})
}

const uiCSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// bootstrapScript trades the token in the URL fragment (never sent to the
// server, so never in a log) for the session cookie, then reloads.
const bootstrapScript = `(async () => {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  const msg = document.getElementById('msg');
  if (!m) { msg.textContent = 'Open the address that ` + "`tern serve`" + ` printed: it carries the access token.'; return; }
  const r = await fetch('/api/session', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({token: decodeURIComponent(m[1])})});
  if (r.ok) { history.replaceState(null, '', location.pathname); location.reload(); }
  else { msg.textContent = 'That access token is not this Tern\'s. Open the address ` + "`tern serve`" + ` printed last.'; }
})();`

var bootstrapCSP = func() string {
	sum := sha256.Sum256([]byte(bootstrapScript))
	return "default-src 'none'; connect-src 'self'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'unsafe-inline'; frame-ancestors 'none'"
}()

func serveBootstrap(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", bootstrapCSP)
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>Tern</title>
<style>body{font:15px system-ui,sans-serif;display:grid;place-items:center;height:100vh;margin:0;color:#333}@media(prefers-color-scheme:dark){body{background:#16181d;color:#ddd}}</style>
</head><body><p id="msg">Signing in to Tern…</p><script>%s</script></body></html>`, bootstrapScript)
}
