package api

import (
	"context"
	"time"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// Proposer is the part of a node that proposes ledger commands.
type Proposer interface {
	// Ledger returns the node's replicated state machine.
	Ledger() *fsm.Ledger
	// Propose replicates cmd, written by the token actor, and returns the
	// result of applying it. A node that is not the leader answers with a
	// *cluster.NotLeaderError or cluster.ErrNoLeader.
	Propose(ctx context.Context, cmd fsm.Command, actor string) (*fsm.Result, error)
}

// Backend is everything the API needs from a node. *cluster.Node satisfies
// it.
type Backend interface {
	Proposer
	Verifiable
	NodeID() string
	Region() string
	// State is "leader", "follower", "candidate" or "shutdown", for
	// display; decide with IsLeader.
	State() string
	// IsLeader reports whether this node is the leader now.
	IsLeader() bool
	// LeaseRead returns once this node may answer a default read: it
	// leads, has applied everything committed before its term, and holds
	// a read lease (renewed with a quorum check when it has run out).
	LeaseRead(ctx context.Context) error
	// Leader returns the current leader's id and Raft address ("" when
	// none is known).
	Leader() (id, raftAddr string)
	// AppliedIndex is the Raft index the state machine has applied.
	AppliedIndex() uint64
	// CommitIndex is the latest Raft index the node knows to be
	// committed; AppliedIndex trails it while the node catches up.
	CommitIndex() uint64
	// WaitForIndex returns when the applied index reaches idx or ctx ends.
	WaitForIndex(ctx context.Context, idx uint64) error
	// VerifyLeader confirms leadership with a quorum and waits until the
	// commit index is applied.
	VerifyLeader(ctx context.Context) error
	// LastContact is when the node last heard from the leader (zero on
	// the leader).
	LastContact() time.Time
	// Entries returns up to limit ledger entries with a sequence above
	// after.
	Entries(after uint64, limit int) ([]cluster.LedgerEntry, error)
	// PrincipalEntries is Entries restricted to one principal.
	PrincipalEntries(id string, after uint64, limit int) ([]cluster.LedgerEntry, error)
	// RaftMetrics reads the node's Raft and cluster state for /metrics.
	RaftMetrics() cluster.RaftMetrics
	// Subscribe delivers entries as they are applied until the returned
	// function is called; a subscriber that falls behind has its channel
	// closed.
	Subscribe() (<-chan cluster.LedgerEntry, func())
}

var _ Backend = (*cluster.Node)(nil)
