package cluster

import (
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// state is what must survive a restart.
type state struct {
	applied  uint64
	status   fsm.Status
	records  map[string]string
	entries  []LedgerEntry
	evalTime int64
}

func capture(t *testing.T, n *Node, ids []string, at int64) state {
	t.Helper()
	s := state{applied: n.AppliedIndex(), status: n.Ledger().Status(), records: map[string]string{}, evalTime: at}
	for _, id := range ids {
		s.records[id] = recordJSON(t, n, id, at)
	}
	s.entries = allEntries(t, n)
	return s
}

func (s state) check(t *testing.T, n *Node) {
	t.Helper()
	// The restarted node re-applies its log once it leads again.
	if err := n.WaitForIndex(ctxT(t, 10*time.Second), s.applied); err != nil {
		t.Fatalf("wait for index %d: %v", s.applied, err)
	}
	if got := n.AppliedIndex(); got != s.applied {
		t.Fatalf("AppliedIndex = %d, want %d", got, s.applied)
	}
	if got := n.Ledger().Status(); got != s.status {
		t.Fatalf("status after restart\n got %+v\nwant %+v", got, s.status)
	}
	for id, want := range s.records {
		if got := recordJSON(t, n, id, s.evalTime); got != want {
			t.Fatalf("record %s after restart\n got %s\nwant %s", id, got, want)
		}
	}
	got := allEntries(t, n)
	if len(got) != len(s.entries) {
		t.Fatalf("archive has %d entries after restart, want %d", len(got), len(s.entries))
	}
	for i := range got {
		if string(mustJSON(t, got[i])) != string(mustJSON(t, s.entries[i])) {
			t.Fatalf("archive entry %d after restart\n got %s\nwant %s", i, mustJSON(t, got[i]), mustJSON(t, s.entries[i]))
		}
	}
}

func TestRestartRecoversFromLog(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	n := openLeader(t, dir, addr)
	last := workload(t, n, "", 5, 4)
	ids := []string{"p0", "p1", "p2", "p3", "p4"}
	before := capture(t, n, ids, last.Time+3_600_000)
	checkSequences(t, before.entries, last.Sequence)
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	start := time.Now()
	n = openLeader(t, dir, addr)
	before.check(t, n)
	t.Logf("restart from the log to index %d took %v", before.applied, time.Since(start))

	// The node keeps working where it left off.
	res := mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: "late", PrincipalType: "device"})
	if res.Sequence != last.Sequence+1 {
		t.Fatalf("sequence after restart = %d, want %d", res.Sequence, last.Sequence+1)
	}
}

func TestRestartRecoversFromSnapshot(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := testConfig(t, "node1", dir, addr, true)
	cfg.TrailingLogs = 2 // compact almost the whole log behind a snapshot
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	waitLeader(t, n)

	workload(t, n, "a", 4, 3)
	snapshot(t, n)
	first, err := n.store.FirstIndex()
	if err != nil {
		t.Fatalf("first index: %v", err)
	}
	if first <= 2 {
		t.Fatalf("raft log still starts at %d after the snapshot; want it compacted", first)
	}
	// Entries before the snapshot are gone from the Raft log but not from
	// the archive; entries after it are only in the log.
	last := workload(t, n, "b", 3, 2)
	ids := []string{"ap0", "ap3", "bp0", "bp2"}
	before := capture(t, n, ids, last.Time+86_400_000)
	checkSequences(t, before.entries, last.Sequence)
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	start := time.Now()
	n = openNode(t, cfg)
	waitLeader(t, n)
	before.check(t, n)
	t.Logf("restart from snapshot + log to index %d took %v", before.applied, time.Since(start))
	if s := n.Raft().Stats()["last_snapshot_index"]; s == "0" || s == "" {
		t.Fatalf("last_snapshot_index = %q after restart; want the snapshot restored", s)
	}

	// A second snapshot right after restart (nothing new since) and a
	// third after more writes: restart still works.
	workload(t, n, "c", 2, 1)
	snapshot(t, n)
	after := capture(t, n, append(ids, "cp1"), last.Time+86_400_000)
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	n = openNode(t, cfg)
	waitLeader(t, n)
	after.check(t, n)
}

// snapshot makes Raft take a snapshot now.
func snapshot(t *testing.T, n *Node) {
	t.Helper()
	if err := n.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
}
