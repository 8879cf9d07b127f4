package serving

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordEncodingRoundTrip(t *testing.T) {
	yes, no := true, false
	for name, r := range map[string]Record{
		"live":     {Deployment: "dep1", Backend: "v1", Time: 1764150000123456789, LatencyMicros: 412, Status: 200, Path: "/invocations", Request: []byte(`{"instances":[[1]]}`), Response: []byte(`{"predictions":[1]}`)},
		"agree":    {Deployment: "d", Backend: "v2", Time: -5, Status: 200, Path: "/v2/models/m/infer", Shadow: true, Agree: &yes},
		"disagree": {Deployment: "d", Backend: "v2", Status: 0, Shadow: true, Agree: &no, Request: []byte{0, 255, 10}},
		"empty":    {},
	} {
		t.Run(name, func(t *testing.T) {
			var got Record
			require.NoError(t, decodeRecord(encodeRecord(r), &got))
			assert.Equal(t, r, got)
		})
	}
}

// Logs written before the binary encoding are JSON and must still read.
func TestRecordDecodesJSONLogs(t *testing.T) {
	r := Record{Deployment: "dep1", Backend: "v1", Time: 7, Status: 400, Path: "/invocations", Request: []byte(`{"x":1}`)}
	v, err := json.Marshal(r)
	require.NoError(t, err)
	var got Record
	require.NoError(t, decodeRecord(v, &got))
	assert.Equal(t, r, got)
}

func TestRecordRefusesTruncated(t *testing.T) {
	v := encodeRecord(Record{Deployment: "dep1", Backend: "v1", Path: "/p", Request: []byte("abc"), Response: []byte("def")})
	for i := 0; i < len(v); i++ {
		var got Record
		assert.Error(t, decodeRecord(v[:i], &got), "prefix of %d bytes", i)
	}
	assert.Error(t, decodeRecord(append(v, 0), &Record{}), "trailing byte")
	assert.Error(t, decodeRecord([]byte{9, 1, 2}, &Record{}), "unknown version")
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(Record{Deployment: "d", Backend: "v1", Path: "/invocations", Status: 200, Request: []byte("{}"), Response: []byte("[1]")}))
	f.Add([]byte(`{"deployment":"d"}`))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, v []byte) {
		var r Record
		if decodeRecord(v, &r) != nil || len(v) == 0 || v[0] != recordV1 {
			return
		}
		// Whatever decodes survives a round trip (varints need not be
		// minimal in the input, so bytes may differ, records may not).
		var again Record
		require.NoError(t, decodeRecord(encodeRecord(r), &again))
		assert.Equal(t, r, again)
	})
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
	_, ts := newTestRouter(t, map[string]*fakeBackend{"v1": a}, Traffic{Split: []Split{{"v1", 100}}}, RouterOptions{})
	for range 50 {
		code, backend, body := invoke(t, ts.URL, nil)
		require.Equal(t, 200, code)
		assert.Equal(t, "v1", backend)
		assert.JSONEq(t, `{"predictions":[1]}`, body)
	}
	assert.LessOrEqual(t, conns.Load(), int64(2))
}
