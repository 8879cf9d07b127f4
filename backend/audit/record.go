package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/store"
)

// Object is one thing a change touched.
type Object struct {
	Kind string `json:"kind"` // dataset, version, run, experiment, model, deployment, monitor, setting, token…
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Record is one entry of the trail.
type Record struct {
	// Seq numbers sealed records from 1 without gaps; 0 while pending.
	Seq  uint64    `json:"seq"`
	When time.Time `json:"when"`
	Actor
	// Action is "<kind>.<verb>", e.g. "run.delete", "model.alias".
	Action  string   `json:"action"`
	Objects []Object `json:"objects,omitempty"`
	// Before and After say briefly what changed (MaxText runes each).
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Prev is the previous record's Hash ("" for the first); Hash is the
	// SHA-256 of this record with Hash empty, in hex.
	Prev string `json:"prev,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// MaxText bounds Before and After: the trail says what changed, it does
// not copy the data.
const MaxText = 240

var (
	headKey       = store.Key(store.PrefixAudit, []byte{0x00})
	pendingPrefix = []byte{store.PrefixAudit, 0x01}
	sealedPrefix  = []byte{store.PrefixAudit, 0x02}
	pendingSeq    atomic.Uint64
	appended      atomic.Uint64 // wakes sealers
)

func sealedKey(seq uint64) []byte { return store.Key(store.PrefixAudit, []byte{0x02}, store.U64(seq)) }

// Append writes rec in txn, the transaction of the change it records. The
// actor is the calling goroutine's (Bind) unless rec names one; When is
// now unless set.
func Append(txn *badger.Txn, rec Record) error {
	k, v := Entry(rec)
	if k == nil {
		return nil
	}
	return txn.Set(k, v)
}

// off makes Append and Entry write nothing: only for the governance
// benchmark's unaudited baseline (bench/governance), which measures what
// the trail costs. Tern itself never sets it.
var off atomic.Bool

// SetOffForBenchmark turns the trail off (true) or on; see off.
func SetOffForBenchmark(v bool) { off.Store(v) }

// Entry is Append for code that builds its writes first and commits them
// elsewhere (the tracking group commit): the key and value to write in
// the change's transaction, with the actor resolved here, in the caller.
// A nil key means there is nothing to write (the trail is off).
func Entry(rec Record) (key, val []byte) {
	if off.Load() {
		return nil, nil
	}
	if rec.Face == "" {
		rec.Actor = Current()
	}
	if rec.When.IsZero() {
		rec.When = time.Now()
	}
	rec.When = rec.When.UTC().Round(0)
	rec.Before, rec.After = clip(rec.Before), clip(rec.After)
	rec.Seq, rec.Prev, rec.Hash = 0, "", ""
	val, _ = json.Marshal(rec) // a Record always encodes
	// Time first so the sealer chains records in the order they were
	// made; the counter keeps two records of one nanosecond apart.
	key = store.Key(store.PrefixAudit, []byte{0x01}, store.I64(rec.When.UnixNano()), store.U64(pendingSeq.Add(1)))
	appended.Add(1)
	return key, val
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= MaxText {
		return s
	}
	r := []rune(s)
	return string(r[:MaxText-1]) + "…"
}

// hash is the record's own hash: SHA-256 over its JSON with Hash empty.
func hash(rec Record) string {
	rec.Hash = ""
	b, _ := json.Marshal(rec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Write records a change that has no Badger transaction to share (Tern
// replaced a file, such as the access token), in a transaction of its own
// right after the change.
func Write(db *badger.DB, rec Record) error {
	return db.Update(func(txn *badger.Txn) error { return Append(txn, rec) })
}
