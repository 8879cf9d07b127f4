package runner

import (
	"bufio"
	"context"
	"io"
	"time"
)

// Streams of a job's output.
const (
	stdout = 1
	stderr = 2
)

// line is one line of a job's output with the time it was written.
type line struct {
	stream int
	ts     time.Time
	text   string
}

// engine runs processes for jobs: Docker or local.
type engine interface {
	name() string
	// start launches the job; the returned process is already running.
	start(ctx context.Context, j *Job, w workdir) (process, error)
	// attach finds a job's process again after a restart.
	attach(ctx context.Context, j *Job) (process, error)
}

// process is one running job.
type process interface {
	// stream calls fn for every output line after the cursors, until the
	// process's output ends or ctx is done.
	stream(ctx context.Context, from [3]Cursor, fn func(line)) error
	// wait blocks until the process ends.
	wait(ctx context.Context) (exit, error)
	// stop asks the process to end, killing it after grace.
	stop(ctx context.Context, grace time.Duration) error
	// remove frees what the process leaves behind (the container).
	remove(ctx context.Context)
}

// maxLine bounds one output line; longer lines are cut, never buffered
// without limit.
const maxLine = 1 << 20

// scanLines reads r line by line, cutting overlong lines.
func scanLines(r io.Reader, fn func(string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 && len(buf) < maxLine {
			room := maxLine - len(buf)
			if len(chunk) > room {
				chunk = chunk[:room]
			}
			buf = append(buf, chunk...)
		}
		if err != nil {
			if len(buf) > 0 {
				fn(string(buf))
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
		if !isPrefix {
			fn(string(buf))
			buf = buf[:0]
		}
	}
}
