package runner

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/tern-studio/tern/backend/core"
)

// localEngine runs the built-in runtime as a child process: the fallback
// when Docker is absent. It has no isolation and no memory limit, which
// the job's reason says.
type localEngine struct {
	binary func() (string, error)
}

func (l *localEngine) name() string { return BackendLocal }

func (l *localEngine) start(ctx context.Context, j *Job, w workdir) (process, error) {
	if j.Spec.Image != "" || j.Spec.BuildDir != "" {
		return nil, core.Errorf(core.Unavailable, "Docker is not running, and only the built-in runtime can run without it; start Docker to use image %q.", j.Spec.Image+j.Spec.BuildDir)
	}
	bin, err := l.binary()
	if err != nil {
		return nil, err
	}
	args := j.Spec.Command
	if len(args) == 0 {
		reading := "" // a plain file: the runtime detects how to read it
		if j.Spec.DataReading != nil {
			reading = w.reading
		}
		args = []string{"train", "-data", j.Spec.DataPath, "-dataset", reading, "-params", w.params, "-out", w.outputs}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TERN_RUN_ID="+j.RunID, "TERN_JOB_ID="+j.ID, "TERN_PARAMS="+string(j.Spec.Params), "TERN_DATA="+j.Spec.DataPath)
	cmd.Dir = w.root
	// Its own process group, so cancel reaches any children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot start the local runtime.")
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, core.Wrap(err, core.Internal, "Cannot start the local runtime.")
	}
	if err := cmd.Start(); err != nil {
		return nil, core.Wrap(err, core.Unavailable, "Cannot start the local runtime %s: %v", bin, err)
	}
	j.PID = cmd.Process.Pid
	return &localProc{cmd: cmd, out: out, err: errPipe, drained: make(chan struct{})}, nil
}

func (l *localEngine) attach(context.Context, *Job) (process, error) {
	return nil, core.Errorf(core.NotFound, "Local processes do not survive a restart.")
}

type localProc struct {
	cmd      *exec.Cmd
	out, err io.ReadCloser
	once     sync.Once
	drained  chan struct{}
}

func (p *localProc) stream(ctx context.Context, _ [3]Cursor, fn func(line)) error {
	started := false
	p.once.Do(func() { started = true })
	if !started {
		<-p.drained
		return nil
	}
	defer close(p.drained)
	var mu sync.Mutex
	var wg sync.WaitGroup
	read := func(stream int, r io.Reader) {
		defer wg.Done()
		_ = scanLines(r, func(s string) {
			mu.Lock()
			fn(line{stream: stream, ts: time.Now(), text: s})
			mu.Unlock()
		})
	}
	wg.Add(2)
	go read(stdout, p.out)
	go read(stderr, p.err)
	wg.Wait()
	return nil
}

func (p *localProc) wait(ctx context.Context) (exit, error) {
	// Pipes must be read to the end before Wait closes them.
	select {
	case <-p.drained:
	case <-ctx.Done():
		return exit{}, ctx.Err()
	}
	err := p.cmd.Wait()
	if err == nil {
		return exit{code: 0}, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return exit{code: 128 + int(ws.Signal())}, nil
		}
		return exit{code: ee.ExitCode()}, nil
	}
	return exit{}, err
}

func (p *localProc) stop(_ context.Context, grace time.Duration) error {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	go func() {
		select {
		case <-p.drained:
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	return nil
}

func (p *localProc) remove(context.Context) {}
