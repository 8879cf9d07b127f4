package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/httpjson"
	"github.com/tern-studio/tern/backend/predlog"
)

// Backend is one serving endpoint behind a router, normally a model
// version's container on 127.0.0.1.
type Backend struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// Split gives a backend a share of live traffic, in percent.
type Split struct {
	Backend string  `json:"backend"`
	Weight  float64 `json:"weight"`
}

// Traffic is how a router spreads requests. Weights are percentages that
// must each be finite and non-negative and together sum to 100 (within
// 0.01); anything else is rejected, not normalised, so a typo never sends
// traffic somewhere the user did not mean.
type Traffic struct {
	Split []Split `json:"split"`
	// Shadow, when set, gets a copy of every request; its answer is
	// compared with the live one and discarded.
	Shadow string `json:"shadow,omitempty"`
	// Fallback, when set, guards the other backends: a request one of
	// them fails (a 5xx answer, no answer, or no answer within
	// FallbackAfterMs) is sent again to Fallback, and the caller gets
	// Fallback's answer. A ramp names the champion here so a bad candidate
	// never costs a client request; the failure is still counted against
	// the candidate (Observation.Failed).
	Fallback string `json:"fallback,omitempty"`
	// FallbackAfterMs bounds how long a guarded backend may take before
	// its request goes to Fallback instead; 0 means the router's timeout.
	FallbackAfterMs int `json:"fallbackAfterMs,omitempty"`
}

// Validate checks weights and that every named backend is known.
func (t Traffic) Validate(known func(string) bool) error {
	if len(t.Split) == 0 {
		return core.Errorf(core.Invalid, "The traffic split names no backend.")
	}
	sum := 0.0
	seen := map[string]bool{}
	for _, s := range t.Split {
		if math.IsNaN(s.Weight) || math.IsInf(s.Weight, 0) {
			return core.Errorf(core.Invalid, "The weight of %q is not a number.", s.Backend)
		}
		if s.Weight < 0 {
			return core.Errorf(core.Invalid, "The weight of %q is negative (%g%%); weights are percentages from 0 to 100.", s.Backend, s.Weight)
		}
		if seen[s.Backend] {
			return core.Errorf(core.Invalid, "Backend %q appears twice in the traffic split.", s.Backend)
		}
		seen[s.Backend] = true
		if known != nil && !known(s.Backend) {
			return core.Errorf(core.Invalid, "Backend %q is not part of this deployment.", s.Backend)
		}
		sum += s.Weight
	}
	if math.Abs(sum-100) > 0.01 {
		return core.Errorf(core.Invalid, "Traffic weights sum to %g%%; they must sum to 100%%.", sum)
	}
	if t.Shadow != "" && known != nil && !known(t.Shadow) {
		return core.Errorf(core.Invalid, "Shadow backend %q is not part of this deployment.", t.Shadow)
	}
	if t.Fallback != "" && known != nil && !known(t.Fallback) {
		return core.Errorf(core.Invalid, "Fallback backend %q is not part of this deployment.", t.Fallback)
	}
	if t.FallbackAfterMs < 0 {
		return core.Errorf(core.Invalid, "The fallback deadline is negative (%d ms).", t.FallbackAfterMs)
	}
	return nil
}

// Observation is one attempt at one backend, live or shadow, as the
// router saw it; Options.Observe receives each (a ramp's watch counts
// them per stage).
type Observation struct {
	Backend string
	// Status is the backend's HTTP status; 0 when it did not answer.
	Status  int
	Latency time.Duration
	// Failed is a 5xx, no answer, or no answer within the fallback
	// deadline.
	Failed bool
	Shadow bool
}

// Options tune a router; zero values take defaults.
type Options struct {
	// StickyHeader names the request header whose value pins a caller to
	// one backend (same value, same backend, while weights are unchanged).
	// Default "X-Tern-Sticky".
	StickyHeader string
	// HealthInterval is how often backends are probed on /ping; 0 means
	// 500 ms, negative disables probing (tests drive MarkHealthy).
	HealthInterval time.Duration
	// MaxBodyBytes caps a request body; 0 means 32 MiB (413 above).
	MaxBodyBytes int64
	// Timeout bounds one proxied request; 0 means 30 s.
	Timeout time.Duration
	// ShadowConcurrency bounds shadow requests in flight; copies beyond it
	// are dropped and counted so a slow shadow cannot pile up goroutines.
	ShadowConcurrency int
	// Log receives every request and response; nil logs nothing.
	Log Recorder
	// Observe, when set, is called for every attempt at a backend (live
	// and shadow) on the request's goroutine; it must be quick.
	Observe func(Observation)
	// LogBodyBytes caps the bytes of each body kept in the log; 0 means 64 KiB.
	LogBodyBytes int
	// Clock stamps logged records and places requests in the per-second
	// throughput window; nil means the wall clock. Latencies are measured
	// on Go's monotonic clock whatever this is: they time real I/O.
	Clock core.Clock

	// transport replaces the HTTP transport to backends; benchmarks use an
	// in-memory one so they measure the router, not the loopback stack.
	transport http.RoundTripper
}

// Recorder keeps the exchanges a router sees; predlog.Log is the real
// one, writing them to Badger off the request path.
type Recorder interface {
	// Enqueue takes a record without blocking; false means it was dropped.
	Enqueue(predlog.Record) bool
	// Counts is records written and records dropped since start.
	Counts() (written, dropped uint64)
}

type backendState struct {
	Backend
	// url is Backend.URL parsed once; forward copies it per request.
	url *url.URL
	// idHeader is the X-Tern-Backend value, shared by every response
	// (header values are never modified once written).
	idHeader []string
	// pool carries live requests (nil: through transport, e.g. https or
	// a test transport).
	pool     *connPool
	healthy  atomic.Bool
	failures atomic.Int32
	stats    *latencyStats
}

type routeTable struct {
	traffic Traffic
	// cum holds cumulative weights of the split, for picking.
	cum []float64
}

// Router is a deployment's stable endpoint. It spreads requests over
// backends by weight, mirrors them to a shadow, keeps unhealthy backends
// out of rotation and logs every exchange asynchronously.
type Router struct {
	name string
	opt  Options

	mu       sync.Mutex // guards backends map writes and history
	backends atomic.Pointer[map[string]*backendState]
	table    atomic.Pointer[routeTable]
	history  []Traffic

	// transport is used directly, not through an http.Client: the client's
	// per-request timeout costs a timer, a context and header copies on
	// every request. The transport's ResponseHeaderTimeout bounds a hung
	// backend instead, and the caller's context bounds the body.
	transport http.RoundTripper
	shadowCh  chan struct{}
	shadow    shadowStats
	stop      context.CancelFunc
	done      chan struct{}
	// base is cancelled by Close; in-flight shadow copies end with it and
	// Close waits for them, so none logs after the log is closed.
	base    context.Context
	mirrors sync.WaitGroup
}

type shadowStats struct {
	sent, agree, disagree, failed, dropped atomic.Uint64
}

// New builds a router named after its deployment.
func New(name string, backends []Backend, traffic Traffic, opt Options) (*Router, error) {
	if opt.StickyHeader == "" {
		opt.StickyHeader = "X-Tern-Sticky"
	}
	if opt.HealthInterval == 0 {
		opt.HealthInterval = 500 * time.Millisecond
	}
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = 32 << 20
	}
	if opt.Timeout == 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.ShadowConcurrency == 0 {
		opt.ShadowConcurrency = 64
	}
	if opt.LogBodyBytes == 0 {
		opt.LogBodyBytes = 64 << 10
	}
	opt.Clock = core.OrSystem(opt.Clock)
	tr := &http.Transport{
		Proxy:               nil, // backends are on loopback; never via a proxy
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// Time to the first response byte; the router answers 503 (or
		// retries elsewhere) rather than hang on a wedged backend.
		ResponseHeaderTimeout: opt.Timeout,
	}
	var rt http.RoundTripper = tr
	if opt.transport != nil {
		rt = opt.transport
	}
	r := &Router{
		name:      name,
		opt:       opt,
		transport: rt,
		shadowCh:  make(chan struct{}, opt.ShadowConcurrency),
		done:      make(chan struct{}),
	}
	m := map[string]*backendState{}
	r.backends.Store(&m)
	for _, b := range backends {
		r.AddBackend(b)
	}
	if err := r.SetTraffic(traffic); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.base = ctx
	if opt.HealthInterval > 0 {
		go r.healthLoop(ctx)
	} else {
		close(r.done)
	}
	return r, nil
}

// Close stops health probing and idle connections.
func (r *Router) Close() {
	r.stop()
	<-r.done
	r.mirrors.Wait()
	for _, b := range *r.backends.Load() {
		if b.pool != nil {
			b.pool.close()
		}
	}
	if c, ok := r.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// AddBackend adds (or replaces) a backend; it starts healthy so a backend
// checked before it was added takes traffic at once.
func (r *Router) AddBackend(b Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.backends.Load()
	m := make(map[string]*backendState, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	st := &backendState{Backend: b, stats: newLatencyStats(r.opt.Clock), idHeader: []string{b.ID}}
	if u, err := url.Parse(b.URL); err == nil {
		st.url = u
	} else {
		st.url = &url.URL{Scheme: "http", Host: "invalid.invalid"} // forward fails, the backend leaves rotation
	}
	if st.url.Scheme == "http" && st.url.Host != "" && r.opt.transport == nil {
		st.pool = newConnPool(st.url.Host, r.opt.Timeout)
	}
	if old := m[b.ID]; old != nil && old.pool != nil {
		old.pool.close()
	}
	st.healthy.Store(true)
	m[b.ID] = st
	r.backends.Store(&m)
}

// RemoveBackend drops a backend that no traffic split uses.
func (r *Router) RemoveBackend(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.table.Load().traffic
	for _, s := range t.Split {
		if s.Backend == id && s.Weight > 0 {
			return core.Errorf(core.Conflict, "Backend %q still takes %g%% of traffic; move its traffic first.", id, s.Weight)
		}
	}
	if t.Shadow == id {
		return core.Errorf(core.Conflict, "Backend %q is the shadow; clear the shadow first.", id)
	}
	old := *r.backends.Load()
	m := make(map[string]*backendState, len(old))
	for k, v := range old {
		if k != id {
			m[k] = v
		}
	}
	r.backends.Store(&m)
	if b := old[id]; b != nil && b.pool != nil {
		b.pool.close()
	}
	return nil
}

func (r *Router) known(id string) bool { _, ok := (*r.backends.Load())[id]; return ok }

// SetTraffic replaces the split atomically: the very next request uses it.
// The previous split is kept for Rollback.
func (r *Router) SetTraffic(t Traffic) error {
	if err := t.Validate(r.known); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.table.Load(); cur != nil {
		r.history = append(r.history, cur.traffic)
		if len(r.history) > 32 {
			r.history = r.history[1:]
		}
	}
	r.table.Store(buildTable(t))
	return nil
}

func buildTable(t Traffic) *routeTable {
	t.Split = append([]Split(nil), t.Split...)
	rt := &routeTable{traffic: t, cum: make([]float64, len(t.Split))}
	sum := 0.0
	for i, s := range t.Split {
		sum += s.Weight
		rt.cum[i] = sum
	}
	return rt
}

// Rollback restores the split in force before the last change; the next
// request already uses it.
func (r *Router) Rollback() (Traffic, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.history) == 0 {
		return Traffic{}, core.Errorf(core.Conflict, "There is no earlier traffic split to roll back to.")
	}
	prev := r.history[len(r.history)-1]
	r.history = r.history[:len(r.history)-1]
	r.table.Store(buildTable(prev))
	return prev, nil
}

// Traffic is the split in force.
func (r *Router) Traffic() Traffic { return r.table.Load().traffic }

// MarkHealthy sets a backend's health by hand (tests, and the deployment
// service when a container exits).
func (r *Router) MarkHealthy(id string, ok bool) {
	if b := (*r.backends.Load())[id]; b != nil {
		b.healthy.Store(ok)
		if ok {
			b.failures.Store(0)
		}
	}
}

// pick chooses a backend for a request. Unhealthy backends are skipped and
// their share goes to the healthy ones in proportion, so a failing canary
// leaves its traffic on stable. exclude is a backend that just failed.
func (r *Router) pick(req *http.Request, exclude string) *backendState {
	rt := r.table.Load()
	bs := *r.backends.Load()
	var u float64
	if key := req.Header.Get(r.opt.StickyHeader); key != "" {
		u = float64(fnv64a(key)>>11) / (1 << 53)
	} else {
		u = rand.Float64()
	}
	total := 0.0
	for _, s := range rt.traffic.Split {
		if b := bs[s.Backend]; b != nil && b.healthy.Load() && s.Backend != exclude {
			total += s.Weight
		}
	}
	if total == 0 {
		return nil
	}
	target := u * total
	acc := 0.0
	var last *backendState
	for _, s := range rt.traffic.Split {
		b := bs[s.Backend]
		if b == nil || !b.healthy.Load() || s.Backend == exclude || s.Weight == 0 {
			continue
		}
		acc += s.Weight
		last = b
		if target < acc {
			return b
		}
	}
	return last
}

// fnv64a is FNV-1a inline: hash/fnv's hasher escapes to the heap on every
// request. Same values as hash/fnv, so sticky assignments are unchanged.
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Header names the router sets on responses so callers and tests can see
// which version answered.
const BackendHeader = "X-Tern-Backend"

// requestID is the caller's X-Request-Id when it is 1–128 printable ASCII
// characters (no allocation: the header's own string is kept), else a
// new ID. A bad one is replaced, not refused: scoring must not fail over
// a tracing header.
func requestID(req *http.Request) string {
	if v := req.Header[core.RequestIDHeader]; len(v) > 0 && core.ValidRequestID(v[0]) {
		return v[0]
	}
	return core.NewID()
}

// loopbackHost reports whether a Host header names this machine: the
// router listens on 127.0.0.1 only, so any other name means DNS rebinding
// (a web page that made its own host name resolve to 127.0.0.1).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "127.0.0.1" || strings.EqualFold(host, "localhost") {
		return true
	}
	// netip, unlike net.ParseIP, does not allocate.
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	if !loopbackHost(req.Host) {
		httpjson.WriteMLflowError(w, 403, "PERMISSION_DENIED", "This endpoint answers only requests addressed to 127.0.0.1 or localhost.")
		return
	}
	if req.ContentLength > r.opt.MaxBodyBytes {
		httpjson.WriteMLflowError(w, 413, "BAD_REQUEST", fmt.Sprintf("The body is %d bytes; the limit is %d.", req.ContentLength, r.opt.MaxBodyBytes))
		return
	}
	var body []byte
	if req.Body != nil && req.ContentLength > 0 {
		// The length is known and within the limit: one exact allocation,
		// owned by this request from here on, so the log and the shadow
		// can keep it without a copy.
		body = make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, body); err != nil {
			httpjson.WriteMLflowError(w, 400, "BAD_REQUEST", "The body could not be read.")
			return
		}
	} else if req.Body != nil && req.ContentLength < 0 {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, req.Body, r.opt.MaxBodyBytes))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				httpjson.WriteMLflowError(w, 413, "BAD_REQUEST", fmt.Sprintf("The body is larger than the limit of %d bytes.", r.opt.MaxBodyBytes))
				return
			}
			httpjson.WriteMLflowError(w, 400, "BAD_REQUEST", "The body could not be read.")
			return
		}
	}
	rid := requestID(req)
	// Set before any answer, so a 503 carries it too.
	w.Header()[core.RequestIDHeader] = []string{rid}
	rt := r.table.Load()
	b := r.pick(req, "")
	var status int
	var respBody []byte
	var hdr http.Header
	var err error
	for attempt := 0; b != nil && attempt < 2; attempt++ {
		// A guarded backend (any but the fallback, when one is named)
		// gets a deadline of its own, and its 5xx answers are not final.
		guarded := rt.traffic.Fallback != "" && b.ID != rt.traffic.Fallback
		var deadline time.Duration
		if guarded && rt.traffic.FallbackAfterMs > 0 {
			deadline = time.Duration(rt.traffic.FallbackAfterMs) * time.Millisecond
		}
		bStart := time.Now()
		if b.pool != nil && req.Method != http.MethodHead {
			status, hdr, respBody, err = b.pool.do(req.Method, requestURI(req), req.Header, body, deadline)
		} else {
			ctx := req.Context()
			if deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, deadline)
				status, hdr, respBody, err = r.forward(ctx, b, req, body)
				cancel()
			} else {
				status, hdr, respBody, err = r.forward(ctx, b, req, body)
			}
		}
		took := time.Since(bStart)
		if err == nil && (!guarded || status < 500) {
			b.stats.add(took, status >= 500)
			r.observe(b.ID, status, took, status >= 500, false)
			break
		}
		b.stats.add(took, true)
		r.observe(b.ID, status, took, true, false)
		if req.Context().Err() != nil {
			return
		}
		if err != nil && !(deadline > 0 && isTimeout(err)) {
			// The backend did not answer (crashed, restarting, stopped
			// during a rollback): take it out of rotation now and give
			// the request to another one, so the caller never sees the
			// failure. Scoring is idempotent, so the retry is safe. A
			// guarded backend that is only slow stays in rotation: the
			// ramp's watch judges slowness, not one request.
			r.fail(b)
		}
		if guarded {
			if fb := (*r.backends.Load())[rt.traffic.Fallback]; fb != nil && fb.healthy.Load() {
				b = fb
				continue
			}
		}
		b = r.pick(req, b.ID)
	}
	if b == nil || err != nil {
		httpjson.WriteMLflowError(w, 503, "TEMPORARILY_UNAVAILABLE", "No healthy backend can take this request right now.")
		r.logExchange(req, rid, "", body, 503, nil, time.Since(start), false, nil)
		return
	}
	// Header values are assigned, not Set, to reuse the backend's slices.
	wh := w.Header()
	if ct := hdr["Content-Type"]; len(ct) > 0 {
		wh["Content-Type"] = ct
	}
	wh[BackendHeader] = b.idHeader
	w.WriteHeader(status)
	w.Write(respBody)
	elapsed := time.Since(start)
	r.logExchange(req, rid, b.ID, body, status, respBody, elapsed, false, nil)
	if sh := r.table.Load().traffic.Shadow; sh != "" && req.Method == http.MethodPost {
		r.mirror(req, rid, sh, body, status, respBody)
	}
}

// requestURI is the path and query to send on: the request line as
// received when it is a plain path (no allocation), else rebuilt.
func requestURI(req *http.Request) string {
	if u := req.RequestURI; len(u) > 0 && u[0] == '/' && validHeaderValue(u) && !strings.ContainsAny(u, " \t") {
		return u
	}
	return req.URL.RequestURI()
}

// byteBody is a request body over bytes the router owns; one allocation
// instead of bytes.NewReader plus io.NopCloser.
type byteBody struct{ bytes.Reader }

func (*byteBody) Close() error { return nil }

func newByteBody(b []byte) *byteBody {
	bb := &byteBody{}
	bb.Reset(b)
	return bb
}

// maxResponseBytes bounds what the router buffers from a backend.
const maxResponseBytes = 256 << 20

func (r *Router) forward(ctx context.Context, b *backendState, req *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *b.url
	u.Path, u.RawPath, u.RawQuery = req.URL.Path, req.URL.RawPath, req.URL.RawQuery
	// Only the headers a scoring server reads are passed on; the values'
	// slices are shared, not copied (the transport only reads them).
	h := make(http.Header, 2)
	if v := req.Header["Content-Type"]; len(v) > 0 {
		h["Content-Type"] = v
	}
	if v := req.Header["Accept"]; len(v) > 0 {
		h["Accept"] = v
	}
	tmpl := http.Request{
		Method: req.Method, URL: &u, Host: u.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		ContentLength: int64(len(body)),
	}
	if len(body) > 0 {
		tmpl.Body = newByteBody(body)
		// GetBody lets the transport resend on a keep-alive connection
		// the backend closed just as the request went out.
		tmpl.GetBody = func() (io.ReadCloser, error) { return newByteBody(body), nil }
	}
	resp, err := r.transport.RoundTrip(tmpl.WithContext(ctx))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	var rb []byte
	if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
		// Exact size: one allocation. The final read also sees EOF, so
		// the connection goes back to the idle pool.
		rb = make([]byte, n)
		_, err = io.ReadFull(resp.Body, rb)
	} else {
		rb, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	}
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, rb, nil
}

func (r *Router) observe(id string, status int, d time.Duration, failed, shadow bool) {
	if r.opt.Observe != nil {
		r.opt.Observe(Observation{Backend: id, Status: status, Latency: d, Failed: failed, Shadow: shadow})
	}
}

// isTimeout tells a deadline that ran out from a refused or reset
// connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func (r *Router) fail(b *backendState) {
	b.failures.Add(1)
	b.healthy.Store(false)
}

// mirror sends a copy to the shadow after the caller has its answer, so
// the shadow's speed and failures never touch the caller.
func (r *Router) mirror(req *http.Request, rid, id string, body []byte, liveStatus int, liveBody []byte) {
	b := (*r.backends.Load())[id]
	if b == nil || !b.healthy.Load() {
		r.shadow.dropped.Add(1)
		return
	}
	select {
	case r.shadowCh <- struct{}{}:
	default:
		r.shadow.dropped.Add(1)
		return
	}
	// The caller's request is finished by the time this runs, so the copy
	// carries only what forward needs.
	clone := &http.Request{Method: req.Method, URL: req.URL, Header: req.Header.Clone()}
	r.shadow.sent.Add(1)
	r.mirrors.Add(1)
	go func() {
		defer r.mirrors.Done()
		defer func() { <-r.shadowCh }()
		ctx, cancel := context.WithTimeout(r.base, r.opt.Timeout)
		defer cancel()
		start := time.Now()
		status, _, rb, err := r.forward(ctx, b, clone, body)
		b.stats.add(time.Since(start), err != nil || status >= 500)
		if r.base.Err() == nil {
			r.observe(id, status, time.Since(start), err != nil || status >= 500, true)
		}
		if err != nil {
			if r.base.Err() != nil {
				return // the router is closing: not the shadow's failure
			}
			r.shadow.failed.Add(1)
			r.fail(b)
			r.logExchange(clone, rid, id, body, 0, nil, time.Since(start), true, nil)
			return
		}
		agree := status == liveStatus && SamePredictions(liveBody, rb)
		if agree {
			r.shadow.agree.Add(1)
		} else {
			r.shadow.disagree.Add(1)
		}
		r.logExchange(clone, rid, id, body, status, rb, time.Since(start), true, &agree)
	}()
}

// SamePredictions compares two scoring responses: equal bytes, or the same
// JSON with numbers equal to 1e-9 relative, so a shadow built by another
// library that prints floats differently still agrees.
func SamePredictions(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return sameJSON(va, vb)
}

func sameJSON(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)))
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return false
		}
		// Only the answer matters: a V2 response's model_version differs
		// between live and shadow by design.
		for k, v := range x {
			if k == "model_version" || k == "model_name" || k == "id" {
				continue
			}
			if !sameJSON(v, y[k]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func (r *Router) logExchange(req *http.Request, rid, backend string, body []byte, status int, resp []byte, d time.Duration, shadow bool, agree *bool) {
	if r.opt.Log == nil {
		return
	}
	rec := predlog.Record{
		Deployment: r.name, Backend: backend, Time: r.opt.Clock.Now().UnixNano(), LatencyMicros: d.Microseconds(),
		Status: status, Path: req.URL.Path, RequestID: rid, Shadow: shadow, Agree: agree,
		Request: clipBody(body, r.opt.LogBodyBytes), Response: clipBody(resp, r.opt.LogBodyBytes),
	}
	r.opt.Log.Enqueue(rec)
}

// clipBody keeps a body for the log. Bodies are allocated per request and
// never written after, so a small one is kept as is; a large one is
// copied down to the cap so the queue does not pin megabytes.
func clipBody(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte(nil), b[:n]...)
	}
	return b
}

func (r *Router) healthLoop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opt.HealthInterval)
	defer t.Stop()
	probe := &http.Client{Transport: r.transport, Timeout: r.opt.HealthInterval}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, b := range *r.backends.Load() {
			ok := false
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.URL+"/ping", nil)
			if resp, err := probe.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ok = resp.StatusCode == 200
			}
			if ok {
				b.failures.Store(0)
				b.healthy.Store(true)
			} else if b.failures.Add(1) >= 2 {
				// Two misses in a row: one lost probe on a busy laptop
				// must not flap a backend out of rotation.
				b.healthy.Store(false)
			}
		}
	}
}

// BackendStats is what the UI shows per backend.
type BackendStats struct {
	ID       string  `json:"id"`
	URL      string  `json:"url"`
	Healthy  bool    `json:"healthy"`
	Weight   float64 `json:"weight"`
	Shadow   bool    `json:"shadow"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	P50Ms    float64 `json:"p50Ms"`
	P95Ms    float64 `json:"p95Ms"`
	P99Ms    float64 `json:"p99Ms"`
	// RPS is requests per second over the last ten seconds.
	RPS float64 `json:"rps"`
}

// Stats is a snapshot of a router.
type Stats struct {
	Traffic  Traffic        `json:"traffic"`
	Backends []BackendStats `json:"backends"`
	Shadow   struct {
		Sent     uint64 `json:"sent"`
		Agree    uint64 `json:"agree"`
		Disagree uint64 `json:"disagree"`
		Failed   uint64 `json:"failed"`
		Dropped  uint64 `json:"dropped"`
	} `json:"shadow"`
	LogDropped uint64 `json:"logDropped"`
	LogWritten uint64 `json:"logWritten"`
}

// Stats snapshots counters and latency percentiles.
func (r *Router) Stats() Stats {
	var s Stats
	t := r.Traffic()
	s.Traffic = t
	weights := map[string]float64{}
	for _, sp := range t.Split {
		weights[sp.Backend] = sp.Weight
	}
	for _, b := range *r.backends.Load() {
		bs := BackendStats{ID: b.ID, URL: b.URL, Healthy: b.healthy.Load(), Weight: weights[b.ID], Shadow: t.Shadow == b.ID}
		bs.Requests, bs.Errors, bs.P50Ms, bs.P95Ms, bs.P99Ms, bs.RPS = b.stats.snapshot()
		s.Backends = append(s.Backends, bs)
	}
	sort.Slice(s.Backends, func(i, j int) bool { return s.Backends[i].ID < s.Backends[j].ID })
	s.Shadow.Sent = r.shadow.sent.Load()
	s.Shadow.Agree = r.shadow.agree.Load()
	s.Shadow.Disagree = r.shadow.disagree.Load()
	s.Shadow.Failed = r.shadow.failed.Load()
	s.Shadow.Dropped = r.shadow.dropped.Load()
	if r.opt.Log != nil {
		s.LogWritten, s.LogDropped = r.opt.Log.Counts()
	}
	return s
}

// latencyStats keeps the last 4096 latencies for percentiles and a
// per-second request count for throughput.
type latencyStats struct {
	clock    core.Clock
	mu       sync.Mutex
	ring     [4096]float64
	n        int
	requests uint64
	errors   uint64
	secs     [10]struct {
		sec   int64
		count uint64
	}
}

func newLatencyStats(c core.Clock) *latencyStats { return &latencyStats{clock: c} }

func (l *latencyStats) add(d time.Duration, failed bool) {
	now := l.clock.Now().Unix()
	l.mu.Lock()
	l.ring[l.n%len(l.ring)] = float64(d.Microseconds()) / 1000
	l.n++
	l.requests++
	if failed {
		l.errors++
	}
	slot := &l.secs[now%int64(len(l.secs))]
	if slot.sec != now {
		slot.sec, slot.count = now, 0
	}
	slot.count++
	l.mu.Unlock()
}

func (l *latencyStats) snapshot() (req, errs uint64, p50, p95, p99, rps float64) {
	now := l.clock.Now().Unix()
	l.mu.Lock()
	n := min(l.n, len(l.ring))
	vals := append([]float64(nil), l.ring[:n]...)
	req, errs = l.requests, l.errors
	var total uint64
	for _, s := range l.secs {
		if s.sec > now-int64(len(l.secs)) && s.sec <= now {
			total += s.count
		}
	}
	l.mu.Unlock()
	rps = float64(total) / float64(len(l.secs))
	if n == 0 {
		return
	}
	sort.Float64s(vals)
	q := func(p float64) float64 { return vals[min(n-1, int(p*float64(n)))] }
	return req, errs, q(0.50), q(0.95), q(0.99), rps
}

// Name is the deployment the router fronts.
func (r *Router) Name() string { return r.name }

// String is for logs.
func (r *Router) String() string { return "router " + strconv.Quote(r.name) }
