package app

import (
	"context"
	"os/exec"
	"runtime"
	"time"

	"github.com/tern-studio/tern/backend/monitor"
	"github.com/tern-studio/tern/backend/pipeline"
)

// notifier shows a desktop notification. Wails v2 has none of its own, so
// Tern asks the OS: notify-send (libnotify) on Linux, osascript on macOS.
// Where neither exists the alert still shows in the window and the status
// bar; a missing notifier is not an error worth a person's attention.
type notifier func(title, body string)

func osNotifier() notifier {
	var argv func(title, body string) []string
	switch runtime.GOOS {
	case "linux":
		if p, err := exec.LookPath("notify-send"); err == nil {
			argv = func(t, b string) []string { return []string{p, "--app-name=Tern", t, b} }
		}
	case "darwin":
		// The texts travel as argv, never spliced into the AppleScript, so
		// no quoting in an alert can break out of the script.
		argv = func(t, b string) []string {
			return []string{"osascript", "-e", "on run argv", "-e",
				"display notification (item 2 of argv) with title (item 1 of argv)", "-e", "end run", t, b}
		}
	}
	if argv == nil {
		return func(string, string) {}
	}
	return func(title, body string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a := argv(title, body)
		_ = exec.CommandContext(ctx, a[0], a[1:]...).Run()
	}
}

// notifyAlert turns a monitoring alert into a desktop notification.
func notifyAlert(n notifier, data any) bool {
	a, ok := data.(monitor.Alert)
	if !ok {
		return false
	}
	title := "Tern: " + a.Rule
	if a.Monitor != "" {
		title += " · " + a.Monitor
	}
	go n(title, a.Message)
	return true
}

// notifyPipeline turns a pipeline's notify step into a desktop
// notification.
func notifyPipeline(n notifier, data any) bool {
	p, ok := data.(pipeline.Notification)
	if !ok {
		return false
	}
	go n("Tern: "+p.Pipeline, p.Message)
	return true
}
