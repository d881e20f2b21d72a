package cluster

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// peerEntries reads entries [from, to] from a node's archive as a peer
// would serve them: leaf, Raft index, subjects and rejection text.
func peerEntries(t *testing.T, n *Node, from, to uint64) []BackfillEntry {
	t.Helper()
	var out []BackfillEntry
	for seq := from; seq <= to; seq++ {
		r, ok := archivedRecord(t, n.archive, seq)
		if !ok {
			t.Fatalf("%s lacks entry %d", n.NodeID(), seq)
		}
		out = append(out, BackfillEntry{Index: r.Index, Leaf: fsm.Leaf(seq, r.Time, !r.Rejected, r.Data),
			Subjects: r.Subjects, Error: r.Error, Alerts: r.Alerts})
	}
	return out
}

// TestBackfillAfterSnapshotInstall: a node that joins a cluster whose log
// is compacted installs a snapshot and lacks the entries it covers; it
// refuses a copy that does not prove out against the snapshot's tree
// (a changed entry, a reordered pair), takes the genuine one in chunks
// proven by the peer's consistency proofs, and then serves the same
// ledger and the same proofs as the leader.
func TestBackfillAfterSnapshotInstall(t *testing.T) {
	t.Parallel()
	cfg1 := gossipConfig(t, "node1", true, true)
	cfg1.TrailingLogs = 2
	cfg1.SnapshotInterval = time.Hour
	n1 := openNode(t, cfg1)
	waitLeader(t, n1)
	workload(t, n1, "a", 4, 30)
	snapshot(t, n1)
	n2 := openNode(t, gossipConfig(t, "node2", false, true))
	admit(t, n1, n2)
	if _, err := n1.Join(ctxT(t, 10*time.Second), n2.Self()); err != nil {
		t.Fatal(err)
	}
	last := workload(t, n1, "b", 2, 3)
	eventually(t, 10*time.Second, func() bool { return n2.TreeSize() >= last.Sequence }, "node2's tree catches up")
	from, to := n2.ArchiveGap()
	if from != 1 || to < 30 {
		t.Fatalf("node2's archive gap is [%d, %d], want [1, ≥30] after a snapshot install", from, to)
	}
	if _, err := n2.InclusionProof(1, to); err == nil {
		t.Fatal("node2 proved entry 1 before it had it")
	}
	proofs := func(a, b uint64) ([][]byte, error) { return n1.ConsistencyProof(a, b) }

	good := peerEntries(t, n1, from, to)
	tampered := peerEntries(t, n1, from, to)
	tampered[5].Leaf[len(tampered[5].Leaf)-1] ^= 1
	reordered := peerEntries(t, n1, from, to)
	reordered[3], reordered[4] = reordered[4], reordered[3]
	for name, bad := range map[string][]BackfillEntry{"a changed entry": tampered, "a reordered pair": reordered,
		"a dropped entry": append(append([]BackfillEntry{}, good[:7]...), good[8:]...)} {
		if _, err := n2.Backfill(bad, proofs); !errors.Is(err, ErrBackfill) {
			t.Fatalf("%s: backfill err = %v, want ErrBackfill", name, err)
		}
		if f, _ := n2.ArchiveGap(); f != 1 {
			t.Fatalf("%s: gap now starts at %d: something was stored", name, f)
		}
	}
	for len(good) > 0 {
		chunk := good[:min(7, len(good))]
		n, err := n2.Backfill(chunk, proofs)
		if err != nil || n != len(chunk) {
			t.Fatalf("backfill %d entries: stored %d, %v", len(chunk), n, err)
		}
		good = good[len(chunk):]
	}
	if f, tt := n2.ArchiveGap(); f != 0 || tt != 0 {
		t.Fatalf("gap [%d, %d] after backfill", f, tt)
	}
	want, got := allEntries(t, n1), allEntries(t, n2)
	if len(want) != len(got) {
		t.Fatalf("node1 serves %d entries, node2 %d", len(want), len(got))
	}
	for i := range want {
		if !bytes.Equal(mustJSON(t, want[i]), mustJSON(t, got[i])) {
			t.Fatalf("entry %d differs:\nnode1 %s\nnode2 %s", i+1, mustJSON(t, want[i]), mustJSON(t, got[i]))
		}
	}
	size := n1.TreeSize()
	p1, err1 := n1.InclusionProof(1, size)
	p2, err2 := n2.InclusionProof(1, size)
	if err1 != nil || err2 != nil || !bytes.Equal(mustJSON(t, p1), mustJSON(t, p2)) {
		t.Fatalf("proofs of entry 1 differ: %v %v", err1, err2)
	}
	pe1, _ := n1.PrincipalEntries("ap0", 0, 0)
	pe2, _ := n2.PrincipalEntries("ap0", 0, 0)
	if len(pe1) == 0 || len(pe1) != len(pe2) {
		t.Fatalf("principal ap0: node1 %d entries, node2 %d", len(pe1), len(pe2))
	}
}
