package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// fastGossip shortens memberlist's intervals so that failures are detected
// in about a second on loopback.
func fastGossip(c *memberlist.Config) {
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = 500 * time.Millisecond
	c.TCPTimeout = time.Second
	c.GossipToTheDeadTime = 5 * time.Second
	c.RetransmitMult = 2
	c.IndirectChecks = 1
}

// steadyRaft is fastRaft with more room: membership tests add and remove
// voters while gossip runs, and on a loaded machine 100 ms leases make a
// leader step down when a new follower is slow to answer its first
// heartbeats.
func steadyRaft(c *raft.Config) {
	fastRaft(c)
	c.HeartbeatTimeout = 400 * time.Millisecond
	c.ElectionTimeout = 400 * time.Millisecond
	c.LeaderLeaseTimeout = 300 * time.Millisecond
}

// gossipConfig is testConfig with gossip on and a quick reconciler.
func gossipConfig(t *testing.T, id string, bootstrap, voter bool) Config {
	cfg := testConfig(t, id, t.TempDir(), "127.0.0.1:0", bootstrap)
	cfg.Voter = voter
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.APIAddr = "http://" + id + ".test:8470"
	cfg.ReconcileInterval = 50 * time.Millisecond
	cfg.TuneGossip = fastGossip
	cfg.tune = steadyRaft
	return cfg
}

func suffrageOf(t *testing.T, n *Node, id string) string {
	t.Helper()
	ms, err := n.Members()
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	for _, m := range ms.Members {
		if m.ID == id {
			return m.Suffrage
		}
	}
	return "absent"
}

func memberOf(t *testing.T, n *Node, id string) Member {
	t.Helper()
	ms, err := n.Members()
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	for _, m := range ms.Members {
		if m.ID == id {
			return m
		}
	}
	return Member{}
}

func TestMetaRoundTrip(t *testing.T) {
	t.Parallel()
	p := Peer{ID: "n1", RaftAddr: "10.0.0.1:8471", APIAddr: "https://node-1.example:8470", Region: "eu-west-1", Voter: true}
	b, err := encodeMeta(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 80 {
		t.Errorf("meta is %d bytes", len(b))
	}
	got, ok := decodeMeta("n1", "10.0.0.1:8472", b)
	p.GossipAddr = "10.0.0.1:8472"
	if !ok || got != p {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	for _, bad := range [][]byte{nil, {metaFormat}, {2, 0x90}, append([]byte{metaFormat}, bytes.Repeat([]byte{0xff}, 600)...)} {
		if _, ok := decodeMeta("x", "", bad); ok {
			t.Errorf("decoded %x", bad)
		}
	}
	if _, err := encodeMeta(Peer{ID: "n1", Region: string(bytes.Repeat([]byte("r"), 600))}); err == nil {
		t.Error("oversized meta encoded")
	}
}

// Gossip carries every node's addresses, region and role, but never
// grants membership: a node that gossips with the cluster's key is not
// added to the Raft configuration until it joins explicitly; an explicit
// join is idempotent and refuses conflicting ids and addresses.
func TestGossipNeverGrantsMembership(t *testing.T) {
	t.Parallel()
	n1 := openNode(t, gossipConfig(t, "node1", true, true))
	waitLeader(t, n1)

	// node2 holds the cluster's identity and gossip key, and gossips: it
	// stays outside the Raft configuration however often the leader
	// reconciles.
	n2 := openNode(t, gossipConfig(t, "node2", false, true))
	admit(t, n1, n2)
	if _, err := n2.JoinGossip([]string{n1.GossipAddr()}); err != nil {
		t.Fatalf("join gossip: %v", err)
	}
	eventually(t, 10*time.Second, func() bool { return memberOf(t, n1, "node2").Gossip == GossipAlive }, "node2 alive in node1's gossip")
	for range 5 {
		n1.reconcile()
	}
	if s := suffrageOf(t, n1, "node2"); s != SuffrageNone {
		t.Fatalf("node2, only gossiping, has suffrage %s", s)
	}
	if res, err := n1.Join(ctxT(t, 10*time.Second), n2.Self()); err != nil || res.Action != JoinAdded {
		t.Fatalf("join node2: %+v %v", res, err)
	}

	// node3, a read replica, joins explicitly; the leader contacts its gossip.
	cfg3 := gossipConfig(t, "node3", false, false)
	cfg3.Region = "remote"
	n3 := openNode(t, cfg3)
	admit(t, n1, n3)
	res, err := n1.Join(ctxT(t, 10*time.Second), n3.Self())
	if err != nil || res.Action != JoinAdded || res.Index == 0 {
		t.Fatalf("join node3: %+v %v", res, err)
	}
	eventually(t, 10*time.Second, func() bool {
		m := memberOf(t, n2, "node3")
		return m.Suffrage == SuffrageNonvoter && m.Gossip == GossipAlive && m.Region == "remote" && m.Role == SuffrageNonvoter
	}, "node2 sees node3 as an alive non-voter in region remote")
	eventually(t, 10*time.Second, func() bool { return n3.LeaderAPIAddr() == "http://node1.test:8470" }, "node3 knows the leader's API address")

	last := workload(t, n1, "g", 2, 2)
	converged(t, []*Node{n1, n2, n3}, last.Index)

	ms, err := n3.Members()
	if err != nil {
		t.Fatal(err)
	}
	if ms.LeaderID != "node1" || ms.Voters != 2 || ms.Quorum != 2 || len(ms.Members) != 3 {
		t.Fatalf("membership seen by node3: %+v", ms)
	}
	for _, m := range ms.Members {
		if m.Gossip != GossipAlive || m.RaftAddr == "" || m.APIAddr == "" || m.GossipAddr == "" || m.Leader != (m.ID == "node1") || m.Self != (m.ID == "node3") {
			t.Errorf("member %+v", m)
		}
	}

	// Idempotent; promotion; conflicts.
	if res, err := n1.Join(ctxT(t, 10*time.Second), n3.Self()); err != nil || res.Action != JoinNone {
		t.Fatalf("join again: %+v %v", res, err)
	}
	self3 := n3.Self()
	self3.Voter = true
	if res, err := n1.Join(ctxT(t, 10*time.Second), self3); err != nil || res.Action != JoinPromoted {
		t.Fatalf("promote: %+v %v", res, err)
	}
	other := n3.Self()
	other.RaftAddr = "127.0.0.1:1"
	if _, err := n1.Join(ctxT(t, 5*time.Second), other); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("same id, another raft address: %v", err)
	}
	other = n3.Self()
	other.APIAddr = "http://elsewhere:1"
	if _, err := n1.Join(ctxT(t, 5*time.Second), other); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("same id, another API address of a live node: %v", err)
	}
	other = Peer{ID: "node9", RaftAddr: n3.RaftAddr(), APIAddr: "http://node9.test:8470", Voter: true}
	if _, err := n1.Join(ctxT(t, 5*time.Second), other); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("another id, a taken raft address: %v", err)
	}
	if _, err := n1.Join(ctxT(t, 5*time.Second), Peer{ID: "bad id", RaftAddr: "x"}); !errors.Is(err, ErrInvalidPeer) {
		t.Fatalf("invalid peer: %v", err)
	}
	var nl *NotLeaderError
	if _, err := n2.Join(ctxT(t, 5*time.Second), n3.Self()); !errors.As(err, &nl) || nl.LeaderID != "node1" {
		t.Fatalf("join on a follower: %v", err)
	}

	// An operator removes node3 while it runs: it stays out, and may join
	// again explicitly.
	if err := n1.RemoveServer(ctxT(t, 10*time.Second), "node3"); err != nil {
		t.Fatalf("remove node3: %v", err)
	}
	n1.reconcile()
	if s := suffrageOf(t, n1, "node3"); s != SuffrageNone {
		t.Fatalf("node3 after removal and a reconcile pass: %s", s)
	}
	if err := n1.RemoveServer(ctxT(t, 5*time.Second), "node3"); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("remove twice: %v", err)
	}
	if res, err := n1.Join(ctxT(t, 10*time.Second), n3.Self()); err != nil || res.Action != JoinAdded {
		t.Fatalf("join after removal: %+v %v", res, err)
	}
}

// A voter is never removed when the voters left up could not form a
// quorum, whoever asks.
func TestRemovalKeepsQuorum(t *testing.T) {
	t.Parallel()
	n1 := openNode(t, gossipConfig(t, "node1", true, true))
	waitLeader(t, n1)
	nodes := []*Node{n1}
	for i := 2; i <= 3; i++ {
		n := openNode(t, gossipConfig(t, fmt.Sprintf("node%d", i), false, true))
		admit(t, n1, n)
		if _, err := n1.Join(ctxT(t, 10*time.Second), n.Self()); err != nil {
			t.Fatalf("join node%d: %v", i, err)
		}
		nodes = append(nodes, n)
	}
	last := workload(t, n1, "q", 1, 1)
	converged(t, nodes, last.Index)

	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		g := memberOf(t, n1, "node3").Gossip
		return g == GossipLeft || g == GossipDead
	}, "node3 reported gone")
	// Without node2, node1 and the dead node3 would remain: one up of two.
	if err := n1.RemoveServer(ctxT(t, 5*time.Second), "node2"); !errors.Is(err, ErrQuorum) {
		t.Fatalf("removing node2 with node3 dead: %v", err)
	}
	// Without node3, node1 and node2 remain, both up.
	if err := n1.RemoveServer(ctxT(t, 10*time.Second), "node3"); err != nil {
		t.Fatalf("removing the dead node3: %v", err)
	}
	if err := n1.RemoveServer(ctxT(t, 10*time.Second), "node2"); err != nil {
		t.Fatalf("removing node2 with both up: %v", err)
	}
	if err := n1.RemoveServer(ctxT(t, 5*time.Second), "node1"); !errors.Is(err, ErrQuorum) {
		t.Fatalf("removing the last voter: %v", err)
	}
	mustApply(t, n1, &fsm.SetOrg{OrgID: "still-up", Base: fsm.Point})
}

// With a grace period, the leader removes a server gossip has reported
// dead for that long, as long as the others keep a quorum.
func TestDeadServerGrace(t *testing.T) {
	t.Parallel()
	cfg1 := gossipConfig(t, "node1", true, true)
	cfg1.DeadServerGrace = 300 * time.Millisecond
	n1 := openNode(t, cfg1)
	waitLeader(t, n1)
	nodes := []*Node{n1}
	for i := 2; i <= 4; i++ {
		n := openNode(t, gossipConfig(t, fmt.Sprintf("node%d", i), false, i <= 3))
		admit(t, n1, n)
		if _, err := n1.Join(ctxT(t, 10*time.Second), n.Self()); err != nil {
			t.Fatalf("join node%d: %v", i, err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		id := n.NodeID()
		eventually(t, 10*time.Second, func() bool { return memberOf(t, n1, id).Gossip == GossipAlive }, id+" alive in node1's gossip")
	}
	// The read replica node4, then the voter node3: node1 and node2 keep a
	// quorum of the two voters left.
	for _, dead := range []*Node{nodes[3], nodes[2]} {
		if err := dead.Close(); err != nil {
			t.Fatal(err)
		}
		id := dead.NodeID()
		eventually(t, 15*time.Second, func() bool { return suffrageOf(t, n1, id) == SuffrageNone }, id+" removed after the grace period")
	}
	ms, err := n1.Members()
	if err != nil || ms.Voters != 2 || !n1.IsLeader() {
		t.Fatalf("after the removals: %+v %v leader %v", ms, err, n1.IsLeader())
	}
}

// A backup restores into another cluster, reaches its followers, and an
// older backup is refused.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	a := openLeader(t, t.TempDir(), "127.0.0.1:0")
	last := workload(t, a, "r", 3, 3)
	var backup bytes.Buffer
	b := a.Backup()
	if _, err := b.WriteTo(&backup); err != nil {
		t.Fatal(err)
	}
	if b.Index() != last.Index {
		t.Fatalf("backup index %d, want %d", b.Index(), last.Index)
	}
	b.Release()
	want := a.Ledger().Status()
	at := last.Time + 3_600_000

	cfgB1 := testConfig(t, "b1", t.TempDir(), "127.0.0.1:0", true)
	cfgB1.tune = steadyRaft
	b1 := openNode(t, cfgB1)
	waitLeader(t, b1)
	cfgB2 := testConfig(t, "b2", t.TempDir(), "127.0.0.1:0", false)
	cfgB2.tune = steadyRaft
	b2 := openNode(t, cfgB2)
	addVoter(t, b1, b2)
	mustApply(t, b1, &fsm.SetOrg{OrgID: "other", Base: fsm.Point})

	if _, err := b1.Restore(ctxT(t, 10*time.Second), bytes.NewReader([]byte("not a snapshot"))); !errors.Is(err, ErrInvalidSnapshot) {
		t.Fatalf("garbage: %v", err)
	}
	before := b1.AppliedIndex()
	res, err := b1.Restore(ctxT(t, 30*time.Second), bytes.NewReader(backup.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Digest != want.Digest || res.Sequence != want.Sequence || res.Index <= before {
		t.Fatalf("restore result %+v, want digest %s sequence %d after index %d", res, want.Digest, want.Sequence, before)
	}
	for _, n := range []*Node{b1, b2} {
		eventually(t, 10*time.Second, func() bool { return n.Ledger().Digest() == want.Digest }, n.NodeID()+" has the restored state")
		if got := recordJSON(t, n, "rp1", at); got != recordJSON(t, a, "rp1", at) {
			t.Fatalf("%s record after restore differs", n.NodeID())
		}
		if n.AppliedIndex() < before {
			t.Fatalf("%s applied index went back to %d", n.NodeID(), n.AppliedIndex())
		}
	}
	// The cluster goes on from the restored state.
	res2 := mustApply(t, b1, &fsm.RegisterPrincipal{PrincipalID: "after-restore", PrincipalType: "user"})
	if res2.Sequence != want.Sequence+1 {
		t.Fatalf("sequence after restore %d, want %d", res2.Sequence, want.Sequence+1)
	}
	converged(t, []*Node{b1, b2}, res2.Index)

	// An older backup would rewind the ledger.
	if _, err := b1.Restore(ctxT(t, 10*time.Second), bytes.NewReader(backup.Bytes())); !errors.Is(err, ErrSnapshotBehind) {
		t.Fatalf("older backup: %v", err)
	}
	var nl *NotLeaderError
	if _, err := b2.Restore(ctxT(t, 10*time.Second), bytes.NewReader(backup.Bytes())); !errors.As(err, &nl) {
		t.Fatalf("restore on a follower: %v", err)
	}
}

// With a gossip key, only nodes that share it form a pool.
func TestGossipKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	cfg1 := gossipConfig(t, "node1", true, true)
	cfg1.GossipKey = key
	n1 := openNode(t, cfg1)
	cfg2 := gossipConfig(t, "node2", false, true)
	cfg2.GossipKey = key
	n2 := openNode(t, cfg2)
	if _, err := n2.JoinGossip([]string{n1.GossipAddr()}); err != nil {
		t.Fatalf("join with the key: %v", err)
	}
	cfg3 := gossipConfig(t, "node3", false, true)
	cfg3.GossipKey = bytes.Repeat([]byte{8}, 32)
	n3 := openNode(t, cfg3)
	if _, err := n3.JoinGossip([]string{n1.GossipAddr()}); err == nil {
		t.Fatal("a node with another key joined")
	}
	cfg4 := gossipConfig(t, "node4", false, true)
	cfg4.Insecure = true
	n4 := openNode(t, cfg4)
	if _, err := n4.JoinGossip([]string{n1.GossipAddr()}); err == nil {
		t.Fatal("a node without the key joined")
	}
	if m := memberOf(t, n1, "node2"); m.Gossip != GossipAlive {
		t.Fatalf("node2 in node1's pool: %+v", m)
	}
	cfg5 := gossipConfig(t, "node5", false, true)
	cfg5.GossipKey = []byte("short")
	if _, err := Open(cfg5); err == nil {
		t.Fatal("a 5-byte key accepted")
	}
}
