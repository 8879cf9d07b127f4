package predlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Key layout of the serving range (0x40–0x4f):
//
//	0x40 deployment id                                  -> Deployment (JSON), owned by backend/deployment
//	0x41 deployment id 0x00 I64(unix ns) U64(seq)       -> Record (binary, see encodeRecord; older logs JSON)
//	0x42 deployment id 0x00 request id 0x00 I64 U64     -> empty (key-only index of live records by request ID)
const (
	prefixPredLog   = store.PrefixServing + 1
	prefixRequestID = store.PrefixServing + 2
)

// Record is one logged exchange through a router.
type Record struct {
	Deployment    string `json:"deployment"`
	Backend       string `json:"backend"`
	Time          int64  `json:"time"` // unix nanoseconds
	LatencyMicros int64  `json:"latencyMicros"`
	Status        int    `json:"status"`
	Path          string `json:"path"`
	// RequestID is the caller's X-Request-Id (or one the router made);
	// labels that arrive later are joined to the record by it.
	RequestID string `json:"requestId,omitempty"`
	// Shadow marks a mirrored copy; Agree says whether its answer matched
	// the live one.
	Shadow   bool   `json:"shadow,omitempty"`
	Agree    *bool  `json:"agree,omitempty"`
	Request  []byte `json:"request,omitempty"`
	Response []byte `json:"response,omitempty"`
}

// Options tune a Log; zero values take defaults.
type Options struct {
	// Capacity is the queue length; when it is full new records are
	// dropped and counted, never blocking a caller. Default 65536.
	Capacity int
	// BatchSize and FlushEvery bound how long a record waits to be written.
	BatchSize  int
	FlushEvery time.Duration
}

// Log writes records to Badger off the request path: Enqueue
// never blocks, a single writer drains the queue in batches.
type Log struct {
	st      *store.Store
	opt     Options
	ch      chan Record
	seq     atomic.Uint64
	written atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
	done    chan struct{}
	// mu orders Enqueue's send against Close's close of ch: senders hold
	// it shared, Close exclusively, so a late record is dropped, never a
	// send on a closed channel.
	mu     sync.RWMutex
	closed bool
}

// New starts the writer.
func New(st *store.Store, opt Options) *Log {
	if opt.Capacity <= 0 {
		opt.Capacity = 1 << 16
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 2048
	}
	if opt.FlushEvery <= 0 {
		opt.FlushEvery = 50 * time.Millisecond
	}
	l := &Log{st: st, opt: opt, ch: make(chan Record, opt.Capacity), done: make(chan struct{})}
	go l.run()
	return l
}

// Enqueue hands a record to the writer; false means it was dropped.
func (l *Log) Enqueue(r Record) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return false
	}
	select {
	case l.ch <- r:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Counts is records written and records dropped (queue full or write
// failed) since start.
func (l *Log) Counts() (written, dropped uint64) {
	return l.written.Load(), l.dropped.Load() + l.failed.Load()
}

// Close drains what is queued and stops the writer.
func (l *Log) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
}

func (l *Log) run() {
	defer close(l.done)
	batch := make([]Record, 0, l.opt.BatchSize)
	t := time.NewTicker(l.opt.FlushEvery)
	defer t.Stop()
	for {
		select {
		case r, ok := <-l.ch:
			if !ok {
				l.flush(batch)
				return
			}
			batch = append(batch, r)
			if len(batch) >= l.opt.BatchSize {
				l.flush(batch)
				batch = batch[:0]
			}
		case <-t.C:
			if len(batch) > 0 {
				l.flush(batch)
				batch = batch[:0]
			}
		}
	}
}

func (l *Log) flush(batch []Record) {
	if len(batch) == 0 {
		return
	}
	wb := l.st.DB.NewWriteBatch()
	defer wb.Cancel()
	for _, r := range batch {
		v := encodeRecord(r)
		seq := l.seq.Add(1)
		if err := wb.Set(logKey(r.Deployment, r.Time, seq), v); err != nil {
			l.failed.Add(uint64(len(batch)))
			return
		}
		// Only live answers are indexed: a label is about what the caller
		// got, not what the shadow would have said.
		if r.RequestID != "" && !r.Shadow {
			if err := wb.Set(requestIDKey(r.Deployment, r.RequestID, r.Time, seq), nil); err != nil {
				l.failed.Add(uint64(len(batch)))
				return
			}
		}
	}
	if err := wb.Flush(); err != nil {
		l.failed.Add(uint64(len(batch)))
		return
	}
	l.written.Add(uint64(len(batch)))
}

// logPrefix is the start of every log key of a deployment.
func logPrefix(deployment string) []byte {
	return store.Key(prefixPredLog, []byte(deployment), []byte{0})
}

func logKey(deployment string, t int64, seq uint64) []byte {
	return store.Key(prefixPredLog, []byte(deployment), []byte{0}, store.I64(t), store.U64(seq))
}

// itemRecord decodes the record a log entry holds.
func itemRecord(item *badger.Item) (Record, error) {
	var r Record
	err := item.Value(func(v []byte) error { return decodeRecord(v, &r) })
	return r, err
}

func requestIDKey(deployment, id string, t int64, seq uint64) []byte {
	return store.Key(prefixRequestID, []byte(deployment), []byte{0}, []byte(id), []byte{0}, store.I64(t), store.U64(seq))
}

// LookupRequests finds the live records of a deployment by request ID
// through the key-only index (no scan of the log). The result has one
// entry per ID found; when a caller reused an ID, the latest record wins.
// IDs that are not in the log are simply absent.
func LookupRequests(st *store.Store, deployment string, ids []string) (map[string]Record, error) {
	out := make(map[string]Record, len(ids))
	err := st.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Reverse = true
		it := txn.NewIterator(opt)
		defer it.Close()
		for _, id := range ids {
			if id == "" || strings.IndexByte(id, 0) >= 0 {
				continue
			}
			prefix := store.Key(prefixRequestID, []byte(deployment), []byte{0}, []byte(id), []byte{0})
			it.Seek(store.PrefixEnd(prefix))
			if !it.ValidForPrefix(prefix) {
				continue
			}
			k := it.Item().Key()
			tail := k[len(prefix):]
			if len(tail) != 16 {
				continue
			}
			item, err := txn.Get(append(logPrefix(deployment), tail...))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if out[id], err = itemRecord(item); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The prediction log of %q could not be searched by request ID.", deployment)
	}
	return out, nil
}

// Recent returns up to limit records of a deployment, newest first.
func (l *Log) Recent(deployment string, limit int) ([]Record, error) {
	return Read(l.st, deployment, limit)
}

// Read reads a deployment's records newest first.
func Read(st *store.Store, deployment string, limit int) ([]Record, error) {
	if limit <= 0 {
		limit = 100
	}
	prefix := logPrefix(deployment)
	var out []Record
	err := st.DB.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Reverse = true
		opt.Prefix = prefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Seek(store.PrefixEnd(prefix)); it.ValidForPrefix(prefix) && len(out) < limit; it.Next() {
			r, err := itemRecord(it.Item())
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "The prediction log of %q could not be read.", deployment)
	}
	return out, nil
}

// Count counts a deployment's records (tests and the UI's totals).
func Count(st *store.Store, deployment string) (int, error) {
	prefix := logPrefix(deployment)
	n := 0
	err := st.DB.View(func(txn *badger.Txn) error {
		return store.EachKey(txn, prefix, func([]byte) error { n++; return nil })
	})
	return n, err
}

// recordV1 marks the binary record encoding. JSON records (the first
// format) start with '{', so both are read.
const recordV1 = 1

// encodeRecord writes a record compactly: JSON would base64 the request
// and response bodies and cost the writer several microseconds a record,
// on the same cores that serve. Layout: version byte, uvarint-prefixed
// deployment, backend and path, varint time, latency and status, a flag
// byte (1 shadow, 2 agree set, 4 agree, 8 request ID follows),
// uvarint-prefixed request and response bodies as received, then the
// uvarint-prefixed request ID when flag 8 is set (older records lack it).
func encodeRecord(r Record) []byte {
	n := 1 + 5*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 + 1 +
		len(r.Deployment) + len(r.Backend) + len(r.Path) + len(r.Request) + len(r.Response) +
		binary.MaxVarintLen64 + len(r.RequestID)
	b := make([]byte, 1, n)
	b[0] = recordV1
	for _, s := range []string{r.Deployment, r.Backend, r.Path} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, r.Time)
	b = binary.AppendVarint(b, r.LatencyMicros)
	b = binary.AppendVarint(b, int64(r.Status))
	var flags byte
	if r.Shadow {
		flags |= 1
	}
	if r.Agree != nil {
		flags |= 2
		if *r.Agree {
			flags |= 4
		}
	}
	if r.RequestID != "" {
		flags |= 8
	}
	b = append(b, flags)
	for _, p := range [][]byte{r.Request, r.Response} {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	if r.RequestID != "" {
		b = binary.AppendUvarint(b, uint64(len(r.RequestID)))
		b = append(b, r.RequestID...)
	}
	return b
}

var errBadRecord = errors.New("truncated or unknown prediction log record")

// decodeRecord reads either encoding; v is copied, since Badger reuses it.
func decodeRecord(v []byte, r *Record) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, r)
	}
	if len(v) == 0 || v[0] != recordV1 {
		return errBadRecord
	}
	p := v[1:]
	bytesField := func() ([]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return nil, false
		}
		out := p[k : k+int(n)]
		p = p[k+int(n):]
		return out, true
	}
	intField := func() (int64, bool) {
		x, k := binary.Varint(p)
		if k <= 0 {
			return 0, false
		}
		p = p[k:]
		return x, true
	}
	var strs [3]string
	for i := range strs {
		f, ok := bytesField()
		if !ok {
			return errBadRecord
		}
		strs[i] = string(f)
	}
	var ints [3]int64
	for i := range ints {
		x, ok := intField()
		if !ok {
			return errBadRecord
		}
		ints[i] = x
	}
	if len(p) == 0 {
		return errBadRecord
	}
	flags := p[0]
	p = p[1:]
	req, ok1 := bytesField()
	resp, ok2 := bytesField()
	var rid []byte
	ok3 := true
	if flags&8 != 0 {
		rid, ok3 = bytesField()
		ok3 = ok3 && len(rid) > 0
	}
	if !ok1 || !ok2 || !ok3 || len(p) != 0 {
		return errBadRecord
	}
	*r = Record{Deployment: strs[0], Backend: strs[1], Path: strs[2], Time: ints[0], LatencyMicros: ints[1], Status: int(ints[2]),
		Shadow: flags&1 != 0, RequestID: string(rid)}
	if flags&2 != 0 {
		agree := flags&4 != 0
		r.Agree = &agree
	}
	if len(req) > 0 {
		r.Request = append([]byte(nil), req...)
	}
	if len(resp) > 0 {
		r.Response = append([]byte(nil), resp...)
	}
	return nil
}
