package core

import (
	"sync"
	"time"
)

// Clock tells the time. Services that stamp, window or age things take
// one, so that tests move time by hand instead of sleeping on the wall
// clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock; the zero value is ready to use.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

// ManualClock stands still until told to move. It is for tests, and safe
// for concurrent use because the code under test reads it from its own
// goroutines.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock that reads t until Set or Advance.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t (backwards too).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// OrSystem returns c, or the wall clock when c is nil, so constructors can
// leave the clock optional.
func OrSystem(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}
