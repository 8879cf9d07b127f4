package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tern-studio/tern/backend/testenv"
)

// TestDesktopWindowRenders starts the real Wails build (TERN_DESKTOP_BIN,
// built by `make test`) under Xvfb, screenshots the whole screen and
// checks the window is there, is not blank, and shows the app's shell.
func TestDesktopWindowRenders(t *testing.T) {
	bin := os.Getenv("TERN_DESKTOP_BIN")
	if bin == "" {
		if testenv.InCI() {
			t.Fatal("TERN_DESKTOP_BIN must name the desktop build in CI (make test sets it)")
		}
		t.Skip("set TERN_DESKTOP_BIN to the desktop build (make test does)")
	}
	for _, tool := range []string{"Xvfb", "xwininfo", "import", "convert", "tesseract"} {
		if _, err := exec.LookPath(tool); err != nil {
			if testenv.InCI() {
				t.Fatalf("%s is required in CI (make deps-test installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	display := fmt.Sprintf(":%d", 90+os.Getpid()%100)
	xvfb := exec.CommandContext(ctx, "Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	require.NoError(t, xvfb.Start())
	defer func() { _ = xvfb.Process.Kill(); _ = xvfb.Wait() }()
	env := append(os.Environ(), "DISPLAY="+display, "GDK_BACKEND=x11", "WEBKIT_DISABLE_COMPOSITING_MODE=1")
	waitFor(t, 10*time.Second, func() bool {
		c := exec.Command("xwininfo", "-root")
		c.Env = env
		return c.Run() == nil
	})

	dataDir := t.TempDir()
	var logs bytes.Buffer
	app := exec.CommandContext(ctx, bin, "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	app.Env = env
	app.Stdout, app.Stderr = &logs, &logs
	require.NoError(t, app.Start())
	exited := make(chan error, 1)
	go func() { exited <- app.Wait() }()
	defer func() {
		_ = app.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = app.Process.Kill()
		}
	}()

	waitFor(t, 30*time.Second, func() bool {
		c := exec.Command("xwininfo", "-root", "-tree")
		c.Env = env
		out, _ := c.Output()
		return strings.Contains(string(out), `"Tern"`)
	})

	shot := filepath.Join(testenv.RepoRoot(), "test-output", "screenshots", "desktop-window.png")
	require.NoError(t, os.MkdirAll(filepath.Dir(shot), 0o755))
	rail := filepath.Join(t.TempDir(), "rail.png")
	var text string
	// The web view paints a moment after the window maps; retry until the
	// shell's words are legible or time runs out. OCR reads the left rail,
	// cropped and enlarged: small UI text at screen size reads poorly.
	waitFor(t, 45*time.Second, func() bool {
		c := exec.Command("import", "-window", "root", shot)
		c.Env = env
		if c.Run() != nil {
			return false
		}
		if exec.Command("convert", shot, "-crop", "210x360+0+0", "-resize", "300%", "-colorspace", "Gray", rail).Run() != nil {
			return false
		}
		out, err := exec.Command("tesseract", rail, "-").Output()
		text = strings.ToLower(string(out))
		return err == nil && strings.Contains(text, "tern") && navLabelsSeen(text) >= 6
	})
	t.Logf("screenshot: %s", shot)
	assert.Contains(t, text, "tern", "the app name is on screen")
	assert.GreaterOrEqual(t, navLabelsSeen(text), 6, "the navigation rendered: %q", text)

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, distinctColours(img), 50, "a rendered shell has many colours; a blank window has one or two")
	select {
	case err := <-exited:
		t.Fatalf("the window exited early: %v\n%s", err, logs.String())
	default:
	}
}

func navLabelsSeen(text string) int {
	n := 0
	for _, l := range []string{"datasets", "experiments", "models", "deployments", "monitoring", "pipelines", "settings"} {
		if strings.Contains(text, l) {
			n++
		}
	}
	return n
}

func distinctColours(img image.Image) int {
	seen := map[uint32]struct{}{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = struct{}{}
		}
	}
	return len(seen)
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("gave up after %s", d)
}
