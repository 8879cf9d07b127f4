package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/tern-studio/tern/backend/core"
)

// SchemaVersion is the layout this build writes. Migrations[i] moves a
// store from version i to i+1, inside one transaction.
const SchemaVersion = 1

// Migration rewrites keys of one schema version into the next.
type Migration func(txn *badger.Txn) error

// Migrations is indexed by the version migrated from. Version 0 is an empty
// store, so its migration only stamps the version.
var Migrations = []Migration{
	func(*badger.Txn) error { return nil },
}

var schemaKey = Key(PrefixMeta, []byte("schema"))

// Options tune Open; zero values take defaults.
type Options struct {
	// GCInterval is how often value-log GC runs; 0 means 5 minutes,
	// negative disables the loop (tests).
	GCInterval time.Duration
	// EncryptionKey, when set (16, 24 or 32 bytes), encrypts at rest.
	EncryptionKey []byte
	Logger        *slog.Logger
	// InMemory is for tests that need no files.
	InMemory bool
}

// Store is the open database.
type Store struct {
	DB  *badger.DB
	Dir string

	log    *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

// Open opens (creating if needed) the store under dataDir/db, migrates it to
// SchemaVersion and starts the GC loop. A data dir held by another Tern
// gives a core.Unavailable error that says so.
func Open(dataDir string, opt Options) (*Store, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := filepath.Join(dataDir, "db")
	bo := badgerOptions(dir, opt, log)
	if !opt.InMemory {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, core.Wrap(err, core.Unavailable, "Tern cannot create its data folder %s: %v", dataDir, plainErr(err))
		}
	}
	db, err := badger.Open(bo)
	if err != nil {
		if isLockErr(err) {
			return nil, core.Wrap(err, core.Unavailable,
				"This data folder (%s) is already open by another Tern. Close the other Tern window or `tern serve`, or start this one with --data-dir pointing elsewhere.", dataDir)
		}
		return nil, core.Wrap(err, core.Unavailable, "Tern cannot open its database in %s: %v", dataDir, plainErr(err))
	}
	s := &Store{DB: db, Dir: dataDir, log: log, done: make(chan struct{})}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	interval := opt.GCInterval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	if interval > 0 && !opt.InMemory {
		go s.gcLoop(ctx, interval)
	} else {
		close(s.done)
	}
	return s, nil
}

// badgerOptions are the one set of Badger options for a store at dir, so a
// store loaded from a backup is laid out as Open would lay it out.
func badgerOptions(dir string, opt Options, log *slog.Logger) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithInMemory(opt.InMemory).
		// Metadata and series are small; a 64 MiB value log keeps GC cheap
		// on a laptop disk, and compression on values is not worth the CPU.
		WithValueLogFileSize(64 << 20).
		WithNumVersionsToKeep(1)
	if opt.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	}
	if len(opt.EncryptionKey) > 0 {
		bo = bo.WithEncryptionKey(opt.EncryptionKey).WithIndexCacheSize(64 << 20)
	}
	return bo
}

// Load writes a stream in Badger's backup format (what Stream.Backup
// writes: length-prefixed KV lists) into a new store under dataDir/db and
// returns how many keys the store then holds. It is for restoring into an
// empty folder: nothing else may have the store open while it runs.
func Load(dataDir string, opt Options, r io.Reader) (int64, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	dir := filepath.Join(dataDir, "db")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern cannot create the folder %s: %v", dir, plainErr(err))
	}
	db, err := badger.Open(badgerOptions(dir, opt, log))
	if err != nil {
		return 0, core.Wrap(err, core.Unavailable, "Tern cannot create a database in %s: %v", dataDir, plainErr(err))
	}
	var n int64
	lerr := db.Load(r, 64)
	if lerr == nil {
		lerr = db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{}) // keys only, newest version of each
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		})
	}
	if cerr := db.Close(); lerr == nil {
		lerr = cerr
	}
	return n, lerr
}

func isLockErr(err error) bool {
	m := err.Error()
	return strings.Contains(m, "Cannot acquire directory lock") || strings.Contains(m, "Another process is using this Badger database")
}

func plainErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Version reads the stored schema version; 0 for a new store.
func (s *Store) Version() (int, error) {
	v := 0
	err := s.DB.View(func(txn *badger.Txn) error {
		item, err := txn.Get(schemaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return json.Unmarshal(b, &v) })
	})
	return v, err
}

func (s *Store) migrate() error {
	v, err := s.Version()
	if err != nil {
		return core.Wrap(err, core.Internal, "Tern cannot read its database version.")
	}
	if v > SchemaVersion {
		return core.Errorf(core.Unavailable,
			"This data folder was written by a newer Tern (schema %d; this Tern knows up to %d). Update Tern, or use another --data-dir.", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		from := v
		err := s.DB.Update(func(txn *badger.Txn) error {
			if err := Migrations[from](txn); err != nil {
				return err
			}
			b, _ := json.Marshal(from + 1)
			return txn.Set(schemaKey, b)
		})
		if err != nil {
			return core.Wrap(err, core.Internal, "Tern could not upgrade its database from schema %d to %d.", from, from+1)
		}
		s.log.Info("store migrated", "from", from, "to", from+1)
	}
	return nil
}

// gcLoop reclaims value-log space in the background, running each round
// until Badger reports nothing left to rewrite.
func (s *Store) gcLoop(ctx context.Context, every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.RunGC()
		}
	}
}

// RunGC rewrites value-log files until none is worth rewriting; it returns
// how many files were rewritten.
func (s *Store) RunGC() int {
	n := 0
	for {
		err := s.DB.RunValueLogGC(0.5)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.log.Warn("value log GC", "err", err)
			}
			return n
		}
		n++
	}
}

// Close stops the GC loop and closes Badger; safe to call twice.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		<-s.done
		err = s.DB.Close()
	})
	return err
}

// badgerLogger routes Badger's chatter into slog at debug level, keeping
// warnings and errors visible.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(fmt.Sprintf(f, a...), "src", "badger") }
