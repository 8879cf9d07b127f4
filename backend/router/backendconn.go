package router

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// connPool is the router's live path to one backend: plain HTTP/1.1 over
// kept-alive loopback connections, written and read by the goroutine that
// serves the caller. http.Transport hands every request to a per-connection
// write goroutine and gets the answer back from a read goroutine; on a
// busy two-core laptop each of those hand-offs is a chance to wait for the
// scheduler, which is what a router's p99 is made of. Shadow copies and
// health probes still use http.Transport (they are off the caller's path
// and need its context cancellation).
type connPool struct {
	addr    string // host:port
	host    string // Host header
	timeout time.Duration
	mu      sync.Mutex
	idle    []*backendConn
	closed  bool
}

// maxIdlePerBackend bounds kept connections; above it they are closed
// after use. It is far above the concurrency one laptop drives.
const maxIdlePerBackend = 256

type backendConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newConnPool(host string, timeout time.Duration) *connPool {
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, "80")
	}
	return &connPool{addr: addr, host: host, timeout: timeout}
}

func (p *connPool) get() (*backendConn, bool, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		bc := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return bc, true, nil
	}
	p.mu.Unlock()
	c, err := net.DialTimeout("tcp", p.addr, 2*time.Second)
	if err != nil {
		return nil, false, err
	}
	return &backendConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, false, nil
}

func (p *connPool) put(bc *backendConn) {
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdlePerBackend {
		p.idle = append(p.idle, bc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	bc.c.Close()
}

func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, bc := range idle {
		bc.c.Close()
	}
}

// do sends one request and reads the whole answer. A kept-alive
// connection the backend closed while idle fails on first use; that is
// retried once on a fresh connection (scoring is idempotent), a fresh
// connection's failure is returned. deadline bounds the exchange when it
// is shorter than the pool's timeout (0: the pool's).
func (p *connPool) do(method, uri string, h http.Header, body []byte, deadline time.Duration) (int, http.Header, []byte, error) {
	if deadline <= 0 || deadline > p.timeout {
		deadline = p.timeout
	}
	for {
		bc, reused, err := p.get()
		if err != nil {
			return 0, nil, nil, err
		}
		status, hdr, rb, keep, err := p.roundTrip(bc, method, uri, h, body, deadline)
		if err == nil {
			if keep {
				p.put(bc)
			} else {
				bc.c.Close()
			}
			return status, hdr, rb, nil
		}
		bc.c.Close()
		if !reused || errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil, nil, err
		}
	}
}

func (p *connPool) roundTrip(bc *backendConn, method, uri string, h http.Header, body []byte, deadline time.Duration) (status int, hdr http.Header, rb []byte, keep bool, err error) {
	// One deadline for the whole exchange: a wedged backend costs the
	// caller at most the router's timeout, then a retry elsewhere.
	if err = bc.c.SetDeadline(time.Now().Add(deadline)); err != nil {
		return
	}
	w := bc.bw
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(p.host)
	for _, k := range [...]string{"Content-Type", "Accept"} {
		if v := h[k]; len(v) > 0 && validHeaderValue(v[0]) {
			w.WriteString("\r\n")
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v[0])
		}
	}
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut {
		var num [20]byte
		w.WriteString("\r\nContent-Length: ")
		w.Write(strconv.AppendInt(num[:0], int64(len(body)), 10))
	}
	w.WriteString("\r\n\r\n")
	w.Write(body)
	if err = w.Flush(); err != nil {
		return
	}
	resp, err := http.ReadResponse(bc.br, nil)
	if err != nil {
		return
	}
	if n := resp.ContentLength; n >= 0 && n <= maxResponseBytes {
		rb = make([]byte, n)
		_, err = io.ReadFull(resp.Body, rb)
	} else {
		rb, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	}
	resp.Body.Close()
	if err != nil {
		return
	}
	// A HEAD answer or a 1xx/204/304 has no body to read; all others were
	// read to their end, so the connection is at the next response.
	keep = !resp.Close && (resp.ContentLength >= 0 || len(resp.TransferEncoding) > 0) && len(rb) < maxResponseBytes
	return resp.StatusCode, resp.Header, rb, keep, nil
}

// validHeaderValue refuses CR/LF so a caller cannot inject headers into
// the request to the backend.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
