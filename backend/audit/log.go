package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/store"
)

// Log seals pending records into the chain and reads the trail. There is
// one per store; main.go opens it before the services write.
type Log struct {
	db   *badger.DB
	mu   sync.Mutex // one sealer at a time: only it reads and writes the head
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// sealBatch bounds one sealing transaction well under Badger's limits.
const sealBatch = 1000

// sealEvery is how soon a pending record joins the chain when nobody reads.
const sealEvery = 100 * time.Millisecond

// Open seals what an earlier run left pending and starts the sealer.
func Open(st *store.Store) (*Log, error) {
	l := &Log{db: st.DB, stop: make(chan struct{}), done: make(chan struct{})}
	seen := appended.Load() // before sealing, so nothing appended meanwhile is missed
	if _, err := l.Seal(); err != nil {
		return nil, err
	}
	go l.loop(seen)
	return l, nil
}

func (l *Log) loop(seen uint64) {
	defer close(l.done)
	t := time.NewTicker(sealEvery)
	defer t.Stop()
	ticks := 0
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			// The counter is shared by every store in the process; a
			// change elsewhere costs this store one empty scan. A record
			// whose transaction was still open at that scan is caught by
			// the slow sweep (every 2 s), or by any read before then.
			ticks++
			if n := appended.Load(); n != seen || ticks%20 == 0 {
				seen = n
				_, _ = l.Seal() // a failure is retried on the next tick or read
			}
		}
	}
}

// Close stops the sealer and seals what is pending, before the store
// closes.
func (l *Log) Close() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		_, err = l.Seal()
	})
	return err
}

// Seal moves every pending record into the chain and says how many.
func (l *Log) Seal() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for {
		n, err := l.sealSome()
		total += n
		if err != nil || n < sealBatch {
			return total, err
		}
	}
}

func (l *Log) sealSome() (int, error) {
	n := 0
	err := l.db.Update(func(txn *badger.Txn) error {
		n = 0
		var h head
		if err := store.GetJSON(txn, headKey, &h); err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		opt := badger.DefaultIteratorOptions
		opt.Prefix = pendingPrefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid() && n < sealBatch; it.Next() {
			item := it.Item()
			var rec Record
			if err := item.Value(func(b []byte) error { return json.Unmarshal(b, &rec) }); err != nil {
				return fmt.Errorf("audit: pending record %x: %w", item.Key(), err)
			}
			rec.Seq, rec.Prev = h.Seq+1, h.Hash
			rec.Hash = hash(rec)
			if err := store.SetJSON(txn, sealedKey(rec.Seq), rec); err != nil {
				return err
			}
			if err := txn.Delete(item.KeyCopy(nil)); err != nil {
				return err
			}
			h = head{Seq: rec.Seq, Hash: rec.Hash}
			n++
		}
		if n == 0 {
			return nil
		}
		return store.SetJSON(txn, headKey, h)
	})
	return n, err
}

// Query filters the trail; zero fields match everything.
type Query struct {
	// Object matches a record touching an object whose kind, ID or name
	// contains it (case-insensitive).
	Object string `json:"object,omitempty"`
	// Action matches actions equal to it or starting with it and a dot
	// ("run" matches "run.delete").
	Action string    `json:"action,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	// Before pages: only records with a smaller sequence number.
	Before uint64 `json:"before,omitempty"`
	// Limit caps the answer (List only); 0 means 200.
	Limit int `json:"limit,omitempty"`
}

func (q Query) match(r Record) bool {
	if q.Before > 0 && r.Seq >= q.Before {
		return false
	}
	if q.Action != "" && r.Action != q.Action && !strings.HasPrefix(r.Action, q.Action+".") {
		return false
	}
	if !q.Since.IsZero() && r.When.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.When.Before(q.Until) {
		return false
	}
	if q.Object != "" {
		want := strings.ToLower(q.Object)
		hit := false
		for _, o := range r.Objects {
			if strings.Contains(strings.ToLower(o.Kind+"\x00"+o.ID+"\x00"+o.Name), want) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// List is the trail newest first, filtered.
func (l *Log) List(q Query) ([]Record, error) {
	if _, err := l.Seal(); err != nil {
		return nil, core.Wrap(err, core.Internal, "Tern could not read the audit trail.")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 200
	}
	out := []Record{}
	errFull := errors.New("full")
	err := l.db.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, sealedPrefix, true, func(r Record) error {
			if !q.match(r) {
				return nil
			}
			out = append(out, r)
			if len(out) == limit {
				return errFull
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, core.Wrap(err, core.Internal, "Tern could not read the audit trail.")
	}
	return out, nil
}

// Export writes the matching records oldest first as JSON lines, each
// with its sequence and hashes, so the chain can be checked outside Tern.
func (l *Log) Export(w io.Writer, q Query) (int, error) {
	if _, err := l.Seal(); err != nil {
		return 0, core.Wrap(err, core.Internal, "Tern could not read the audit trail.")
	}
	n := 0
	enc := json.NewEncoder(w)
	err := l.db.View(func(txn *badger.Txn) error {
		return store.EachJSON(txn, sealedPrefix, false, func(r Record) error {
			if !q.match(r) {
				return nil
			}
			n++
			return enc.Encode(r)
		})
	})
	return n, err
}

// Result is what Verify found.
type Result struct {
	OK bool `json:"ok"`
	// Records is how many records were checked.
	Records uint64 `json:"records"`
	// Broken is the sequence number of the first broken record (0 if OK).
	Broken uint64 `json:"broken,omitempty"`
	// Message says the result in words.
	Message string `json:"message"`
}

// Verify recomputes the chain from the first record and names the first
// one that was changed, removed or moved since it was sealed.
func (l *Log) Verify() (Result, error) {
	if _, err := l.Seal(); err != nil {
		return Result{}, core.Wrap(err, core.Internal, "Tern could not read the audit trail.")
	}
	var res Result
	err := l.db.View(func(txn *badger.Txn) error {
		var h head
		hasHead := true
		if err := store.GetJSON(txn, headKey, &h); errors.Is(err, badger.ErrKeyNotFound) {
			hasHead = false
		} else if err != nil {
			return err
		}
		broken := func(seq uint64, format string, args ...any) error {
			res = Result{Records: res.Records, Broken: seq, Message: fmt.Sprintf(format, args...)}
			return errStop
		}
		want, prev := uint64(1), ""
		opt := badger.DefaultIteratorOptions
		opt.Prefix = sealedPrefix
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(sealedPrefix)+8 {
				return broken(want, "Record %d is followed by a key that is not a record (%x).", want-1, k)
			}
			seq := store.DecodeU64(k[len(sealedPrefix):])
			if seq != want {
				return broken(want, "Record %d is missing: the trail goes from record %d to record %d.", want, want-1, seq)
			}
			var r Record
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return broken(seq, "Record %d cannot be read: it is not a record any more.", seq)
			}
			if r.Seq != seq {
				return broken(seq, "Record %d is out of place: its slot holds record %d.", seq, r.Seq)
			}
			if r.Hash != hash(r) {
				return broken(seq, "Record %d was changed after it was written: its content does not match its hash.", seq)
			}
			if r.Prev != prev {
				return broken(seq, "Record %d does not follow record %d: one of the two was changed or replaced.", seq, seq-1)
			}
			res.Records = seq
			want, prev = seq+1, r.Hash
		}
		switch {
		case !hasHead && res.Records > 0:
			return broken(res.Records, "The trail's head is missing: records after record %d may have been removed.", res.Records)
		case hasHead && h.Seq > res.Records:
			return broken(res.Records+1, "Record %d is missing: the trail ends at record %d but its head says %d.", res.Records+1, res.Records, h.Seq)
		case hasHead && (h.Seq != res.Records || h.Hash != prev):
			return broken(res.Records, "The trail's head does not match record %d: it was changed.", res.Records)
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return res, nil
	}
	if err != nil {
		return Result{}, core.Wrap(err, core.Internal, "Tern could not read the audit trail.")
	}
	res.OK = true
	if res.Records == 0 {
		res.Message = "The audit trail is empty; there is nothing to verify yet."
	} else {
		res.Message = fmt.Sprintf("All %d records are intact: each one matches its hash and follows the one before it.", res.Records)
	}
	return res, nil
}

var errStop = errors.New("stop")
