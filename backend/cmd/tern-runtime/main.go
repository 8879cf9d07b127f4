// Command tern-runtime is the static binary that runs inside Tern's
// containers (and as a local process when Docker is absent). It speaks the
// container contract: inputs under /tern/data and /tern/params.json (or
// TERN_PARAMS), live metrics as JSON lines on stdout, outputs under
// /tern/outputs.
//
//	tern-runtime train   [-data FILE] [-params FILE] [-out DIR]
//	tern-runtime predict -model DIR -data FILE [-out FILE]
//
// Subcommands register themselves in commands; `serve` lives in its own
// file, added by the serving side, with an init that registers it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/tern-studio/tern/backend/core"
)

// Exit codes shared with the runner, which words them for the user.
const (
	exitOK        = 0
	exitFailed    = 1   // the job failed (bad data, bad params, internal error)
	exitUsage     = 64  // EX_USAGE; 2 is what a Go panic exits with
	exitCancelled = 143 // SIGTERM, as a shell would report it
)

// commands maps a subcommand to its entry point.
var commands = map[string]func(ctx context.Context, args []string) int{
	"train":   train,
	"predict": predict,
	"version": func(context.Context, []string) int { fmt.Println(version); return exitOK },
}

// finish turns a command's outcome into its exit code. A failure is told
// twice: on the protocol stream, where the runner shows it to the user, and
// on stderr, which is kept in the job's log.
func finish(command string, err error) int {
	if err == nil {
		return exitOK
	}
	out.fail(core.ErrorMessage(err))
	fmt.Fprintln(os.Stderr, command+" failed:", core.ErrorMessage(err))
	return exitFailed
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]] == nil {
		var names []string
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: tern-runtime <%s> [flags]\n", strings.Join(names, "|"))
		os.Exit(exitUsage)
	}
	// As PID 1 in a container the process gets no default signal handling,
	// so stop cleanly on SIGTERM/SIGINT ourselves.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := commands[os.Args[1]](ctx, os.Args[2:])
	if ctx.Err() != nil && code != exitOK {
		code = exitCancelled
	}
	stop()
	os.Exit(code)
}
