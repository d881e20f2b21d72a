package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// backfillRetry is how often a node whose archive has a gap tries to fill
// it, and how long it waits after a failure.
const backfillRetry = 2 * time.Second

// backfillChunk is how many entries one copy takes: one page of the
// ledger, proven by one consistency proof.
const backfillChunk = 1000

// backfill copies, until ctx ends, the ledger entries an installed
// snapshot covered from the leader into this node's archive
// (cluster.Node.Backfill verifies each chunk against the tree before it
// stores it), node to node over TLS with the node's certificate.
func backfill(ctx context.Context, node *cluster.Node, log *slog.Logger) {
	t := time.NewTicker(backfillRetry)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		from, _ := node.ArchiveGap()
		leaderID, _ := node.Leader()
		addr := node.LeaderAPIAddr()
		if from == 0 || !node.HasIdentity() || leaderID == "" || leaderID == node.NodeID() || addr == "" {
			continue
		}
		cl, err := leaderClient(node, leaderID, addr)
		if err != nil {
			continue
		}
		err = backfillFrom(ctx, cl, node, from)
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr:
			// Once per cause: a leader restored from a backup lacks the
			// entries too, and says so every try.
			lastErr = err.Error()
			log.Warn("could not copy ledger entries from the leader yet", "leader", leaderID, "from_sequence", from, "error", err)
		}
	}
}

// backfillFrom copies chunks from the leader while the gap lasts.
func backfillFrom(ctx context.Context, cl *client.Client, node *cluster.Node, from uint64) error {
	proofs := func(a, b uint64) ([][]byte, error) {
		p, err := cl.ConsistencyProof(ctx, a, b)
		if err != nil {
			return nil, err
		}
		return p.Hashes, nil
	}
	for from != 0 && ctx.Err() == nil {
		page, _, err := cl.Ledger(ctx, client.Page{After: from - 1, Limit: backfillChunk}, &client.ReadOptions{Consistency: client.ConsistencyStale})
		if err != nil {
			return err
		}
		entries := make([]cluster.BackfillEntry, 0, len(page.Entries))
		for _, e := range page.Entries {
			entries = append(entries, cluster.BackfillEntry{Index: e.Index, Leaf: e.Leaf, Subjects: e.Subjects, Error: e.Error, Alerts: e.Alerts})
		}
		if len(entries) == 0 {
			return nil
		}
		if first := page.Entries[0].Sequence; first != from {
			return fmt.Errorf("the leader's archive starts at sequence %d: it lacks the entries from %d too (a cluster restored from a backup)", first, from)
		}
		if _, err := node.Backfill(entries, proofs); err != nil {
			return err
		}
		from, _ = node.ArchiveGap()
	}
	return nil
}
