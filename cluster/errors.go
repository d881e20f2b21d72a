package cluster

import (
	"errors"
	"fmt"
)

// ErrNoLeader is returned when the cluster has no known leader (an election
// is in progress, leadership is being transferred, or there is no quorum).
// The operation was not applied; retry later.
var ErrNoLeader = errors.New("cluster has no leader")

// ErrClosed is returned by operations on a node that is shutting down or has
// been closed.
var ErrClosed = errors.New("node is closed")

// ErrOutcomeUnknown is returned by Propose when the entry was handed to Raft
// but the node cannot tell whether it committed: leadership was lost while it
// was in flight, or the caller's context ended first. The entry may or may
// not be in the ledger; a retry is safe for commands that carry event ids
// (they are deduplicated) and should check state first for the others.
var ErrOutcomeUnknown = errors.New("outcome of the proposal is unknown")

// NotLeaderError is returned by leader-only operations on a follower. It
// names the current leader so the caller can forward the request.
type NotLeaderError struct {
	// LeaderID is the Raft server id of the leader.
	LeaderID string
	// LeaderAddr is the leader's Raft address (not its HTTP address).
	LeaderAddr string
	// LeaderAPIAddr is the base URL of the leader's API, "" when this node
	// does not know it (yet).
	LeaderAPIAddr string
}

// Error names the leader to forward to.
func (e *NotLeaderError) Error() string {
	return fmt.Sprintf("node is not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}
