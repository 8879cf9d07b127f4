package app

import (
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/tern-studio/tern/backend/core"
	"github.com/tern-studio/tern/backend/system"
)

// System answers the status bar and desktop-only conveniences.
type System struct {
	life  lifetime
	svc   *system.Service
	shell *Shell
}

// Status is the engine, data dir and disk state.
func (s *System) Status() (system.Status, error) {
	ctx, done := s.life.call()
	defer done()
	return s.svc.Status(ctx), nil
}

// OpenFileDialog asks for a file to import; desktop only. The empty string
// means the person cancelled.
func (s *System) OpenFileDialog(title string, patterns string) (string, error) {
	ctx := s.shell.windowContext()
	if ctx == nil {
		return "", core.Errorf(core.Unavailable, "File dialogs are only in the desktop window; in the browser, drop the file or use Upload.")
	}
	opts := runtime.OpenDialogOptions{Title: title}
	if patterns != "" {
		opts.Filters = []runtime.FileFilter{{DisplayName: "Data files", Pattern: patterns}}
	}
	return runtime.OpenFileDialog(ctx, opts)
}
