package clustertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/verify"
	"golang.org/x/mod/sumdb/note"
)

// TestEveryVoterSignsTheSameCheckpoints runs three trustd processes with
// the default (secure) settings: the voters that joined receive the
// cluster's checkpoint key from the leader, so every node publishes the
// same verifier key and signs a tree head into the same bytes, and an
// inclusion proof from any node verifies against a checkpoint from
// another.
func TestEveryVoterSignsTheSameCheckpoints(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 60*time.Second)
	first := c.client(c.procs[0])
	if _, err := first.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := first.SendSignals(ctx, signals("alice", fmt.Sprintf("b%d", i), 10, "1")); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]string{}
	pollUntil(t, 30*time.Second, func() bool {
		for _, p := range c.procs {
			k, err := c.client(p).CheckpointKey(context.Background())
			if err != nil {
				return false
			}
			keys[p.id] = k
		}
		return true
	}, "every voter holds the checkpoint key")
	vkey := keys[c.procs[0].id]
	for id, k := range keys {
		if k != vkey {
			t.Fatalf("%s publishes verifier key %s, %s publishes %s", id, k, c.procs[0].id, vkey)
		}
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	const size = 6 // the registration and five batches
	var first6 []byte
	for _, p := range c.procs {
		b := retry(t, 10*time.Second, p.id+" checkpoint", func() ([]byte, error) { return c.client(p).Checkpoint(ctx, size) })
		if _, err := note.Open(b, note.VerifierList(v)); err != nil {
			t.Fatalf("%s: checkpoint does not verify: %v", p.id, err)
		}
		if first6 == nil {
			first6 = b
		} else if !bytes.Equal(b, first6) {
			t.Fatalf("%s signs tree size %d as\n%s\nbut %s as\n%s", p.id, size, b, c.procs[0].id, first6)
		}
	}
	root := checkpointRoot(t, first6, v)
	page, _, err := c.client(c.procs[2]).Ledger(ctx, client.Page{Limit: size}, nil)
	if err != nil || len(page.Entries) != size {
		t.Fatalf("ledger page: %v (%d entries)", err, len(page.Entries))
	}
	leaf := page.Entries[2].Leaf
	pr, err := c.client(c.procs[1]).InclusionProof(ctx, 3, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(fsm.TreeHasher, 2, size, fsm.TreeHasher.HashLeaf(leaf), pr.Hashes, root); err != nil {
		t.Fatalf("entry 3 from %s, proof from %s, checkpoint from %s: %v", c.procs[2].id, c.procs[1].id, c.procs[0].id, err)
	}

	// The client's side (package verify, behind trustctl verify ledger):
	// trust on first use, then every later checkpoint, from any node, must
	// extend the one remembered; a wrong pin is refused.
	st := &verify.State{}
	rep, err := verify.Ledger(ctx, c.client(c.procs[0]), st, "", true)
	if err != nil || !rep.FirstUse || rep.Entries != int(rep.TreeSize) || st.VerifierKey != vkey {
		t.Fatalf("first verification: %+v, %v", rep, err)
	}
	if _, err := first.SendSignals(ctx, signals("alice", "more", 10, "1")); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 10*time.Second, func() bool {
		_, err := c.client(c.procs[1]).Checkpoint(ctx, rep.TreeSize+1)
		return err == nil
	}, "n2's tree grows")
	rep2, err := verify.Ledger(ctx, c.client(c.procs[1]), st, "", false)
	if err != nil || rep2.FirstUse || rep2.Previous != rep.TreeSize || rep2.TreeSize <= rep.TreeSize {
		t.Fatalf("second verification: %+v, %v", rep2, err)
	}
	other := &verify.State{}
	if _, err := verify.Ledger(ctx, c.client(c.procs[2]), other, strings.Replace(vkey, "trustledger/", "trustledger/x", 1), false); err == nil {
		t.Fatal("a pinned key the cluster does not use was accepted")
	}
}

// checkpointRoot opens a checkpoint note with v and returns its root hash.
func checkpointRoot(t *testing.T, b []byte, v note.Verifier) []byte {
	t.Helper()
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 3 {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestJoinerBackfillsTheCompactedLedger: the leader compacts its log
// behind snapshots (small --snapshot-threshold and --trailing-logs), so a
// node that joins afterwards installs a snapshot; it then copies the
// entries the snapshot covers from the leader, proven against the tree,
// and serves the same /v1/ledger as the leader, entry for entry, and
// proves a principal's record from them as the leader does.
func TestJoinerBackfillsTheCompactedLedger(t *testing.T) {
	t.Parallel()
	compact := []string{"--snapshot-threshold", "32", "--trailing-logs", "8", "--snapshot-interval", "200ms"}
	c := startProcCluster(t, 1, compact...)
	ctx := ctxT(t, 90*time.Second)
	cl := c.client(c.procs[0])
	if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := cl.SendSignals(ctx, signals("alice", fmt.Sprintf("b%d", i), 3, "0.1")); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, 30*time.Second, func() bool { return snapshotIndex(t, c.procs[0]) > 200 }, "the leader compacts its log")
	n2 := newProcSpec(t, "n2", append([]string{"--bootstrap=false"}, compact...)...)
	c.procs = append(c.procs, n2)
	c.watch(n2)
	c.join(n2)
	want, err := allLedger(cl)
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, func() bool {
		got, err := allLedger(c.client(n2))
		return err == nil && len(got) >= len(want) && ledgerJSON(t, got[:len(want)]) == ledgerJSON(t, want)
	}, "n2 serves the leader's ledger, entry for entry")
	if !strings.Contains(readFile(t, n2.log), "ledger restored from snapshot") {
		t.Fatalf("n2 did not install a snapshot: the test did not exercise backfill\n%s", n2.tail())
	}
	// The joiner proves alice's record from the entries it backfilled,
	// byte for byte the record the leader proves at the same tree size.
	size := uint64(len(want))
	pollUntil(t, 30*time.Second, func() bool {
		_, err := c.client(n2).CheckpointKey(ctx)
		return err == nil
	}, "n2 holds the cluster's checkpoint key")
	var records []string
	for _, p := range []*proc{c.procs[0], n2} {
		rep, err := verify.Principal(ctx, c.client(p), &verify.State{}, "", "alice", size)
		if err != nil {
			t.Fatalf("verify principal alice on %s: %v", p.id, err)
		}
		if rep.Entries < 300 {
			t.Fatalf("%s proved alice from %d entries, want her 301", p.id, rep.Entries)
		}
		records = append(records, string(rep.Record))
	}
	if records[0] != records[1] {
		t.Fatalf("the leader and the joiner prove different records:\n%s\n%s", records[0], records[1])
	}
}

// allLedger reads every entry a node serves.
func allLedger(cl *client.Client) ([]client.LedgerEntry, error) {
	var out []client.LedgerEntry
	var after uint64
	for {
		page, _, err := cl.Ledger(context.Background(), client.Page{After: after, Limit: 1000}, &client.ReadOptions{Consistency: client.ConsistencyStale})
		if err != nil {
			return nil, err
		}
		if len(page.Entries) == 0 {
			return out, nil
		}
		out = append(out, page.Entries...)
		after = page.Entries[len(page.Entries)-1].Sequence
	}
}

func ledgerJSON(t *testing.T, entries []client.LedgerEntry) string {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- the test's own log file
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snapshotIndex is the Raft index of p's newest snapshot (its directory
// is named term-index-milliseconds), 0 when it has none.
func snapshotIndex(t *testing.T, p *proc) uint64 {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(p.dataDir(), "raft", "snapshots", "*"))
	var best uint64
	for _, d := range dirs {
		parts := strings.Split(filepath.Base(d), "-")
		if len(parts) == 3 {
			if idx, err := strconv.ParseUint(parts[1], 10, 64); err == nil && idx > best {
				best = idx
			}
		}
	}
	return best
}
