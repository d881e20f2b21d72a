package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// addVoter adds n to the leader's cluster (a stand-in for the join API).
func addVoter(t *testing.T, leader, n *Node) {
	t.Helper()
	admit(t, leader, n)
	f := leader.Raft().AddVoter(raft.ServerID(n.NodeID()), raft.ServerAddress(n.RaftAddr()), 0, 10*time.Second)
	if err := f.Error(); err != nil {
		t.Fatalf("add voter %s: %v", n.NodeID(), err)
	}
}

func converged(t *testing.T, nodes []*Node, idx uint64) string {
	t.Helper()
	var digest string
	for _, n := range nodes {
		if err := n.WaitForIndex(ctxT(t, 10*time.Second), idx); err != nil {
			t.Fatalf("%s: wait for index %d: %v", n.NodeID(), idx, err)
		}
		d := n.Ledger().Digest()
		if digest == "" {
			digest = d
		} else if d != digest {
			t.Fatalf("%s digest %s differs from %s", n.NodeID(), d, digest)
		}
		if got := n.AppliedIndex(); got < idx {
			t.Fatalf("%s AppliedIndex %d < %d", n.NodeID(), got, idx)
		}
	}
	return digest
}

func TestThreeNodeClusterReplicates(t *testing.T) {
	t.Parallel()
	n1 := openLeader(t, t.TempDir(), "127.0.0.1:0")
	// Writes before the others join reach them by log replay.
	early := workload(t, n1, "x", 3, 2)

	nodes := []*Node{n1}
	for i := 2; i <= 3; i++ {
		n := openNode(t, testConfig(t, fmt.Sprintf("node%d", i), t.TempDir(), "127.0.0.1:0", false))
		addVoter(t, n1, n)
		nodes = append(nodes, n)
	}
	converged(t, nodes, early.Index)

	last := workload(t, n1, "y", 4, 3)
	at := last.Time + 3_600_000
	converged(t, nodes, last.Index)
	for _, n := range nodes[1:] {
		if n.IsLeader() || n.State() != "follower" {
			t.Fatalf("%s state %s", n.NodeID(), n.State())
		}
		for _, id := range []string{"xp0", "yp3"} {
			if got, want := recordJSON(t, n, id, at), recordJSON(t, n1, id, at); got != want {
				t.Fatalf("%s record %s differs:\n%s\n%s", n.NodeID(), id, got, want)
			}
		}
		// Followers archive what they apply.
		checkSequences(t, allEntries(t, n), last.Sequence)
		eventually(t, 5*time.Second, func() bool { return !n.LastContact().IsZero() }, n.NodeID()+" hears from the leader")

		// Leader-only operations name the leader.
		var nle *NotLeaderError
		_, err := n.Propose(ctxT(t, time.Second), &fsm.SetOrg{OrgID: "z", Base: fsm.Point}, "")
		if !errors.As(err, &nle) || nle.LeaderID != "node1" || nle.LeaderAddr != n1.RaftAddr() {
			t.Fatalf("Propose on follower: %v", err)
		}
		if err := n.VerifyLeader(ctxT(t, time.Second)); !errors.As(err, &nle) {
			t.Fatalf("VerifyLeader on follower: %v", err)
		}
	}
	if err := n1.VerifyLeader(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("VerifyLeader on leader: %v", err)
	}

	// The leader goes away: the others elect one of themselves and go on.
	if err := n1.Close(); err != nil {
		t.Fatalf("close leader: %v", err)
	}
	rest := nodes[1:]
	var leader *Node
	eventually(t, 10*time.Second, func() bool {
		for _, n := range rest {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	}, "a new leader among node2 and node3")
	res := mustApply(t, leader, &fsm.RecordSignals{Signals: []fsm.Signal{{EventID: "after-failover", PrincipalID: "yp0", Event: "login", Impact: fsm.Point}}})
	if res.Sequence != last.Sequence+1 || res.Time < last.Time {
		t.Fatalf("after failover: sequence %d (want %d), time %d (previous %d)", res.Sequence, last.Sequence+1, res.Time, last.Time)
	}
	converged(t, rest, res.Index)
	if err := leader.VerifyLeader(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("VerifyLeader on the new leader: %v", err)
	}
}
