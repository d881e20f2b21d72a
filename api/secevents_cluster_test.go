package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/internal/testnode"
)

// The same SET delivered many times at once is applied exactly once: one
// 202, every other delivery "jti already used".
func TestSETConcurrentDuplicatesAppliedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	p := h.addPartner("p1", nil)
	set := p.sign(t, "EdDSA", p.claims("same", "alice", federation.EventSessionRevoked, map[string]any{}))
	const n = 12
	statuses := make(chan response, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- h.push(p.token, set)
		}()
	}
	wg.Wait()
	close(statuses)
	accepted := 0
	for r := range statuses {
		switch {
		case r.status == http.StatusAccepted:
			accepted++
		case r.status != http.StatusBadRequest || r.setError(t).Description != "jti already used":
			t.Errorf("delivery: %d %s", r.status, r.body)
		}
	}
	if accepted != 1 {
		t.Errorf("%d deliveries accepted, want 1", accepted)
	}
	if a := h.node.Ledger().Alerts("", "alice"); len(a) != 1 {
		t.Errorf("%d alerts, want 1", len(a))
	}
}

// Three voters joined by raft.AddVoter alone, without gossip: a follower
// that does not know the leader's API address refuses a SET with
// not-leader and changes nothing anywhere; pushed to the leader it is
// applied once on every node; after the leadership moves, the new leader
// refuses the replay. (With gossip a follower forwards the push:
// clustertest.TestSETPushedToFollowerAppliedOnce.)
func TestSETThreeNodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	p := h.addPartner("p1", nil)

	nodes := []*harness{h}
	for _, id := range []string{"n2", "n3"} {
		n, err := cluster.Open(cluster.Config{NodeID: id, DataDir: filepath.Join(t.TempDir(), id), RaftAddr: "127.0.0.1:0",
			Region: "test", Voter: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		testnode.Admit(t, h.node, n)
		if err := h.node.Raft().AddVoter(raft.ServerID(id), raft.ServerAddress(n.RaftAddr()), 0, 10*time.Second).Error(); err != nil {
			t.Fatalf("add voter %s: %v", id, err)
		}
		s := New(Config{Registry: prometheus.NewRegistry()}, n)
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(func() { _ = s.Close(); srv.Close() })
		nodes = append(nodes, &harness{t: t, node: n, api: s, srv: srv, admin: h.admin, audit: h.audit, tokens: h.tokens})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	converged := func() ledgerState {
		t.Helper()
		idx := h.node.AppliedIndex()
		for _, n := range nodes {
			if n.node.IsLeader() {
				idx = n.node.AppliedIndex()
			}
		}
		for _, n := range nodes {
			if err := n.node.WaitForIndex(ctx, idx); err != nil {
				t.Fatalf("%s: %v", n.node.NodeID(), err)
			}
		}
		st := nodes[0].state()
		for _, n := range nodes[1:] {
			if n.state() != st {
				t.Fatalf("%s diverges: %+v vs %+v", n.node.NodeID(), n.state(), st)
			}
		}
		return st
	}
	start := converged()

	set := p.sign(t, "ES256", p.claims("cluster-1", "alice", federation.EventTrustAssessment, assessment(90)))
	r := nodes[1].push(p.token, set)
	if pr := r.problem(t); r.status != http.StatusServiceUnavailable || pr.Type != ProblemNotLeader.URI() || pr.LeaderID != "n1" {
		t.Fatalf("push to a follower: %d %s", r.status, r.body)
	}
	if st := converged(); st != start {
		t.Fatal("a refused push changed the ledger")
	}
	if r := h.push(p.token, set); r.status != http.StatusAccepted {
		t.Fatalf("push to the leader: %d %s", r.status, r.body)
	}
	converged()
	for _, n := range nodes {
		fed, ok := n.node.Ledger().Record("alice", time.Now().UnixMilli())
		if !ok || fed.FederatedTrust["p1"].Score != "90" {
			t.Errorf("%s: federatedTrust %+v", n.node.NodeID(), fed.FederatedTrust)
		}
	}

	// Move the leadership to n2 and replay there.
	if err := h.node.Raft().LeadershipTransferToServer(raft.ServerID("n2"), raft.ServerAddress(nodes[1].node.RaftAddr())).Error(); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	for !nodes[1].node.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatal("n2 did not become leader")
		case <-time.After(5 * time.Millisecond):
		}
	}
	applied := converged() // with the new leader's no-op entry
	r = nodes[1].push(p.token, set)
	if r.status != http.StatusBadRequest || r.setError(t).Description != "jti already used" {
		t.Fatalf("replay to the new leader: %d %s", r.status, r.body)
	}
	if st := converged(); st != applied {
		t.Error("the replay changed the ledger")
	}
	// And the new leader takes new SETs.
	if r := nodes[1].push(p.token, p.sign(t, "EdDSA", p.claims("cluster-2", "alice", federation.EventTrustAssessment, assessment(10)))); r.status != http.StatusAccepted {
		t.Fatalf("push to the new leader: %d %s", r.status, r.body)
	}
	converged()
	for _, n := range nodes {
		if fed, _ := n.node.Ledger().Record("alice", time.Now().UnixMilli()); fed.FederatedTrust["p1"].Score != "10" {
			t.Errorf("%s: federatedTrust %+v", n.node.NodeID(), fed.FederatedTrust)
		}
	}
}
