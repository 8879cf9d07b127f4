package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ternBinary is the binary under test: TERN_BIN when make built it, else a
// fresh build (browser mode needs no desktop tags).
func ternBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("TERN_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "tern")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func TestSecondInstanceOnSameDataDirExitsWithMessage(t *testing.T) {
	bin := ternBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	first := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	stdout, err := first.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, first.Start())
	defer func() {
		_ = first.Process.Signal(os.Interrupt)
		_ = first.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	started := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Open http://127.0.0.1:") {
			started = true
			break
		}
	}
	require.True(t, started, "first instance printed its address")

	// Both faces open the store first, so both refuse the same way; the
	// desktop one must say so before it ever needs a display.
	for _, args := range [][]string{
		{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir},
		{"--data-dir", dir, "--addr", "127.0.0.1:0"},
	} {
		second := exec.CommandContext(ctx, bin, args...)
		second.Env = append(os.Environ(), "DISPLAY=")
		start := time.Now()
		out, err := second.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "second instance %v must fail: %s", args, out)
		assert.Equal(t, 1, exit.ExitCode())
		assert.Contains(t, string(out), "already open by another Tern")
		assert.Less(t, time.Since(start), 10*time.Second, "no hang")
	}
}

func TestServeTokenAndGracefulStop(t *testing.T) {
	bin := ternBinary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run := func() (string, *exec.Cmd) {
		c := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
		stdout, err := c.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, c.Start())
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, tok, ok := strings.Cut(sc.Text(), "#token="); ok {
				return tok, c
			}
		}
		t.Fatal("no token printed")
		return "", nil
	}
	tok1, c := run()
	require.NoError(t, c.Process.Signal(os.Interrupt))
	require.NoError(t, c.Wait(), "clean exit on interrupt")
	tok2, c := run()
	require.NoError(t, c.Process.Signal(os.Interrupt))
	require.NoError(t, c.Wait())
	assert.Equal(t, tok1, tok2, "the token persists in the data dir for local scripts")
	st, err := os.Stat(filepath.Join(dir, "api.token"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestUnknownCommand(t *testing.T) {
	assert.Equal(t, 2, run([]string{"frobnicate"}))
}

func TestRestoreCommand(t *testing.T) {
	assert.Equal(t, 2, run([]string{"restore"}), "usage")
	bad := filepath.Join(t.TempDir(), "not-a-backup.tar")
	require.NoError(t, os.WriteFile(bad, []byte("hello"), 0o600))
	dst := filepath.Join(t.TempDir(), "new")
	assert.Equal(t, 1, run([]string{"restore", bad, dst}))
	assert.NoDirExists(t, dst, "a refused backup leaves nothing")
}
