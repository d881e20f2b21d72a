package cluster

import (
	"sync"
	"sync/atomic"
)

// appliedIndex tracks the Raft index the FSM itself has applied (raft's own
// AppliedIndex runs ahead: it advances when a batch is handed to the FSM
// goroutine) and wakes waiters when it moves.
type appliedIndex struct {
	idx atomic.Uint64

	mu sync.Mutex
	// ch is closed and cleared when idx moves; it exists only while some
	// waiter holds it, so Apply pays for a channel only when needed.
	ch chan struct{}
}

func (a *appliedIndex) load() uint64 { return a.idx.Load() }

// set records a new applied index and wakes every waiter.
func (a *appliedIndex) set(i uint64) {
	a.idx.Store(i)
	a.mu.Lock()
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
	a.mu.Unlock()
}

// changed returns the current index and a channel closed at the next set.
// Taking the channel before reading the index means no set is missed.
func (a *appliedIndex) changed() (uint64, <-chan struct{}) {
	a.mu.Lock()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	ch := a.ch
	a.mu.Unlock()
	return a.idx.Load(), ch
}
