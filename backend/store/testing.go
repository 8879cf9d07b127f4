package store

import (
	"io"
	"log/slog"
	"testing"
)

// MustOpen opens a store in a fresh temp dir and closes it when tb ends.
// It lives outside _test.go so every package's tests can use a real Badger.
func MustOpen(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(tb.TempDir(), Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
