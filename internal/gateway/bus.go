package gateway

import (
	"sync"

	"github.com/credflow/credflow/pkg/adminapi"
)

// Bus fans per-request events out to subscribers (credflow top, logs -f).
// Publishing never blocks the request path: a subscriber that falls behind
// loses events and is told how many.
type Bus struct {
	mu     sync.Mutex
	subs   map[chan adminapi.Event]*int
	closed bool
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[chan adminapi.Event]*int{}} }

// Subscribe returns a channel of events and a cancel function. The channel
// is closed on cancel or when the bus closes.
func (b *Bus) Subscribe(buffer int) (<-chan adminapi.Event, func()) {
	ch := make(chan adminapi.Event, buffer)
	b.mu.Lock()
	if b.closed {
		close(ch)
		b.mu.Unlock()
		return ch, func() {}
	}
	dropped := 0
	b.subs[ch] = &dropped
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
		b.mu.Unlock()
	}
}

// Publish delivers e to every subscriber that has room.
func (b *Bus) Publish(e adminapi.Event) {
	b.mu.Lock()
	for ch, dropped := range b.subs {
		select {
		case ch <- e:
		default:
			*dropped++
		}
	}
	b.mu.Unlock()
}

// Close ends every subscription.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
}
