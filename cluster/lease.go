package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Default reads are answered by the leader from its own state, without a
// quorum round per read, under a read lease (docs/api.md, "Reads";
// docs/operations.md, "Read lease"). The argument, after the Raft thesis
// §6.4.1:
//
//   - A lease starts at t0, taken before a quorum check (raft's
//     VerifyLeader) that then succeeds: every voter of that quorum heard
//     from this leader, in this term, after t0.
//   - A follower that knows a leader refuses to vote for anyone else
//     (hashicorp/raft's requestVote) until it has not heard from that leader
//     for at least HeartbeatTimeout. A node that restarted knows no leader,
//     so Open holds a node that has Raft state back by the lease length
//     before Raft starts (holdBeforeVoting): it cannot vote within the lease
//     either. A leadership transfer, the one way a follower votes while it
//     knows a leader, ends the lease before it starts.
//   - Any new leader needs a vote from a member of that quorum, so none can
//     be elected before t0 + min(HeartbeatTimeout, lease). The lease lasts
//     half of HeartbeatTimeout, measured on the monotonic clock, so while it
//     holds no other leader exists and every acknowledged write is in this
//     node's state (LeaderReady covers what earlier leaders committed).
//
// A paused leader (SIGSTOP, a long GC) resumes with its lease expired, as
// the monotonic clock runs on while a process is stopped.

// readLease is a confirmed quorum contact: term, the monotonic time taken
// just before the check began, and the lease epoch it was taken in.
type readLease struct {
	term  uint64
	start time.Time
	epoch uint64
}

// leaseState is the node's read lease. renewMu lets one quorum check run at
// a time; reads that find the lease expired wait for it.
type leaseState struct {
	length   time.Duration
	current  atomic.Pointer[readLease]
	epoch    atomic.Uint64 // bumped to end every lease taken before
	transfer atomic.Int32  // leadership transfers in progress
	renewMu  sync.Mutex
}

// leaseFraction of HeartbeatTimeout is the lease length.
const leaseFraction = 2

// newLeaseState sizes the lease from Raft's heartbeat timeout.
func newLeaseState(heartbeat time.Duration) *leaseState {
	return &leaseState{length: heartbeat / leaseFraction}
}

// valid reports whether the lease covers now in term.
func (l *leaseState) valid(term uint64, now time.Time) bool {
	cur := l.current.Load()
	return cur != nil && l.transfer.Load() == 0 && cur.term == term &&
		cur.epoch == l.epoch.Load() && now.Sub(cur.start) < l.length
}

// end invalidates the current lease (a transfer is about to begin).
func (l *leaseState) end() { l.epoch.Add(1) }

// LeaseRead returns once this node may answer a default read from its own
// state: it leads, has applied everything committed before its term
// (LeaderReady), and holds a read lease, renewed here with a quorum check
// when it has run out. Errors as for VerifyLeader.
func (n *Node) LeaseRead(ctx context.Context) error {
	if err := n.LeaderReady(ctx); err != nil {
		return err
	}
	term := n.raft.CurrentTerm()
	if n.lease.valid(term, time.Now()) {
		return nil
	}
	return n.renewLease(ctx, true)
}

// renewLease runs a quorum check and, when it succeeds in the term it began
// in, records a lease from the time it began. With wait, a caller that finds
// a check already running waits for it and then re-checks the lease.
func (n *Node) renewLease(ctx context.Context, wait bool) error {
	if wait {
		n.lease.renewMu.Lock()
	} else if !n.lease.renewMu.TryLock() {
		return nil
	}
	defer n.lease.renewMu.Unlock()
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	term := n.raft.CurrentTerm()
	start := time.Now()
	if n.lease.valid(term, start) && wait {
		return nil // renewed while this caller waited
	}
	epoch := n.lease.epoch.Load()
	if err := n.VerifyLeader(ctx); err != nil {
		return err
	}
	if n.raft.CurrentTerm() == term && n.lease.transfer.Load() == 0 {
		n.lease.current.Store(&readLease{term: term, start: start, epoch: epoch})
		return nil
	}
	// The term moved or a transfer began during the check: the read is
	// still linearizable (it follows a quorum check), but no lease is kept.
	return nil
}

// leaseLoop keeps the lease fresh while this node leads, so that default
// reads rarely wait for a quorum check: every third of the lease length.
func (n *Node) leaseLoop() {
	t := time.NewTicker(n.lease.length / 3)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Leader || n.lease.transfer.Load() != 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.lease.length)
		if err := n.renewLease(ctx, false); err != nil {
			n.log.Debug("read lease not renewed", "error", err)
		}
		cancel()
	}
}

// holdBeforeVoting delays the start of Raft on a node that has Raft state
// until the lease length has passed since Open began, so that a node that
// crashed right after acknowledging a leader's quorum check cannot vote for
// another candidate while that leader's lease runs.
func (n *Node) holdBeforeVoting() {
	if !n.existing {
		return
	}
	wait := n.lease.length - time.Since(n.openedAt)
	if wait <= 0 {
		return
	}
	select {
	case <-time.After(wait):
	case <-n.closed:
	}
}
