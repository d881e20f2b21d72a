package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// Propose writes cmd to the ledger through Raft and returns its result once
// this node's ledger has applied it. Only the leader proposes: it stamps the
// entry with its wall clock (the ledger keeps max(previous, stamp)) and the
// actor (the id of the token that asked).
//
// A rejected entry is committed all the same and is not an error here: look
// at Result.Err. Errors: *NotLeaderError on a follower, ErrNoLeader when
// there is none (nothing was written; retry), ErrOutcomeUnknown (with the
// context error, if that was the cause) when the entry was submitted but its
// fate is unknown, ErrClosed during shutdown.
func (n *Node) Propose(ctx context.Context, cmd fsm.Command, actor string) (*fsm.Result, error) {
	if cmd == nil {
		return nil, errors.New("propose: nil command")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.isClosed() {
		return nil, ErrClosed
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	n.writesMu.RLock()
	defer n.writesMu.RUnlock()
	data, err := fsm.EncodeEntry(cmd, time.Now().UnixMilli(), actor)
	if err != nil {
		return nil, fmt.Errorf("propose %s: %w", cmd.Kind(), err)
	}
	// Raft's timeout bounds only the wait to enqueue; ctx bounds the rest.
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	f := n.raft.Apply(data, timeout)
	if err := n.waitFuture(ctx, f); err != nil {
		return nil, n.proposeError(cmd.Kind(), err)
	}
	res, ok := f.Response().(*fsm.Result)
	if !ok {
		return nil, fmt.Errorf("propose %s: unexpected FSM response %T", cmd.Kind(), f.Response())
	}
	return res, nil
}

// proposeError maps Raft's errors to the package's.
func (n *Node) proposeError(kind fsm.Kind, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return n.notLeader()
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("propose %s: %w (leadership transfer in progress)", kind, ErrNoLeader)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("propose %s: %w", kind, context.DeadlineExceeded)
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, ErrClosed):
		// Submitted before the shutdown: it may still have committed, so
		// a blind retry could apply it twice.
		return fmt.Errorf("propose %s: %w: %w", kind, ErrOutcomeUnknown, ErrClosed)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("propose %s: %w: %w", kind, ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("propose %s: %w", kind, err)
}

func (n *Node) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}

// notLeader describes who leads, for a caller that must forward.
func (n *Node) notLeader() error {
	id, addr := n.Leader()
	if addr == "" {
		return ErrNoLeader
	}
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr, LeaderAPIAddr: n.LeaderAPIAddr()}
}

// waitFuture waits for a Raft future, the context or the node's shutdown.
// The helper goroutine ends when the future resolves, which Raft guarantees
// (at the latest with ErrRaftShutdown).
func (n *Node) waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.closed:
		return ErrClosed
	}
}
