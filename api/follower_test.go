package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/testnode"
)

// A real follower answers stale reads itself. This one runs without gossip,
// so it does not know the leader's API address and cannot forward (the
// clustertest package covers forwarding): it refuses the rest with a
// problem naming the leader, without writing anything.
func TestFollower(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	reader := h.token("reader")

	n2, err := cluster.Open(cluster.Config{NodeID: "n2", DataDir: filepath.Join(t.TempDir(), "n2"), RaftAddr: "127.0.0.1:0",
		Region: "remote", Voter: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Close() })
	testnode.Admit(t, h.node, n2)
	if err := h.node.Raft().AddVoter(raft.ServerID("n2"), raft.ServerAddress(n2.RaftAddr()), 0, 10*time.Second).Error(); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n2.WaitForIndex(ctx, h.node.AppliedIndex()); err != nil {
		t.Fatalf("follower catch-up: %v", err)
	}
	if err := n2.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := New(Config{Registry: prometheus.NewRegistry()}, n2)
	srv := httptest.NewServer(s2.Handler())
	t.Cleanup(func() { _ = s2.Close(); srv.Close() })
	f := &harness{t: t, node: n2, api: s2, srv: srv, admin: h.admin, audit: h.audit, tokens: h.tokens}

	var st statusView
	f.mustJSON("GET", "/v1/status", reader, nil, http.StatusOK, &st)
	if st.State != "follower" || st.LeaderID != "n1" || st.NodeID != "n2" {
		t.Errorf("follower status: %+v", st)
	}
	f.mustJSON("GET", "/readyz", "", nil, http.StatusOK, nil)

	r := f.do("GET", "/v1/principals/alice?consistency=stale", reader, nil)
	if r.status != http.StatusOK || r.header.Get(HeaderKnownLeader) != "true" {
		t.Errorf("stale read on the follower: %d %s", r.status, r.header)
	}
	if ms, err := strconv.ParseInt(r.header.Get(HeaderLastContact), 10, 64); err != nil || ms < 0 {
		t.Errorf("last contact %q", r.header.Get(HeaderLastContact))
	}

	before := h.state()
	for _, c := range []struct {
		name, method, path string
		body               any
		kind               ProblemKind
	}{
		{"default read", "GET", "/v1/principals/alice", nil, ProblemNotLeader},
		{"linearizable read", "GET", "/v1/principals/alice?consistency=linearizable", nil, ProblemNotLeader},
		{"too stale", "GET", "/v1/principals/alice?consistency=stale&max_stale=1ns", nil, ProblemStaleRead},
		{"write", "POST", "/v1/principals", map[string]any{"principalId": "bob", "principalType": "user"}, ProblemNotLeader},
		{"signal", "POST", "/v1/signals", signal("f1", "alice", -1), ProblemNotLeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			token := reader
			if c.method != "GET" {
				token = h.admin
			}
			r := f.do(c.method, c.path, token, c.body)
			p := r.problem(t)
			if r.status != http.StatusServiceUnavailable || p.Type != c.kind.URI() || r.header.Get("Retry-After") == "" {
				t.Errorf("%d %s Retry-After %q: %s", r.status, p.Type, r.header.Get("Retry-After"), p.Detail)
			}
			if c.kind == ProblemNotLeader && (p.LeaderID != "n1" || p.LeaderAddr == "") {
				t.Errorf("the problem does not name the leader: %+v", p)
			}
		})
	}
	if h.state() != before {
		t.Error("requests refused by the follower changed the ledger")
	}
}
