package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderReady returns once this node leads and its ledger reflects every
// entry committed before its term began, so that it may answer default
// reads from its own state. A leader just elected may hold entries it has
// not applied yet (committed by the previous leader, or learned by
// replication while it followed); its first entry of the term (Raft's
// no-op) follows all of them, so once an entry of its own term has been
// applied, its state is not older than any acknowledged write. Checked
// once per term; later calls in the term return at once. Elsewhere it
// answers *NotLeaderError or ErrNoLeader.
func (n *Node) LeaderReady(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if n.isClosed() {
			return ErrClosed
		}
		if n.raft.State() != raft.Leader {
			return n.notLeader()
		}
		term := n.raft.CurrentTerm()
		if n.readyTerm.Load() == term {
			return nil
		}
		var l raft.Log
		if idx := n.raft.AppliedIndex(); idx > 0 && n.logs.GetLog(idx, &l) == nil && l.Term == term {
			// Raft has handed everything up to idx over; wait until the
			// ledger has applied it.
			if err := n.waitApplied(ctx, idx, true); err != nil {
				return err
			}
			n.readyTerm.Store(term)
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("the new leader is still applying its log: %w", ctx.Err())
		case <-n.closed:
			return ErrClosed
		}
	}
}
