package cluster

import (
	"sync"
	"sync/atomic"
)

// SubscriptionBuffer is how many entries a subscriber may fall behind before
// it is dropped.
const SubscriptionBuffer = 1024

// hub fans archived entries out to live subscribers. Entries are delivered
// after they are durable in the archive, so whatever a subscriber sees is
// also returned by Entries. Sends never block: a subscriber whose buffer is
// full has its channel closed and is forgotten.
type hub struct {
	mu     sync.Mutex
	subs   map[chan LedgerEntry]struct{}
	count  atomic.Int64 // len(subs), read without the lock to skip rendering
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan LedgerEntry]struct{}{}} }

func (h *hub) subscribe() (<-chan LedgerEntry, func()) {
	ch := make(chan LedgerEntry, SubscriptionBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	h.count.Store(int64(len(h.subs)))
	return ch, func() { h.drop(ch) }
}

// drop closes and forgets ch if it is still subscribed; safe to repeat.
func (h *hub) drop(ch chan LedgerEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(ch)
}

func (h *hub) dropLocked(ch chan LedgerEntry) {
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
		h.count.Store(int64(len(h.subs)))
	}
}

// publish delivers a durable batch to every subscriber.
func (h *hub) publish(batch []archived) {
	if h.count.Load() == 0 {
		return
	}
	entries := make([]LedgerEntry, len(batch))
	for i := range batch {
		entries[i] = toLedgerEntry(batch[i].seq, &batch[i].rec)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		for _, e := range entries {
			select {
			case ch <- e:
				continue
			default:
			}
			h.dropLocked(ch)
			break
		}
	}
}

// closeAll ends every subscription and refuses new ones.
func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		h.dropLocked(ch)
	}
}
