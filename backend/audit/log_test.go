package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/store"
)

func open(t *testing.T) (*store.Store, *Log) {
	t.Helper()
	st := store.MustOpen(t)
	l, err := Open(st)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return st, l
}

// change writes a key and its record in one transaction, as services do.
func change(t *testing.T, st *store.Store, i int) {
	t.Helper()
	require.NoError(t, st.DB.Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte(fmt.Sprintf("\x10thing%03d", i)), []byte("v")); err != nil {
			return err
		}
		return Append(txn, Record{Action: "thing.create", Objects: []Object{{Kind: "thing", ID: fmt.Sprint(i), Name: fmt.Sprintf("thing %d", i)}},
			After: fmt.Sprintf("value %d", i)})
	}))
}

func trail(t *testing.T, st *store.Store, n int) *Log {
	t.Helper()
	l, err := Open(st)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	for i := 1; i <= n; i++ {
		change(t, st, i)
	}
	_, err = l.Seal()
	require.NoError(t, err)
	res, err := l.Verify()
	require.NoError(t, err)
	require.True(t, res.OK, res.Message)
	require.EqualValues(t, n, res.Records)
	return l
}

func rawGet(t *testing.T, st *store.Store, seq uint64) []byte {
	t.Helper()
	var v []byte
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(sealedKey(seq))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	}))
	return v
}

func rawSet(t *testing.T, st *store.Store, key, val []byte) {
	t.Helper()
	require.NoError(t, st.DB.Update(func(txn *badger.Txn) error {
		if val == nil {
			return txn.Delete(key)
		}
		return txn.Set(key, val)
	}))
}

func verifyBroken(t *testing.T, l *Log, seq uint64, words string) {
	t.Helper()
	res, err := l.Verify()
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Equal(t, seq, res.Broken, res.Message)
	assert.Contains(t, res.Message, words)
	assert.Contains(t, res.Message, fmt.Sprintf("Record %d", seq))
}

func TestChainIsSealedInOrderAndReadable(t *testing.T) {
	st, l := open(t)
	for i := 1; i <= 5; i++ {
		change(t, st, i)
	}
	recs, err := l.List(Query{})
	require.NoError(t, err)
	require.Len(t, recs, 5)
	for i, r := range recs { // newest first
		assert.EqualValues(t, 5-i, r.Seq)
		assert.Equal(t, fmt.Sprintf("value %d", 5-i), r.After)
		assert.Equal(t, Tern, r.Face, "nothing bound: the default face")
		assert.Equal(t, hash(r), r.Hash)
		if i < 4 {
			assert.Equal(t, recs[i+1].Hash, r.Prev)
		}
	}
	assert.Empty(t, recs[4].Prev, "the first record follows nothing")

	res, err := l.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK)
	assert.Contains(t, res.Message, "All 5 records are intact")

	var buf bytes.Buffer
	n, err := l.Export(&buf, Query{})
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 5)
	var first Record
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.EqualValues(t, 1, first.Seq, "export is oldest first")
}

// A record is written in the change's transaction: a change that fails
// leaves no record, and a record never appears without its change.
func TestRecordLivesAndDiesWithItsChange(t *testing.T) {
	st, l := open(t)
	boom := fmt.Errorf("boom")
	err := st.DB.Update(func(txn *badger.Txn) error {
		if err := Append(txn, Record{Action: "thing.create"}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	recs, err := l.List(Query{})
	require.NoError(t, err)
	assert.Empty(t, recs)
}

// Concurrent audited writers never conflict (records are blind writes
// under their own keys) and the chain has no gap or fork.
func TestConcurrentWritersDoNotConflict(t *testing.T) {
	st, l := open(t)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				errs <- st.DB.Update(func(txn *badger.Txn) error {
					return Append(txn, Record{Action: "thing.touch", Objects: []Object{{Kind: "thing", ID: fmt.Sprintf("%d-%d", w, i)}}})
				})
				if i%10 == 0 {
					_, _ = l.Seal() // sealing runs while others append
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	res, err := l.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK, res.Message)
	assert.EqualValues(t, 400, res.Records)
}

func TestSealerRunsWithoutReaders(t *testing.T) {
	st, l := open(t)
	change(t, st, 1)
	require.Eventually(t, func() bool {
		var h head
		_ = st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, headKey, &h) })
		return h.Seq == 1
	}, 5*time.Second, 20*time.Millisecond)
	_ = l
}

// Records left pending by a crash are sealed at the next start.
func TestPendingSealedOnOpen(t *testing.T) {
	st := store.MustOpen(t)
	change(t, st, 1) // no Log open: stays pending, as after a crash
	change(t, st, 2)
	l, err := Open(st)
	require.NoError(t, err)
	defer l.Close()
	var h head
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error { return store.GetJSON(txn, headKey, &h) }))
	assert.EqualValues(t, 2, h.Seq)
}

func TestBindAttributesTheCallingGoroutine(t *testing.T) {
	st, l := open(t)
	release := Bind(Actor{Face: MLflow})
	inner := Bind(Actor{Face: Window}) // the outer binding wins
	change(t, st, 1)
	done := make(chan struct{})
	go func() { // another goroutine is not bound
		defer close(done)
		change(t, st, 2)
	}()
	<-done
	inner()
	release()
	change(t, st, 3)
	k, v := func() ([]byte, []byte) {
		defer Bind(Actor{Face: Job, Who: "run-7"})()
		return Entry(Record{Action: "run.log"})
	}()
	rawSet(t, st, k, v) // committed elsewhere, after the binding ended
	recs, err := l.List(Query{})
	require.NoError(t, err)
	require.Len(t, recs, 4)
	assert.Equal(t, Actor{Face: Job, Who: "run-7"}, recs[0].Actor)
	assert.Equal(t, Tern, recs[1].Face)
	assert.Equal(t, Tern, recs[2].Face)
	assert.Equal(t, MLflow, recs[3].Face)
}

func TestQueryFilters(t *testing.T) {
	st, l := open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, a := range []string{"run.delete", "run.restore", "model.alias", "runner.start"} {
		require.NoError(t, st.DB.Update(func(txn *badger.Txn) error {
			return Append(txn, Record{When: t0.Add(time.Duration(i) * time.Hour), Action: a,
				Objects: []Object{{Kind: strings.Split(a, ".")[0], ID: fmt.Sprint(i), Name: "Churn " + fmt.Sprint(i)}}})
		}))
	}
	got := func(q Query) (acts []string) {
		recs, err := l.List(q)
		require.NoError(t, err)
		for _, r := range recs {
			acts = append(acts, r.Action)
		}
		return acts
	}
	assert.Equal(t, []string{"run.restore", "run.delete"}, got(Query{Action: "run"}), "a prefix matches whole words only")
	assert.Equal(t, []string{"model.alias"}, got(Query{Object: "churn 2"}))
	assert.Equal(t, []string{"model.alias", "run.restore"}, got(Query{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}))
	assert.Equal(t, []string{"runner.start"}, got(Query{Limit: 1}))
	assert.Equal(t, []string{"run.restore", "run.delete"}, got(Query{Before: 3}))
}

func TestLongTextIsClipped(t *testing.T) {
	st, l := open(t)
	require.NoError(t, st.DB.Update(func(txn *badger.Txn) error {
		return Append(txn, Record{Action: "x.y", Before: strings.Repeat("é", 1000)})
	}))
	recs, err := l.List(Query{})
	require.NoError(t, err)
	assert.Equal(t, MaxText, len([]rune(recs[0].Before)))
}

// The Must-show tamper tests: one record edited, deleted or moved in the
// store, behind Tern's back, and Verify names it.
func TestTamperEdit(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	v := rawGet(t, st, 3)
	v = bytes.Replace(v, []byte("value 3"), []byte("value X"), 1)
	rawSet(t, st, sealedKey(3), v)
	verifyBroken(t, l, 3, "was changed after it was written")
}

func TestTamperEditAndRehash(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	var r Record
	require.NoError(t, json.Unmarshal(rawGet(t, st, 3), &r))
	r.After = "value X"
	r.Hash = hash(r) // a careful forger recomputes the record's own hash
	b, _ := json.Marshal(r)
	rawSet(t, st, sealedKey(3), b)
	verifyBroken(t, l, 4, "does not follow record 3")
}

func TestTamperDeleteMiddle(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	rawSet(t, st, sealedKey(4), nil)
	verifyBroken(t, l, 4, "is missing")
}

func TestTamperDeleteFirst(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 3)
	rawSet(t, st, sealedKey(1), nil)
	verifyBroken(t, l, 1, "is missing")
}

func TestTamperDeleteLast(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	rawSet(t, st, sealedKey(6), nil)
	verifyBroken(t, l, 6, "is missing")
}

func TestTamperReorder(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	a, b := rawGet(t, st, 2), rawGet(t, st, 5)
	rawSet(t, st, sealedKey(2), b)
	rawSet(t, st, sealedKey(5), a)
	verifyBroken(t, l, 2, "out of place")
}

func TestTamperReorderRenumbered(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 6)
	var a, b Record
	require.NoError(t, json.Unmarshal(rawGet(t, st, 2), &a))
	require.NoError(t, json.Unmarshal(rawGet(t, st, 3), &b))
	a.Seq, b.Seq = 3, 2 // swapped and renumbered, hashes recomputed
	a.Hash, b.Hash = hash(a), hash(b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	rawSet(t, st, sealedKey(2), jb)
	rawSet(t, st, sealedKey(3), ja)
	verifyBroken(t, l, 2, "does not follow record 1")
}

func TestTamperGarbage(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 4)
	rawSet(t, st, sealedKey(2), []byte("{not json"))
	verifyBroken(t, l, 2, "cannot be read")
}

func TestTamperHead(t *testing.T) {
	st := store.MustOpen(t)
	l := trail(t, st, 4)
	rawSet(t, st, headKey, []byte(`{"seq":4,"hash":"00"}`))
	res, err := l.Verify()
	require.NoError(t, err)
	assert.False(t, res.OK)
	assert.Contains(t, res.Message, "head does not match record 4")
}

func TestEmptyTrailVerifies(t *testing.T) {
	_, l := open(t)
	res, err := l.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK)
	assert.Contains(t, res.Message, "empty")
}

// The benchmark's unaudited baseline writes the change and no record;
// turned back on, the trail goes on with an unbroken chain.
func TestOffForBenchmarkWritesNoRecord(t *testing.T) {
	st, l := open(t)
	change(t, st, 1)
	SetOffForBenchmark(true)
	change(t, st, 2)
	k, _ := Entry(Record{Action: "thing.create"})
	assert.Nil(t, k)
	SetOffForBenchmark(false)
	change(t, st, 3)
	require.Eventually(t, func() bool {
		recs, err := l.List(Query{})
		return err == nil && len(recs) == 2
	}, 5*time.Second, 10*time.Millisecond)
	recs, err := l.List(Query{})
	require.NoError(t, err)
	assert.Equal(t, "value 3", recs[0].After)
	assert.Equal(t, "value 1", recs[1].After)
	res, err := l.Verify()
	require.NoError(t, err)
	assert.True(t, res.OK, "%+v", res)
	require.NoError(t, st.DB.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte("\x10thing002"))
		return err
	}), "the change itself was written")
}
