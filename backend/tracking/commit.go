package tracking

import (
	"errors"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// op is one key change of a batch.
type op struct {
	key, val []byte
	del      bool
}

// groupCommit merges the batches of concurrent writers into shared Badger
// transactions. Each Badger transaction waits for the ones before it to be
// applied, so twenty clients each committing their own 500 points queue up
// one behind the other; one transaction carrying all twenty batches costs
// about as much as one. A batch is never split across transactions, so
// each stays atomic, and a caller returns only after its transaction
// committed. The committing goroutine exists only while there is work.
type groupCommit struct {
	db      *badger.DB
	mu      sync.Mutex
	pending []*commitReq
	running bool
}

type commitReq struct {
	ops  []op
	done chan error
}

// maxGroupOps bounds one shared transaction well under Badger's limit.
const maxGroupOps = 40_000

func (g *groupCommit) commit(ops []op) error {
	req := &commitReq{ops: ops, done: make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	return <-req.done
}

func (g *groupCommit) loop() {
	for {
		g.mu.Lock()
		if len(g.pending) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		n, total := 0, 0
		for n < len(g.pending) && (n == 0 || total+len(g.pending[n].ops) <= maxGroupOps) {
			total += len(g.pending[n].ops)
			n++
		}
		group := g.pending[:n:n]
		g.pending = append([]*commitReq(nil), g.pending[n:]...)
		g.mu.Unlock()
		g.write(group)
	}
}

func (g *groupCommit) write(group []*commitReq) {
	err := g.db.Update(func(txn *badger.Txn) error {
		for _, r := range group {
			if err := apply(txn, r.ops); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	// A shared transaction failed (too big, or one batch is bad): give
	// every batch its own, so one cannot fail another.
	for _, r := range group {
		r.done <- g.db.Update(func(txn *badger.Txn) error { return apply(txn, r.ops) })
	}
}

func apply(txn *badger.Txn, ops []op) error {
	for _, o := range ops {
		var err error
		if o.del {
			err = txn.Delete(o.key)
		} else {
			err = txn.Set(o.key, o.val)
		}
		if err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return badger.ErrTxnTooBig
			}
			return err
		}
	}
	return nil
}
