// Command tool is the Go side of bench/datasets/run.sh: it generates the
// test file and times Tern's hashing, versioning and import on it, printing
// one "seconds=…" line per measurement for the script to compare.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tern-studio/tern/backend/blob"
	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/dataset"
	"github.com/tern-studio/tern/backend/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tool gen|hash|version|version-file|import …")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	file := fl.String("file", "", "the CSV file")
	data := fl.String("data", "", "a fresh Tern data dir")
	size := fl.Int64("size", 1<<30, "bytes to generate")
	fl.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(*file, *size)
	case "hash":
		start := time.Now()
		var n int64
		_, n, err = blob.HashFile(*file)
		report("hash", start, n)
	case "version":
		err = version(*file, *data)
	case "version-file":
		err = versionFile(*file, *data)
	case "import":
		err = importTwice(*file, *data)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tool:", core.ErrorMessage(err), err)
		os.Exit(1)
	}
}

func report(what string, start time.Time, bytes int64) {
	fmt.Printf("%s seconds=%.6f bytes=%d\n", what, time.Since(start).Seconds(), bytes)
}

// gen writes a numeric CSV: an integer id, integer and float columns with
// a few decimals, the shape of a typical tabular training set.
func gen(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(7, 11))
	w.WriteString("id,age,visits,income,score,ratio,temp,lat,lon,label\n")
	var written int64
	var line []byte
	for i := 0; written < size; i++ {
		line = line[:0]
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(18+r.IntN(70)), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(500)), 10)
		line = append(line, ',')
		line = strconv.AppendFloat(line, 20000+r.NormFloat64()*15000, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, r.Float64(), 'f', 4, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, r.ExpFloat64(), 'f', 5, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, 15+r.NormFloat64()*8, 'f', 1, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, -90+r.Float64()*180, 'f', 6, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, -180+r.Float64()*360, 'f', 6, 64)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(r.IntN(2)), 10)
		line = append(line, '\n')
		n, err := w.Write(line)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return w.Flush()
}

func open(dir string) (*store.Store, *blob.Store, error) {
	st, err := store.Open(dir, store.Options{GCInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, nil, err
	}
	b, err := blob.Open(filepath.Join(dir, "blobs"), st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, b, nil
}

// version stores the file as a content-addressed blob with a holder
// record: what `dvc add` does (hash, copy into the cache, record).
func version(path, dir string) error {
	st, b, err := open(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	_, n, err := b.Put(context.Background(), f, "bench")
	report("version", start, n)
	return err
}

// versionFile stores the file by path, as an import from disk does: a
// clone plus one read to hash it where the data dir's filesystem clones
// (XFS with reflinks), else a copy while hashing. It prints which.
func versionFile(path, dir string) error {
	st, b, err := open(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	_, n, how, err := b.PutFile(context.Background(), path, "bench")
	report("version", start, n)
	fmt.Printf("stored=%s\n", how)
	return err
}

// importTwice imports the file into a fresh data dir (full one-pass
// parse, profile, blob) and then again unchanged.
func importTwice(path, dir string) error {
	st, b, err := open(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := dataset.NewService(st, b, core.NewBus(), dir)
	start := time.Now()
	v, err := svc.ImportPath(context.Background(), path, dataset.Options{})
	if err != nil {
		return err
	}
	report("import", start, v.Size)
	fmt.Printf("rows=%d columns=%d\n", v.Rows, v.Columns)
	start = time.Now()
	v2, err := svc.ImportPath(context.Background(), path, dataset.Options{})
	if err != nil {
		return err
	}
	report("reimport", start, v2.Size)
	if v2.ID != v.ID || !v2.Reused {
		return fmt.Errorf("re-import made a new version (%s vs %s)", v2.ID, v.ID)
	}
	return nil
}
