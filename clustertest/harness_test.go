package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/api"
	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/testnet"
	"github.com/trustledger/trustledger/internal/testnode"
)

// quickRaft shortens Raft's timeouts for loopback, with room enough for a
// loaded two-core machine running several clusters at once.
var quickRaft = testnode.RaftTimeouts(400 * time.Millisecond)

// quickGossip makes memberlist notice a dead node within about a second.
func quickGossip(c *memberlist.Config) { testnode.FastGossip(c) }

// freeAddr is testnet.FreeAddr.
func freeAddr(t *testing.T) string { return testnet.FreeAddr(t) }

// spec describes one node of a test cluster.
type spec struct {
	id        string
	region    string
	voter     bool
	bootstrap bool
	// tune adjusts the node's cluster configuration (snapshot settings).
	tune func(*cluster.Config)
}

// tnode is one in-process trustd (a testnode.Member): a cluster.Node and
// its HTTP API on a real loopback socket. Its addresses survive restart.
type tnode struct {
	t      *testing.T
	spec   spec
	dir    string
	http   string // host:port of the API
	raft   string
	gsp    string
	member *testnode.Member

	mu   sync.Mutex
	node *cluster.Node // nil while stopped
}

// tcluster is a test cluster and the admin token of its first node.
type tcluster struct {
	t     *testing.T
	nodes map[string]*tnode
	token string
	// pin is the cluster CA's fingerprint, as joiners pin it.
	pin string
	// ssf configures the nodes' SSF transmitter and receiver.
	ssf api.SSFConfig
}

func newCluster(t *testing.T) *tcluster {
	return &tcluster{t: t, nodes: map[string]*tnode{}}
}

func testLogger(t *testing.T) *slog.Logger { return testnode.Logger(t) }

// testAPIWith is what internal/testnode needs of package api: the API of a
// cluster member, TLS and plain HTTP on one port, with the SSF
// configuration ssf.
func testAPIWith(t *testing.T, ssf api.SSFConfig) testnode.API {
	return testnode.API{
		New: func(node *cluster.Node) testnode.Server {
			return api.New(api.Config{Registry: prometheus.NewRegistry(), Logger: testLogger(t), ClusterProbeTimeout: time.Second,
				SSF: ssf}, node)
		},
		AdminToken: func(ctx context.Context, node *cluster.Node, path string) (bool, error) {
			return api.EnsureAdminToken(ctx, node, path)
		},
		Listener: func(ln net.Listener, node *cluster.Node) net.Listener {
			return api.NewListener(ln, node.APIServerTLS(), true)
		},
	}
}

// add starts a node. The first node bootstraps and makes the admin token.
func (c *tcluster) add(s spec) *tnode {
	c.t.Helper()
	if s.region == "" {
		s.region = "us-east"
	}
	n := &tnode{t: c.t, spec: s, dir: c.t.TempDir(), http: freeAddr(c.t), raft: freeAddr(c.t), gsp: freeAddr(c.t)}
	cfg := cluster.Config{NodeID: s.id, DataDir: n.dir, RaftAddr: n.raft, Region: s.region,
		Bootstrap: s.bootstrap, Voter: s.voter, Logger: testLogger(c.t), GossipAddr: n.gsp, APIAddr: n.url(),
		ReconcileInterval: 100 * time.Millisecond, GossipReconnectInterval: 200 * time.Millisecond,
		TuneRaft: quickRaft, TuneGossip: quickGossip}
	if s.tune != nil {
		s.tune(&cfg)
	}
	a := testAPIWith(c.t, c.ssf)
	n.member = testnode.NewMember(c.t, cfg, n.http, a)
	c.nodes[s.id] = n
	n.start()
	if s.bootstrap {
		testnode.WaitLeader(c.t, n.node)
		c.token = a.NewAdminToken(c.t, n.node, n.dir)
		_, c.pin = n.node.ClusterCA()
	}
	return n
}

func (n *tnode) url() string { return "http://" + n.http }

// start opens the node on its data directory and serves its API.
func (n *tnode) start() {
	n.t.Helper()
	node := n.member.Start()
	n.mu.Lock()
	n.node = node
	n.mu.Unlock()
}

// stop closes the API and the node, as a crash would as far as the others
// can tell: connections drop, Raft and gossip stop answering. Safe to call
// twice.
func (n *tnode) stop() {
	n.mu.Lock()
	n.node = nil
	n.mu.Unlock()
	n.member.Stop()
}

// client returns an API client for the node with token.
func (n *tnode) client(token string) *client.Client {
	n.t.Helper()
	return testnode.Client(n.t, n.url(), token)
}

func (c *tcluster) client(id string) *client.Client { return c.nodes[id].client(c.token) }

// join asks node via (any member) to admit n.
func (c *tcluster) join(via string, n *tnode) *client.JoinResult {
	c.t.Helper()
	testnode.AdmitViaAPI(ctxT(c.t, 20*time.Second), c.t, c.nodes[via].url(), c.token, c.pin, n.node)
	voter := n.spec.voter
	res, err := c.client(via).Join(ctxT(c.t, 20*time.Second), client.JoinRequest{NodeID: n.spec.id, RaftAddr: n.raft,
		APIAddr: n.url(), GossipAddr: n.gsp, Voter: &voter, Region: n.spec.region})
	if err != nil {
		c.t.Fatalf("join %s through %s: %v", n.spec.id, via, err)
	}
	return res
}

// leader returns the node that leads, waiting for one.
func (c *tcluster) leader() *tnode {
	c.t.Helper()
	var l *tnode
	waitFor(c.t, 20*time.Second, func() bool {
		for _, n := range c.nodes {
			n.mu.Lock()
			node := n.node
			n.mu.Unlock()
			if node != nil && node.IsLeader() {
				l = n
				return true
			}
		}
		return false
	}, "a leader")
	return l
}

// running returns the nodes that run.
func (c *tcluster) running() []*tnode {
	var out []*tnode
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.node != nil {
			out = append(out, n)
		}
		n.mu.Unlock()
	}
	return out
}

// converge waits until every running node has applied index idx and they
// all report the same digest there; it returns the digest.
func (c *tcluster) converge(idx uint64) string {
	c.t.Helper()
	var digest string
	waitFor(c.t, 30*time.Second, func() bool {
		digest = ""
		var at uint64
		for _, n := range c.running() {
			st, meta, err := n.client(c.token).Status(ctxT(c.t, 5*time.Second))
			if err != nil || st.AppliedIndex < idx || meta.ServedBy != n.spec.id {
				return false
			}
			if digest == "" {
				digest, at = st.Digest, st.AppliedIndex
			} else if st.Digest != digest || st.AppliedIndex != at {
				return false
			}
		}
		return true
	}, fmt.Sprintf("every node at index ≥ %d with one digest", idx))
	return digest
}

// members reads GET /v1/cluster through node id.
func (c *tcluster) members(id string) *client.Cluster {
	c.t.Helper()
	v, err := c.client(id).Cluster(ctxT(c.t, 10*time.Second))
	if err != nil {
		c.t.Fatalf("cluster view from %s: %v", id, err)
	}
	return v
}

func member(v *client.Cluster, id string) (client.ClusterMember, bool) {
	for _, m := range v.Members {
		if m.ID == id {
			return m, true
		}
	}
	return client.ClusterMember{}, false
}

func ctxT(t *testing.T, d time.Duration) context.Context { return testnode.Context(t, d) }

// waitFor polls cond every 10 ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	testnode.WaitFor(t, timeout, 10*time.Millisecond, cond, what)
}

// signals builds a batch of n signals for principal with ids prefix-0…
func signals(principal, prefix string, n int, impact string) []client.Signal {
	out := make([]client.Signal, n)
	for i := range out {
		out[i] = client.Signal{EventID: fmt.Sprintf("%s-%d", prefix, i), PrincipalID: principal, Event: "login",
			Category: client.CategoryAuthentication, Impact: json.Number(impact)}
	}
	return out
}

// retry runs f until it succeeds or the timeout passes; 503s and
// unreachable nodes are what a client sees during an election.
func retry[T any](t *testing.T, timeout time.Duration, what string, f func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := f()
		if err == nil {
			return v
		}
		var ue *client.UnreachableError
		if time.Now().After(deadline) || (client.StatusCode(err) != http.StatusServiceUnavailable && !errors.As(err, &ue)) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ledgerEventIDs reads every signal event id in node's ledger archive
// through GET /v1/ledger (stale: the node's own copy).
func ledgerEventIDs(t *testing.T, cl *client.Client) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	page := client.Page{Limit: 1000}
	for {
		lp, _, err := cl.Ledger(ctxT(t, 30*time.Second), page, &client.ReadOptions{Consistency: client.ConsistencyStale})
		if err != nil {
			t.Fatalf("ledger from %s: %v", cl.Address(), err)
		}
		for _, e := range lp.Entries {
			if e.Kind != "record_signals" {
				continue
			}
			var cmd struct {
				Signals []struct{ EventID string }
			}
			if err := json.Unmarshal(e.Command, &cmd); err != nil {
				t.Fatalf("entry %d: %v", e.Sequence, err)
			}
			for _, s := range cmd.Signals {
				ids[s.EventID] = true
			}
		}
		if len(lp.Entries) == 0 || lp.Next == 0 {
			return ids
		}
		page.After = lp.Next
	}
}
