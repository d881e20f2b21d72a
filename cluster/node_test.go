package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

func TestSingleNodeBootstrapsAndApplies(t *testing.T) {
	t.Parallel()
	n := openLeader(t, t.TempDir(), "127.0.0.1:0")
	if got := n.State(); got != "leader" {
		t.Fatalf("State() = %q, want leader", got)
	}
	if id, addr := n.Leader(); id != "node1" || addr != n.RaftAddr() {
		t.Fatalf("Leader() = %q, %q; want node1, %s", id, addr, n.RaftAddr())
	}
	if !n.LastContact().IsZero() {
		t.Fatalf("LastContact on the leader = %v, want zero", n.LastContact())
	}

	org := mustApply(t, n, &fsm.SetOrg{OrgID: "acme", Name: "Acme", Base: 65 * fsm.Point})
	reg := mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: "alice", PrincipalType: "user", OrgID: "acme"})
	sig := mustApply(t, n, &fsm.RecordSignals{Signals: []fsm.Signal{
		{EventID: "e1", PrincipalID: "alice", Event: "mfa_success", Category: 0, Impact: fsm.Point},
		{EventID: "e2", PrincipalID: "alice", Event: "malware", Category: 1, Impact: -10 * fsm.Point},
	}})
	if !(org.Index < reg.Index && reg.Index < sig.Index) || sig.Sequence != 3 {
		t.Fatalf("indexes %d %d %d, sequence %d", org.Index, reg.Index, sig.Index, sig.Sequence)
	}
	if len(sig.Signals) != 2 || sig.Signals[0].Status != fsm.StatusAccepted || sig.Signals[1].Status != fsm.StatusAccepted {
		t.Fatalf("signal results %+v", sig.Signals)
	}
	if got := n.AppliedIndex(); got != sig.Index {
		t.Fatalf("AppliedIndex = %d after Propose returned index %d", got, sig.Index)
	}
	if err := n.WaitForIndex(ctxT(t, time.Second), sig.Index); err != nil {
		t.Fatalf("WaitForIndex: %v", err)
	}

	if _, ok := n.Ledger().Org("acme"); !ok {
		t.Fatal("org acme missing")
	}
	rec, ok := n.Ledger().Record("alice", n.Ledger().LedgerTime())
	if !ok {
		t.Fatal("record alice missing")
	}
	if rec.PrincipalID != "alice" || len(rec.NegativeSignals) != 1 || len(rec.PositiveSignals) != 1 {
		t.Fatalf("record %+v", rec)
	}
	if st := n.Ledger().Status(); st.AppliedIndex != sig.Index || st.Sequence != 3 {
		t.Fatalf("ledger status %+v", st)
	}

	// A rejected entry commits, changes nothing but the chain, and is not a
	// Propose error.
	dup := propose(t, n, &fsm.RegisterPrincipal{PrincipalID: "alice", PrincipalType: "user"})
	var rej *fsm.RejectError
	if !errors.As(dup.Err, &rej) || rej.Code != "conflict" {
		t.Fatalf("duplicate registration: err %v", dup.Err)
	}
	if err := n.VerifyLeader(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("VerifyLeader: %v", err)
	}
}

func TestWaitsPastNonCommandEntries(t *testing.T) {
	t.Parallel()
	n := openLeader(t, t.TempDir(), "127.0.0.1:0")
	// A fresh leader's log holds only the bootstrap configuration and its
	// no-op: nothing the ledger applies.
	last := n.Raft().LastIndex()
	if last == 0 || n.AppliedIndex() != 0 {
		t.Fatalf("LastIndex %d, AppliedIndex %d", last, n.AppliedIndex())
	}
	if err := n.WaitForIndex(ctxT(t, 5*time.Second), last); err != nil {
		t.Fatalf("WaitForIndex(%d) over non-command entries: %v", last, err)
	}
	if err := n.VerifyLeader(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("VerifyLeader on a leader with no commands: %v", err)
	}
	// An index not yet in the log waits for the context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.WaitForIndex(ctx, last+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForIndex beyond the log: %v, want deadline exceeded", err)
	}
}

func TestProposeRespectsContextAndClose(t *testing.T) {
	t.Parallel()
	n := openLeader(t, t.TempDir(), "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(ctx, &fsm.SetOrg{OrgID: "o", Base: fsm.Point}, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with a cancelled context: %v", err)
	}
	if _, err := n.Propose(context.Background(), nil, ""); err == nil {
		t.Fatal("Propose(nil) succeeded")
	}
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := n.Propose(context.Background(), &fsm.SetOrg{OrgID: "o", Base: fsm.Point}, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Propose after Close: %v, want ErrClosed", err)
	}
	if err := n.WaitForIndex(context.Background(), 1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitForIndex after Close: %v, want ErrClosed", err)
	}
	if got := n.State(); got != "shutdown" {
		t.Fatalf("State after Close = %q", got)
	}
}

func TestOpenValidatesAndLocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no id", Config{DataDir: dir, RaftAddr: "127.0.0.1:0"}, "NodeID is required"},
		{"no dir", Config{NodeID: "a", RaftAddr: "127.0.0.1:0"}, "DataDir is required"},
		{"bad addr", Config{NodeID: "a", DataDir: dir, RaftAddr: "nowhere"}, "RaftAddr"},
		{"non-voter bootstrap", Config{NodeID: "a", DataDir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true}, "non-voter"},
		{"wildcard without advertise", Config{NodeID: "a", DataDir: dir, RaftAddr: "0.0.0.0:0", Voter: true}, "not advertisable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Open(tc.cfg)
			if err == nil {
				_ = n.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}

	t.Run("data dir in use", func(t *testing.T) {
		d := filepath.Join(t.TempDir(), "data")
		openNode(t, testConfig(t, "node1", d, "127.0.0.1:0", true))
		n, err := Open(testConfig(t, "node1", d, "127.0.0.1:0", true))
		if err == nil {
			_ = n.Close()
			t.Fatal("second Open of the same data directory succeeded")
		}
		if !strings.Contains(err.Error(), "locked by another process") {
			t.Fatalf("error %q", err)
		}
	})
}
