package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
)

// FuzzRead feeds arbitrary bytes to the backup reader: it must never panic,
// and anything it refuses is refused with a worded error. An input that
// reaches the store section opens a real Badger, so each such exec costs
// tens of milliseconds and minimising one takes a while.
func FuzzRead(f *testing.F) {
	src := openDataDir(f, f.TempDir())
	csv := filepath.Join(f.TempDir(), "a.csv")
	if err := os.WriteFile(csv, []byte("a,b\n1,x\n2,y\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	if _, err := src.datasets.ImportPath(context.Background(), csv, dataset.Options{}); err != nil {
		f.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := Write(context.Background(), src.source(), &good, nil); err != nil {
		f.Fatal(err)
	}
	b := good.Bytes()
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:1536])
	f.Add([]byte{})
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Read(context.Background(), bytes.NewReader(data), t.TempDir())
		if err != nil {
			var ce *core.Error
			if !errors.As(err, &ce) {
				t.Fatalf("unworded error: %v", err)
			}
		}
	})
}
