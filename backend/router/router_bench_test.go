package router

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/tern-studio/tern/backend/predlog"
	"github.com/tern-studio/tern/backend/store"
)

// These benchmarks measure what the router itself costs per request, with
// the backend answered in memory, so ns/op and allocs/op do not depend on
// the loopback TCP stack or on what else the machine is doing (the
// end-to-end figures are in bench/serving; the prediction log's writer
// has its own benchmark in backend/predlog). Compare runs with benchstat:
//
//	go test ./backend/router -run '^$' -bench RouterServeHTTP -benchmem -count 8 > new.txt
//	benchstat old.txt new.txt

var (
	benchReq  = []byte(`{"dataframe_split":{"columns":["f0","f1","f2","f3","f4","f5","f6","f7","f8","f9"],"data":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0]]}}`)
	benchResp = []byte(`{"predictions": [0.4172839820384979]}`)
)

// memTransport answers every request with benchResp, as a serving
// container would, without a socket.
type memTransport struct{}

func (memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(benchResp)),
		ContentLength: int64(len(benchResp)),
		Request:       req,
	}, nil
}

// benchWriter is a ResponseWriter reused across iterations.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func benchServe(b *testing.B, opt Options, traffic Traffic) {
	opt.HealthInterval = -1
	opt.transport = memTransport{}
	r, err := New("bench", []Backend{{"v1", "http://127.0.0.1:1"}, {"v2", "http://127.0.0.1:2"}}, traffic, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	u, _ := url.Parse("http://127.0.0.1:9/invocations")
	rd := bytes.NewReader(benchReq)
	req := &http.Request{
		Method: http.MethodPost, URL: u, Host: "127.0.0.1:9", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Accept": {"*/*"}, "User-Agent": {"bench"}},
		Body:          io.NopCloser(rd),
		ContentLength: int64(len(benchReq)),
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchReq)))
	for b.Loop() {
		rd.Reset(benchReq)
		clear(w.h)
		w.status, w.n = 0, 0
		r.ServeHTTP(w, req)
		if w.status != 200 || w.n != len(benchResp) {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}

func BenchmarkRouterServeHTTP(b *testing.B) {
	one := Traffic{Split: []Split{{"v1", 100}}}
	b.Run("plain", func(b *testing.B) { benchServe(b, Options{}, one) })
	b.Run("canary", func(b *testing.B) {
		benchServe(b, Options{}, Traffic{Split: []Split{{"v1", 90}, {"v2", 10}}})
	})
	b.Run("logged", func(b *testing.B) {
		st := store.MustOpen(b)
		log := predlog.New(st, predlog.Options{Capacity: 1 << 20})
		defer log.Close()
		benchServe(b, Options{Log: log}, one)
	})
}
