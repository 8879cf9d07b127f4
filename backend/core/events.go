package core

import "sync"

// Event is something the UI may want to hear about: job progress, a log
// line, an alert. Topic names are scoped, e.g. "dataset.import.progress".
type Event struct {
	Topic string `json:"topic"`
	Data  any    `json:"data"`
}

// Bus fans events out to subscribers (the Wails bridge, SSE clients).
// Publishing never blocks: a subscriber that falls behind loses events
// and the number lost is counted, because a slow browser tab must not
// stall a training job.
type Bus struct {
	mu      sync.Mutex
	subs    map[int]chan Event
	next    int
	dropped uint64
}

func NewBus() *Bus { return &Bus{subs: map[int]chan Event{}} }

// Publish delivers ev to every subscriber that has room for it.
func (b *Bus) Publish(topic string, data any) {
	ev := Event{Topic: topic, Data: data}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		select {
		case ch <- ev:
		default:
			b.dropped++
		}
	}
}

// Subscribe returns a channel of events and a function that ends the
// subscription and closes the channel.
func (b *Bus) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = ch
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			close(ch)
		})
	}
}

// Dropped is how many deliveries were skipped because a subscriber was full.
func (b *Bus) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
