package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// slowLeaseRaft keeps a leader cut off from its followers in the Leader
// state for a while (LeaderLeaseTimeout 2 s) so that the test can ask it
// for default reads after its read lease (1 s) has run out.
func slowLeaseRaft(c *raft.Config) {
	c.HeartbeatTimeout = 2 * time.Second
	c.ElectionTimeout = 2 * time.Second
	c.LeaderLeaseTimeout = 2 * time.Second
	c.CommitTimeout = 5 * time.Millisecond
}

// A leader whose followers have gone stops answering default reads once
// its read lease runs out, although Raft still has it in the Leader state:
// a new leader may exist elsewhere by then, with writes this one lacks.
func TestDeposedLeaderStopsAnsweringDefaultReadsWhenItsLeaseEnds(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), "127.0.0.1:0", true)
	cfg.tune = slowLeaseRaft
	n1 := openNode(t, cfg)
	waitLeader(t, n1)
	var followers []*Node
	for i := 2; i <= 3; i++ {
		c := testConfig(t, fmt.Sprintf("node%d", i), t.TempDir(), "127.0.0.1:0", false)
		c.tune = slowLeaseRaft
		n := openNode(t, c)
		addVoter(t, n1, n)
		followers = append(followers, n)
	}
	workload(t, n1, "p", 2, 1)
	if err := n1.LeaseRead(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("default read on a leader in touch with its followers: %v", err)
	}
	if n1.lease.length != time.Second {
		t.Fatalf("lease length %s, want half of the 2 s heartbeat timeout", n1.lease.length)
	}

	for _, f := range followers {
		if err := f.Close(); err != nil {
			t.Fatalf("close %s: %v", f.NodeID(), err)
		}
	}
	cut := time.Now()
	// Within the lease the leader still answers: no other leader can have
	// been elected yet.
	if err := n1.LeaseRead(ctxT(t, 200*time.Millisecond)); err != nil {
		t.Fatalf("default read within the lease: %v", err)
	}
	time.Sleep(time.Until(cut.Add(1300 * time.Millisecond))) // past the lease, before Raft's 2 s step-down
	if !n1.IsLeader() {
		t.Fatalf("precondition: node1 stepped down %s after losing its followers; the test needs it still leading", time.Since(cut))
	}
	// What default reads used to check, and what still passes here.
	if err := n1.LeaderReady(ctxT(t, 100*time.Millisecond)); err != nil {
		t.Fatalf("precondition: LeaderReady: %v", err)
	}
	if err := n1.LeaseRead(ctxT(t, 100*time.Millisecond)); err == nil {
		t.Fatalf("default read answered %s after the followers went, with the lease run out", time.Since(cut))
	}
}

// A leadership transfer ends the lease before it starts: the follower asked
// to take over is elected at once, by voters that still know this leader.
func TestLeadershipTransferEndsTheReadLease(t *testing.T) {
	t.Parallel()
	n1 := openLeader(t, t.TempDir(), "127.0.0.1:0")
	if err := n1.LeaseRead(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("default read: %v", err)
	}
	term := n1.raft.CurrentTerm()
	if !n1.lease.valid(term, time.Now()) {
		t.Fatal("no lease after a default read")
	}
	n1.lease.transfer.Add(1)
	if n1.lease.valid(term, time.Now()) {
		t.Fatal("lease valid while a transfer is in progress")
	}
	n1.lease.end()
	n1.lease.transfer.Add(-1)
	if n1.lease.valid(term, time.Now()) {
		t.Fatal("lease taken before a transfer still valid after it")
	}
	if n1.lease.valid(term+1, time.Now()) {
		t.Fatal("lease valid in another term")
	}
	if err := n1.LeaseRead(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("default read after the transfer failed: %v", err)
	}
}

// A node with Raft state does not start Raft, and so cannot vote, until a
// lease length has passed since it began to open: it may have acknowledged
// a leader's quorum check just before it crashed.
func TestRestartedNodeHoldsOffVotingForALease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, "127.0.0.1:0", true)
	cfg.tune = slowLeaseRaft
	n := openNode(t, cfg)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n = openNode(t, cfg)
	if took := time.Since(start); took < n.lease.length {
		t.Fatalf("reopen with Raft state took %s, less than the %s lease", took, n.lease.length)
	}
	start = time.Now()
	fresh := testConfig(t, "node2", t.TempDir(), "127.0.0.1:0", true)
	fresh.tune = slowLeaseRaft
	openNode(t, fresh)
	if took := time.Since(start); took >= time.Second {
		t.Fatalf("a new node held back %s; only nodes with Raft state wait", took)
	}
}
