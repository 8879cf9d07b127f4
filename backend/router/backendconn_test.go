package router

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The router's own HTTP/1.1 client against the answers a backend can give.
func TestRouterConnPoolAnswers(t *testing.T) {
	big := strings.Repeat("7,", 20000) + "7"
	var gotCT, gotInjected, gotURI string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		gotCT, gotInjected, gotURI = r.Header.Get("Content-Type"), r.Header.Get("X-Injected"), r.RequestURI
		switch r.URL.Path {
		case "/big": // no Content-Length: chunked
			w.Header().Set("Content-Type", "application/json")
			for _, part := range []string{`{"predictions":[`, big, `]}`} {
				io.WriteString(w, part)
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write(body)
		case "/slow":
			time.Sleep(400 * time.Millisecond)
		case "/empty":
			w.WriteHeader(204)
		default:
			w.Write(body)
		}
	}))
	defer backend.Close()
	r, err := New("d", []Backend{{"v1", backend.URL}}, Traffic{Split: []Split{{"v1", 100}}}, Options{HealthInterval: -1, Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer r.Close()
	front := httptest.NewServer(r)
	defer front.Close()

	call := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", front.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("/echo?x=1&y=%20", `{"a":1}`)
	assert.Equal(t, 200, code)
	assert.Equal(t, `{"a":1}`, body)
	assert.Equal(t, "application/json", gotCT)
	assert.Equal(t, "/echo?x=1&y=%20", gotURI)

	code, body = call("/big", "{}")
	assert.Equal(t, 200, code)
	assert.Equal(t, `{"predictions":[`+big+`]}`, body)

	for range 3 { // the backend closes each connection; the next request dials again
		code, body = call("/close", "x")
		assert.Equal(t, 200, code)
		assert.Equal(t, "x", body)
	}
	code, _ = call("/empty", "")
	assert.Equal(t, 204, code)

	// Idle connections the backend dropped are retried on a fresh one.
	backend.CloseClientConnections()
	code, body = call("/echo", "after")
	assert.Equal(t, 200, code)
	assert.Equal(t, "after", body)

	// A header value carrying CR/LF is not passed on.
	req, _ := http.NewRequest("POST", front.URL+"/echo", strings.NewReader("{}"))
	req.Header["Accept"] = []string{"a\r\nX-Injected: 1"}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	assert.Empty(t, gotInjected)

	// A backend slower than the timeout: 503, not a hang.
	start := time.Now()
	code, _ = call("/slow", "{}")
	assert.Equal(t, 503, code)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// The router must keep connections to a backend alive: a new TCP
// connection per request would cost more than everything else it does.
func TestRouterReusesBackendConnections(t *testing.T) {
	var conns atomic.Int64
	a := &fakeBackend{pred: "1", code: 200}
	// ConnState is set before the server starts, so it is not raced.
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"predictions":[1]}`)
	}))
	a.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	a.Start()
	t.Cleanup(a.Close)
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a}, Traffic{Split: []Split{{"v1", 100}}}, Options{})
	for range 50 {
		code, backend, body := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
		assert.Equal(t, "v1", backend)
		assert.JSONEq(t, `{"predictions":[1]}`, body)
	}
	assert.LessOrEqual(t, conns.Load(), int64(2))
}
