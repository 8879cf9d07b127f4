package core

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorCodeAndMessage(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Errorf(NotFound, "Dataset %q does not exist.", "iris"))
	assert.Equal(t, NotFound, ErrorCode(err))
	assert.Equal(t, `Dataset "iris" does not exist.`, ErrorMessage(err))

	raw := errors.New("open /home/u/secret: permission denied")
	assert.Equal(t, Internal, ErrorCode(raw))
	assert.NotContains(t, ErrorMessage(raw), "/home/u")
}

func TestNewIDSortsByTime(t *testing.T) {
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, NewID())
		time.Sleep(2 * time.Millisecond)
	}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	assert.Equal(t, ids, sorted)
	assert.Len(t, ids[0], 26)
	assert.NotEqual(t, NewID(), NewID())
}

func TestBusFanOutAndSlowSubscriber(t *testing.T) {
	b := NewBus()
	fast, stopFast := b.Subscribe(10)
	slow, stopSlow := b.Subscribe(1)
	defer stopFast()
	for i := 0; i < 3; i++ {
		b.Publish("job.progress", i)
	}
	for i := 0; i < 3; i++ {
		ev := <-fast
		assert.Equal(t, i, ev.Data)
	}
	assert.Equal(t, 0, (<-slow).Data)
	assert.Equal(t, uint64(2), b.Dropped())
	stopSlow()
	stopSlow() // idempotent
	_, open := <-slow
	require.False(t, open)
}

func TestManualClockMovesOnlyWhenTold(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewManualClock(start)
	assert.Equal(t, start, c.Now())
	c.Advance(90 * time.Second)
	assert.Equal(t, start.Add(90*time.Second), c.Now())
	c.Set(start)
	assert.Equal(t, start, c.Now())

	var zero Clock
	assert.IsType(t, SystemClock{}, OrSystem(zero))
	assert.Same(t, c, OrSystem(c))
	assert.WithinDuration(t, time.Now(), SystemClock{}.Now(), time.Second)
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123":                true,
		"with space ok":          true,
		strings.Repeat("x", 128): true,
		"":                       false,
		strings.Repeat("x", 129): false,
		"tab\there":              false,
		"nul\x00":                false,
		"caf\xc3\xa9":            false,
		"del\x7f":                false,
	} {
		assert.Equal(t, want, ValidRequestID(id), "%q", id)
	}
}
