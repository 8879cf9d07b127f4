package serving

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/store"
)

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123":                true,
		"with space ok":          true,
		strings.Repeat("x", 128): true,
		"":                       false,
		strings.Repeat("x", 129): false,
		"tab\there":              false,
		"nul\x00":                false,
		"caf\xc3\xa9":            false,
		"del\x7f":                false,
	} {
		assert.Equal(t, want, ValidRequestID(id), "%q", id)
	}
}

// Every answer carries a request ID (the caller's when sane, else a new
// one), the log keeps it, and the key-only index finds the live record.
func TestRouterRequestIDLoggedAndIndexed(t *testing.T) {
	st := store.MustOpen(t)
	log := NewPredictionLog(st, LogOptions{})
	a, shadow := newFake(t, "1"), newFake(t, "2")
	r, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a, "v2": shadow}, Traffic{Split: []Split{{"v1", 100}}, Shadow: "v2"}, RouterOptions{Log: log})

	send := func(id string) string {
		req, _ := http.NewRequest("POST", ts.URL+"/invocations", strings.NewReader(`{"instances":[[1]]}`))
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set(RequestIDHeader, id)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		return resp.Header.Get(RequestIDHeader)
	}
	assert.Equal(t, "caller-7", send("caller-7"))
	made := send("")
	assert.Len(t, made, 26)
	bad := send(strings.Repeat("y", 200))
	assert.Len(t, bad, 26, "an over-long ID is replaced")
	assert.NotEqual(t, made, bad)
	r.Close() // waits for shadow copies
	log.Close()

	got, err := LookupRequests(st, "dep1", []string{"caller-7", made, bad, "nope", ""})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for _, id := range []string{"caller-7", made, bad} {
		assert.Equal(t, id, got[id].RequestID)
		assert.False(t, got[id].Shadow, "the index points at the live answer")
		assert.Equal(t, "v1", got[id].Backend)
		assert.JSONEq(t, `{"instances":[[1]]}`, string(got[id].Request))
	}
	other, err := LookupRequests(st, "dep2", []string{"caller-7"})
	require.NoError(t, err)
	assert.Empty(t, other, "IDs are per deployment")
}

func TestRecordRequestIDRoundTripAndTruncation(t *testing.T) {
	r := Record{Deployment: "d", Backend: "v1", Path: "/p", Status: 200, RequestID: "rid-1", Request: []byte("a")}
	var got Record
	require.NoError(t, decodeRecord(encodeRecord(r), &got))
	assert.Equal(t, r, got)
	v := encodeRecord(r)
	for i := 0; i < len(v); i++ {
		assert.Error(t, decodeRecord(v[:i], &Record{}), "prefix of %d bytes", i)
	}
}

// Direct serving echoes a sane caller ID and makes none of its own.
func TestServerEchoesRequestID(t *testing.T) {
	for id, want := range map[string]string{"trace-42": "trace-42", "": "", "bad\x01id": ""} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/ping", nil)
		if id != "" {
			req.Header[RequestIDHeader] = []string{id}
		}
		(&Server{mux: http.NewServeMux()}).ServeHTTP(w, req)
		assert.Equal(t, want, w.Header().Get(RequestIDHeader), "%q", id)
	}
}
