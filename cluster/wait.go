package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// pollInterval is how often waits re-check conditions that have no
// notification of their own (a leader appearing, Raft handing a non-command
// entry to the FSM).
const pollInterval = 5 * time.Millisecond

// WaitForIndex returns once the ledger reflects every committed entry up to
// Raft index idx (read-your-writes: pass the index a write returned). Raft
// entries that carry no command (configuration, no-op, barrier) do not move
// AppliedIndex, so for them the wait ends when every command before them is
// applied. It fails with the context's error or ErrClosed.
func (n *Node) WaitForIndex(ctx context.Context, idx uint64) error {
	return n.waitApplied(ctx, idx, false)
}

// VerifyLeader makes a linearizable read safe (docs/api.md, "Reads"): it
// confirms with a quorum that this node still leads, then waits until the
// ledger has applied every entry the leader had when the read began. Any
// write acknowledged before the read is in the leader's log (leader
// completeness), so the read sees it. Errors: *NotLeaderError / ErrNoLeader
// when this node does not lead, the context's error, ErrClosed.
func (n *Node) VerifyLeader(ctx context.Context) error {
	if n.isClosed() {
		return ErrClosed
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	// Taken before the quorum check: once leadership is confirmed after
	// this point, no other leader can have committed anything beyond it.
	last := n.raft.LastIndex()
	if err := n.waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return n.notLeader()
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return ErrClosed
		}
		return fmt.Errorf("verify leadership: %w", err)
	}
	return n.waitApplied(ctx, last, true)
}

// WaitForLeader returns once a leader is known (this node or another).
func (n *Node) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if _, addr := n.Leader(); addr != "" {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for leader: %w", ctx.Err())
		case <-n.closed:
			return ErrClosed
		}
	}
}

// waitApplied waits until the ledger reflects every entry up to idx. With
// leaderOnly it gives up as soon as this node stops leading (the entries it
// waits for might then never commit).
func (n *Node) waitApplied(ctx context.Context, idx uint64, leaderOnly bool) error {
	var tick <-chan time.Time
	for {
		applied, changed := n.applied.changed()
		if applied >= idx {
			return nil
		}
		if leaderOnly && n.raft.State() != raft.Leader {
			return n.notLeader()
		}
		if n.raft.AppliedIndex() >= idx {
			// Raft has handed every entry up to idx to the FSM goroutine.
			// If none of those beyond the ledger's index is a command, the
			// ledger already reflects them all; else wait for the last one.
			k, err := n.lastCommand(applied, idx)
			if err != nil {
				return err
			}
			if k <= applied {
				return nil
			}
			idx = k
			continue
		}
		if tick == nil {
			t := time.NewTicker(pollInterval)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-changed:
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closed:
			return ErrClosed
		}
	}
}

// lastCommand returns the index of the last command entry in (after, upTo],
// or 0 if there is none. Entries missing from the log were compacted into a
// snapshot the ledger already holds, so the scan stops at the first gap.
func (n *Node) lastCommand(after, upTo uint64) (uint64, error) {
	var l raft.Log
	for i := upTo; i > after; i-- {
		if err := n.logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return 0, nil
			}
			return 0, fmt.Errorf("read raft log at %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			return i, nil
		}
	}
	return 0, nil
}
