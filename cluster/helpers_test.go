package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/trustledger/trustledger/internal/testnet"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// fastRaft shortens Raft's timeouts so elections take milliseconds on
// loopback.
func fastRaft(c *raft.Config) {
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
}

// freeAddr is testnet.FreeAddr.
func freeAddr(t *testing.T) string { return testnet.FreeAddr(t) }

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

func testConfig(t *testing.T, id, dir, addr string, bootstrap bool) Config {
	return Config{NodeID: id, DataDir: dir, RaftAddr: addr, Region: "local", Bootstrap: bootstrap, Voter: true,
		Logger: testLogger(t), tune: fastRaft}
}

// admit hands n the cluster identity leader issues, as the join API
// does: n's certificate request, signed by the leader, installed on n.
func admit(t *testing.T, leader, n *Node) {
	t.Helper()
	if n.HasIdentity() {
		return
	}
	req, err := n.NewIdentityRequest()
	if err != nil {
		t.Fatalf("%s: identity request: %v", n.NodeID(), err)
	}
	g, err := leader.IssueIdentity(req)
	if err != nil {
		t.Fatalf("%s: issue identity for %s: %v", leader.NodeID(), n.NodeID(), err)
	}
	_, pin := leader.ClusterCA()
	if err := n.InstallIdentity(g, pin); err != nil {
		t.Fatalf("%s: install identity: %v", n.NodeID(), err)
	}
}

// openNode opens a node and closes it when the test ends (Close is
// idempotent, so tests may close it earlier).
func openNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close %s: %v", cfg.NodeID, err)
		}
	})
	return n
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// openLeader opens a bootstrapping single node and waits until it leads.
func openLeader(t *testing.T, dir, addr string) *Node {
	t.Helper()
	n := openNode(t, testConfig(t, "node1", dir, addr, true))
	waitLeader(t, n)
	return n
}

func waitLeader(t *testing.T, n *Node) {
	t.Helper()
	eventually(t, 10*time.Second, n.IsLeader, n.NodeID()+" becomes leader")
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		<-tick.C
	}
}

func propose(t *testing.T, n *Node, cmd fsm.Command) *fsm.Result {
	t.Helper()
	res, err := n.Propose(ctxT(t, 10*time.Second), cmd, "tok-test")
	if err != nil {
		t.Fatalf("propose %s: %v", cmd.Kind(), err)
	}
	return res
}

func mustApply(t *testing.T, n *Node, cmd fsm.Command) *fsm.Result {
	t.Helper()
	res := propose(t, n, cmd)
	if res.Err != nil {
		t.Fatalf("%s rejected: %v", cmd.Kind(), res.Err)
	}
	return res
}

// workload proposes an org, principals and signals; it returns the last
// result.
func workload(t *testing.T, n *Node, prefix string, principals, signalBatches int) *fsm.Result {
	t.Helper()
	res := mustApply(t, n, &fsm.SetOrg{OrgID: prefix + "org", Name: "Org " + prefix, Base: 60 * fsm.Point})
	for i := range principals {
		res = mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("%sp%d", prefix, i), PrincipalType: "user",
			OrgID: prefix + "org", Metadata: []byte(`{"team": "red"}`)})
	}
	for b := range signalBatches {
		var sigs []fsm.Signal
		for i := range principals {
			impact := int64(2 * fsm.Point)
			if (b+i)%3 == 0 {
				impact = -5 * fsm.Point
			}
			sigs = append(sigs, fsm.Signal{EventID: fmt.Sprintf("%se%d-%d", prefix, b, i), PrincipalID: fmt.Sprintf("%sp%d", prefix, i),
				Event: "login", Category: 0, Impact: impact, Attributes: []byte(`{"ip":"10.0.0.1"}`)})
		}
		res = mustApply(t, n, &fsm.RecordSignals{Signals: sigs})
	}
	return res
}

// recordJSON renders a principal's record at a fixed evaluation time.
func recordJSON(t *testing.T, n *Node, id string, at int64) string {
	t.Helper()
	r, ok := n.Ledger().Record(id, at)
	if !ok {
		t.Fatalf("%s: no record for %s", n.NodeID(), id)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal record: %v", err)
	}
	return string(b)
}

func allEntries(t *testing.T, n *Node) []LedgerEntry {
	t.Helper()
	var out []LedgerEntry
	var after uint64
	for {
		page, err := n.Entries(after, MaxEntriesLimit)
		if err != nil {
			t.Fatalf("entries after %d: %v", after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Sequence
	}
}

func checkSequences(t *testing.T, entries []LedgerEntry, want uint64) {
	t.Helper()
	if uint64(len(entries)) != want {
		t.Fatalf("archive has %d entries, want %d", len(entries), want)
	}
	for i, e := range entries {
		if e.Sequence != uint64(i+1) {
			t.Fatalf("entry %d has sequence %d", i, e.Sequence)
		}
		if i > 0 && e.Index <= entries[i-1].Index {
			t.Fatalf("entry %d: index %d not after %d", i, e.Index, entries[i-1].Index)
		}
	}
}
