package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/monitor"
)

type Greeter struct{ last string }

type greeting struct {
	Text string `json:"text"`
}

func (g *Greeter) Hello(name string, times int) (greeting, error) {
	if name == "" {
		return greeting{}, core.Errorf(core.Invalid, "Say who to greet.")
	}
	g.last = name
	return greeting{Text: strings.Repeat("hi "+name+" ", times)}, nil
}

func (g *Greeter) Forget() error { g.last = ""; return nil }

func (g *Greeter) Boom() (int, error) { return 0, os.ErrPermission }

const token = "0123456789abcdef0123456789abcdef"

// nothingHere stands in for the dataset and monitor services: everything
// is not found.
type nothingHere struct{}

var errNothing = core.Errorf(core.NotFound, "Nothing here.")

func (nothingHere) ImportReader(context.Context, io.Reader, string, int64, dataset.Options) (dataset.Version, error) {
	return dataset.Version{}, errNothing
}
func (nothingHere) Report(string) (*monitor.Report, error)           { return nil, errNothing }
func (nothingHere) ChartSVG(string, string) ([]byte, error)          { return nil, errNothing }
func (nothingHere) PerformanceChart(string, string) ([]byte, error)  { return nil, errNothing }
func (nothingHere) HookRun(string, string) (string, int, int, error) { return "", 0, 0, errNothing }
func (nothingHere) IngestLabels(context.Context, string, []byte, monitor.LabelOptions) (*monitor.LabelResult, error) {
	return nil, errNothing
}

func newTestServer(t *testing.T) (*Server, *Greeter, *core.Bus) {
	t.Helper()
	g := &Greeter{}
	bus := core.NewBus()
	upload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		json.NewEncoder(w).Encode(n)
	})
	s, err := New(Config{
		Token:    token,
		Bindings: []any{g},
		Bus:      bus,
		UI:       fstest.MapFS{"index.html": {Data: []byte("<html>Tern shell</html>")}, "assets/app.js": {Data: []byte("x")}},
		// The real upload and monitor routes join the table, so the sweep
		// covers them too; their services are stand-ins.
		Datasets:  nothingHere{},
		Monitor:   nothingHere{},
		Pipelines: nothingHere{},
		Routes: []Route{
			{Pattern: "PUT /api/upload/{name...}", Handler: upload, RawBody: true, MaxBytes: 1024},
			{Pattern: "GET /api/items/{id}", Handler: upload},
		},
	})
	require.NoError(t, err)
	return s, g, bus
}

// concrete turns a route pattern into a request path that matches it.
func concrete(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = regexp.MustCompile(`\{[^}]+\.\.\.\}`).ReplaceAllString(path, "a/b.txt")
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x1")
	return method, path
}

func do(s *Server, method, path string, hdr map[string]string, body string) *httptest.ResponseRecorder {
	// A deadline ends the event stream, which otherwise never finishes.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	req.Host = "127.0.0.1:7733"
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func assertNoCORS(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	for k := range rec.Header() {
		assert.False(t, strings.HasPrefix(strings.ToLower(k), "access-control-"), "%s sent CORS header %s", what, k)
	}
}

func TestSweepEveryRoute(t *testing.T) {
	s, _, _ := newTestServer(t)
	routes := s.Routes()
	require.Greater(t, len(routes), 8)
	public := 0
	for _, rt := range routes {
		method, path := concrete(rt.Pattern)
		name := rt.Pattern
		json := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}

		for _, host := range []string{"evil.example", "127.0.0.1.evil.example:7733", "localhost.evil:80", "10.0.0.5:7733", ""} {
			rec := do(s, method, path, map[string]string{"Host": host, "Authorization": "Bearer " + token}, "")
			assert.Equal(t, http.StatusForbidden, rec.Code, "%s with Host %q", name, host)
			assertNoCORS(t, rec, name)
		}
		if rt.Public {
			public++
			continue
		}
		for label, hdr := range map[string]map[string]string{
			"no token":     {},
			"wrong bearer": {"Authorization": "Bearer " + strings.Repeat("f", 64)},
			"token prefix": {"Authorization": "Bearer " + token[:16]},
			"basic scheme": {"Authorization": "Basic " + token},
			"wrong cookie": {"Cookie": sessionCookie + "=nope"},
		} {
			rec := do(s, method, path, hdr, "[]")
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s with %s", name, label)
			assertNoCORS(t, rec, name)
		}
		rec := do(s, method, path+"?token="+token, map[string]string{"Content-Type": "application/json"}, "[]")
		assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s with token in query", name)

		if isWrite(method) {
			for _, origin := range []string{"http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:7733"} {
				hdr := map[string]string{"Origin": origin}
				for k, v := range json {
					hdr[k] = v
				}
				rec := do(s, method, path, hdr, "[]")
				assert.Equal(t, http.StatusForbidden, rec.Code, "%s from Origin %s", name, origin)
			}
			hdr := map[string]string{"Sec-Fetch-Site": "cross-site"}
			for k, v := range json {
				hdr[k] = v
			}
			assert.Equal(t, http.StatusForbidden, do(s, method, path, hdr, "[]").Code, "%s cross-site", name)
			if !rt.RawBody {
				for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
					rec := do(s, method, path, map[string]string{"Authorization": "Bearer " + token, "Content-Type": ct}, "[]")
					assert.Equal(t, http.StatusUnsupportedMediaType, rec.Code, "%s with Content-Type %q", name, ct)
				}
			}
		}
		rec = do(s, method, path, json, "[]")
		assert.NotContains(t, []int{401, 403, 415}, rec.Code, "%s with a good token", name)
		assertNoCORS(t, rec, name)
	}
	assert.Equal(t, 2, public, "only the health check and the session exchange are public")
}

func TestCallBoundMethods(t *testing.T) {
	s, g, _ := newTestServer(t)
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json", "Origin": "http://127.0.0.1:7733"}

	rec := do(s, "POST", "/api/call/Greeter.Hello", auth, `["ada", 2]`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"text":"hi ada hi ada "}`, rec.Body.String())
	assert.Equal(t, "ada", g.last)

	rec = do(s, "POST", "/api/call/Greeter.Hello", auth, `["", 1]`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.JSONEq(t, `{"code":"invalid","message":"Say who to greet."}`, rec.Body.String())

	for body, want := range map[string]string{
		`["ada"]`:     "takes 2 argument(s), got 1",
		`{"a":1}`:     "JSON array",
		`["ada","x"]`: "Argument 2",
		`not json`:    "JSON array",
	} {
		rec = do(s, "POST", "/api/call/Greeter.Hello", auth, body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, body)
		assert.Contains(t, rec.Body.String(), want, body)
	}

	rec = do(s, "POST", "/api/call/Greeter.Forget", auth, ``)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "", g.last)

	rec = do(s, "POST", "/api/call/Greeter.Boom", auth, `[]`)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "permission", "unworded errors stay in the log")

	rec = do(s, "POST", "/api/call/Greeter.Hello", auth, `["`+strings.Repeat("a", DefaultMaxBytes)+`",1]`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func TestUncleanPathsRefusedNotRedirected(t *testing.T) {
	s, _, _ := newTestServer(t)
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"}
	for _, p := range []string{
		"/api/upload/../../etc/passwd", "/api/upload/a/../../b", "/api/upload//a", "/api/upload/./a",
		"/api/upload/%2e%2e/a", "/api/upload/a/%2E%2E/%2E%2E/b", "/api/upload/a%2f..%2f..%2fb",
	} {
		rec := do(s, "PUT", p, auth, "x")
		assert.Equal(t, http.StatusBadRequest, rec.Code, p)
		assert.Empty(t, rec.Header().Get("Location"), p)
	}
	assert.Equal(t, http.StatusOK, do(s, "PUT", "/api/upload/a/b.csv", auth, "x").Code)
	assert.True(t, cleanPath("/"))
	assert.True(t, cleanPath("/api/items/"))
	assert.False(t, cleanPath("/api//items"))
}

func TestRawRouteSizeCap(t *testing.T) {
	s, _, _ := newTestServer(t)
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"}
	assert.Equal(t, http.StatusOK, do(s, "PUT", "/api/upload/a.csv", auth, strings.Repeat("x", 1000)).Code)
	assert.Equal(t, http.StatusRequestEntityTooLarge, do(s, "PUT", "/api/upload/a.csv", auth, strings.Repeat("x", 2000)).Code)
}

func TestBrowserSessionFlow(t *testing.T) {
	s, _, _ := newTestServer(t)
	// Without a token, a browser gets the bootstrap page, as a 401.
	rec := do(s, "GET", "/", map[string]string{"Accept": "text/html"}, "")
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Body.String(), "/api/session")
	assert.NotContains(t, rec.Body.String(), token)
	assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "sha256-")

	rec = do(s, "POST", "/api/session", map[string]string{"Content-Type": "application/json"}, `{"token":"nope"}`)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)

	rec = do(s, "POST", "/api/session", map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:7733"}, `{"token":"`+token+`"}`)
	require.Equal(t, http.StatusNoContent, rec.Code)
	c := rec.Result().Cookies()
	require.Len(t, c, 1)
	assert.True(t, c[0].HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c[0].SameSite)

	rec = do(s, "GET", "/", map[string]string{"Cookie": sessionCookie + "=" + c[0].Value}, "")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), "Tern shell")
	// Client-side routes fall back to the shell.
	rec = do(s, "GET", "/experiments/42", map[string]string{"Cookie": sessionCookie + "=" + c[0].Value}, "")
	assert.Contains(t, rec.Body.String(), "Tern shell")

	assert.Equal(t, http.StatusOK, do(s, "GET", "/healthz", nil, "").Code)
}

func TestEventsStream(t *testing.T) {
	s, _, bus := newTestServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	go func() {
		for i := 0; i < 50; i++ { // until the subscription is in place
			bus.Publish("job.progress", map[string]int{"done": 3})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	buf := make([]byte, 4096)
	var got bytes.Buffer
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(got.String(), "job.progress") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	assert.Contains(t, got.String(), `data: {"topic":"job.progress","data":{"done":3}}`)
}

func TestBadBindingsRejected(t *testing.T) {
	_, err := New(Config{Token: token, Bindings: []any{Greeter{}}})
	assert.Error(t, err)
	_, err = New(Config{Token: "short"})
	assert.Error(t, err)
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateToken(dir, false)
	require.NoError(t, err)
	b, err := LoadOrCreateToken(dir, false)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	st, err := os.Stat(filepath.Join(dir, TokenFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	c, err := LoadOrCreateToken(dir, true)
	require.NoError(t, err)
	assert.NotEqual(t, a, c)
	assert.Len(t, c, 64)
}
