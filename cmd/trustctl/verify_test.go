package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnet"
	"github.com/trustledger/trustledger/internal/testnode"
	"go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
)

// trustctl verify ledger against a real node: trust on first use, then
// each run proves the ledger only grew since the last; a key that is not
// the cluster's, or a remembered checkpoint that was altered, fails with
// exit 1 and leaves the state file as it was.
func TestVerifyLedgerCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	t.Parallel()
	clearEnv(t)
	addr, token := startNode(t)
	global := []string{"--addr", addr, "--token", token}
	state := filepath.Join(t.TempDir(), "verify.json")
	verifyCmd := func(extra ...string) (int, string, string) {
		return runCLI("", append(append(global, "verify", "ledger", "--state", state), extra...)...)
	}
	must := func(args ...string) {
		t.Helper()
		if code, out, errb := runCLI("", append(global, args...)...); code != 0 {
			t.Fatalf("trustctl %v: exit %d\n%s%s", args, code, out, errb)
		}
	}

	must("principal", "register", "alice", "--type", "user")
	checkpointOfWholeLedger(t, addr, token)
	code, out, errb := verifyCmd("--all")
	if code != 0 || !strings.Contains(errb, "trust on first use") || !strings.Contains(out, "no earlier checkpoint") ||
		!strings.Contains(out, "hash to the checkpoint's root") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errb)
	}
	must("principal", "register", "bob", "--type", "user")
	must("signal", "send", "bob", "--event", "login", "--category", "authentication", "--impact", "2")
	checkpointOfWholeLedger(t, addr, token)
	code, out, errb = verifyCmd("-o", "json")
	var rep struct {
		TreeSize uint64 `json:"treeSize"`
		Previous uint64 `json:"previousTreeSize"`
		FirstUse bool   `json:"trustOnFirstUse"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.FirstUse || rep.Previous == 0 || rep.TreeSize <= rep.Previous {
		t.Fatalf("second run should extend the first: exit %d %+v\n%s%s", code, rep, out, errb)
	}

	// A verifier key that is not the cluster's.
	_, other, err := note.GenerateKey(rand.Reader, "trustledger/000000000000")
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(state) // #nosec G304 -- the test's own temp file
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errb = verifyCmd("--verifier-key", other); code != 1 || !strings.Contains(errb, "verification failed") {
		t.Fatalf("a foreign verifier key should fail: exit %d\n%s%s", code, out, errb)
	}

	// The remembered checkpoint altered by one byte of its root.
	var st map[string]map[string]map[string]string
	if err := json.Unmarshal(before, &st); err != nil {
		t.Fatal(err)
	}
	c := st["clusters"][addr]
	lines := strings.SplitN(c["checkpoint"], "\n", 4)
	root := []byte(lines[2])
	root[0] ^= 'A' ^ 'B'
	if root[0] == lines[2][0] {
		root[0] = 'C'
	}
	lines[2] = string(root)
	c["checkpoint"] = strings.Join(lines, "\n")
	tampered, _ := json.Marshal(st)
	if err := os.WriteFile(state, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errb = verifyCmd(); code != 1 || !strings.Contains(errb, "verification failed") {
		t.Fatalf("an altered remembered checkpoint should fail: exit %d\n%s%s", code, out, errb)
	}
	if after, _ := os.ReadFile(state); string(after) != string(tampered) { // #nosec G304 -- the test's own temp file
		t.Fatal("a failed verification must not rewrite the state file")
	}
}

// One byte of one entry changed in a node's archive, while the node was
// down, behind a snapshot (so that Raft's log no longer holds the entry
// and the restart does not write it again): the node serves that entry's
// leaf from the archive, and
// `verify ledger --all` finds that the leaves no longer hash to the root
// the cluster's key signed (the tree in the state machine came through
// Raft, not from the archive). `verify principal` of a principal whose
// entry was changed or reordered fails too (its entries are not in the
// tree), or the node cannot serve its proof (an entry dropped).
func TestVerifyLedgerDetectsATamperedArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	key := func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
	for _, c := range []struct {
		name   string
		hit    int // principals touched: that of entry 3, or of entries 3 and 4
		tamper func(b *bbolt.Bucket) error
	}{
		{"one byte changed", 1, func(b *bbolt.Bucket) error {
			v := append([]byte(nil), b.Get(key(3))...)
			v[len(v)-2] ^= 0x01 // the last byte of the entry's data (the record ends with its empty alert list, one byte)
			return b.Put(key(3), v)
		}},
		{"an entry dropped", 1, func(b *bbolt.Bucket) error { return b.Delete(key(3)) }},
		{"a pair reordered", 2, func(b *bbolt.Bucket) error {
			v3, v4 := append([]byte(nil), b.Get(key(3))...), append([]byte(nil), b.Get(key(4))...)
			if err := b.Put(key(3), v4); err != nil {
				return err
			}
			return b.Put(key(4), v3)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			verifyTamperedArchive(t, c.hit, c.tamper)
		})
	}
}

// verifyTamperedArchive runs a node, verifies its ledger, stops it,
// tampers with its archive behind a snapshot, starts it again and expects
// verify ledger --all, and verify principal of the principals of the first
// hit of entries 3 and 4, to fail (and that of an untouched one to pass).
func verifyTamperedArchive(t *testing.T, hit int, tamper func(b *bbolt.Bucket) error) {
	clearEnv(t)
	dir := t.TempDir()
	cfg := testnode.Config(t, "node1", filepath.Join(dir, "data"))
	cfg.RaftAddr = testnet.FreeAddr(t)
	cfg.Bootstrap = true
	cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 8, 100*time.Millisecond, 2
	m := testnode.NewMember(t, cfg, testnet.FreeAddr(t), testAPI())
	node := m.Start()
	testnode.WaitLeader(t, node)
	token := testAPI().NewAdminToken(t, node, dir)
	// Flags, not the environment: the cases run in parallel.
	ctl := func(args ...string) (int, string, string) {
		return runCLI("", append([]string{"--addr", m.URL(), "--token", token}, args...)...)
	}
	state := filepath.Join(dir, "verify.json")
	for i := range 24 {
		id := fmt.Sprintf("p%02d", i)
		if code, out, errb := ctl("principal", "register", id, "--type", "user"); code != 0 {
			t.Fatalf("register %s: exit %d\n%s%s", id, code, out, errb)
		}
	}
	snaps := filepath.Join(dir, "data", "raft", "snapshots")
	testnode.WaitFor(t, 10*time.Second, 20*time.Millisecond, func() bool {
		list, _ := os.ReadDir(snaps)
		return len(list) > 0
	}, "a snapshot")
	checkpointOfWholeLedger(t, m.URL(), token)
	if code, out, errb := ctl("verify", "ledger", "--state", state, "--all"); code != 0 {
		t.Fatalf("before the tampering: exit %d\n%s%s", code, out, errb)
	}
	page, _, err := testnode.Client(t, m.URL(), token).Ledger(testnode.Context(t, 5*time.Second), client.Page{After: 2, Limit: 2}, nil)
	if err != nil || len(page.Entries) != 2 || len(page.Entries[0].Subjects) != 1 || len(page.Entries[1].Subjects) != 1 {
		t.Fatalf("entries 3 and 4: %v %+v", err, page)
	}
	ids := []string{page.Entries[0].Subjects[0], page.Entries[1].Subjects[0]}
	for _, id := range ids {
		if code, out, errb := ctl("verify", "principal", id, "--state", state); code != 0 {
			t.Fatalf("verify principal %s before the tampering: exit %d\n%s%s", id, code, out, errb)
		}
	}
	m.Stop()

	db, err := bbolt.Open(filepath.Join(dir, "data", "ledger.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("entries"))
		if b.Get(binary.BigEndian.AppendUint64(nil, 4)) == nil {
			return fmt.Errorf("entries 3 and 4 are not archived")
		}
		return tamper(b)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	testnode.WaitLeader(t, m.Start())
	code, out, errb := ctl("verify", "ledger", "--state", state, "--all")
	if code != 1 || !strings.Contains(errb, "verification failed") {
		t.Fatalf("a tampered archive entry should fail the verification: exit %d\n%s%s", code, out, errb)
	}
	t.Logf("detected: %s", strings.TrimSpace(errb))
	for i, id := range ids {
		code, out, errb := ctl("verify", "principal", id, "--state", state)
		// A dropped entry leaves the node unable to serve the proof.
		failed := code == 1 && (strings.Contains(errb, "verification failed") || strings.Contains(errb, "missing from the archive"))
		if i < hit && !failed || i >= hit && code != 0 {
			t.Fatalf("verify principal %s after the tampering: exit %d\n%s%s", id, code, out, errb)
		}
		t.Logf("principal %s: exit %d %s", id, code, strings.TrimSpace(errb))
	}
}

// A history rewritten under the same key: the verifier remembers a
// checkpoint of one ledger; the server at that address now holds another
// ledger, signed with the same checkpoint key (its key file copied into a
// new cluster). The key matches, but the consistency proof from the
// remembered checkpoint cannot, and verify ledger and verify principal
// exit 1.
func TestVerifyLedgerDetectsARewrittenHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Raft nodes")
	}
	t.Parallel()
	clearEnv(t)
	dir := t.TempDir()
	var global []string // --addr and --token of the cluster now at httpAddr
	httpAddr := testnet.FreeAddr(t)
	state := filepath.Join(dir, "verify.json")
	start := func(name string, ids []string) *testnode.Member {
		t.Helper()
		cfg := testnode.Config(t, "node1", filepath.Join(dir, name))
		cfg.RaftAddr, cfg.Bootstrap = testnet.FreeAddr(t), true
		m := testnode.NewMember(t, cfg, httpAddr, testAPI())
		node := m.Start()
		testnode.WaitLeader(t, node)
		token := testAPI().NewAdminToken(t, node, filepath.Join(dir, name))
		global = []string{"--addr", m.URL(), "--token", token}
		for _, id := range ids {
			if code, out, errb := runCLI("", append(global, "principal", "register", id, "--type", "user")...); code != 0 {
				t.Fatalf("register %s: exit %d\n%s%s", id, code, out, errb)
			}
		}
		checkpointOfWholeLedger(t, m.URL(), token)
		return m
	}
	a := start("a", []string{"alice", "bob"})
	if code, out, errb := runCLI("", append(global, "verify", "ledger", "--state", state)...); code != 0 {
		t.Fatalf("the first ledger: exit %d\n%s%s", code, out, errb)
	}
	a.Stop()

	key, err := os.ReadFile(filepath.Join(dir, "a", "identity", "checkpoint.key")) // #nosec G304 -- the test's own temp file
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "b", "identity"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b", "identity", "checkpoint.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	start("b", []string{"mallory", "trudy", "eve", "oscar"})
	code, out, errb := runCLI("", append(global, "verify", "ledger", "--state", state)...)
	if code != 1 || !strings.Contains(errb, "verification failed") {
		t.Fatalf("a rewritten history under the same key should fail: exit %d\n%s%s", code, out, errb)
	}
	t.Logf("detected: %s", strings.TrimSpace(errb))
	// A principal of the new history, proven against the checkpoint the
	// verifier remembers from the old one.
	code, out, errb = runCLI("", append(global, "verify", "principal", "mallory", "--state", state)...)
	if code != 1 || !strings.Contains(errb, "does not extend") {
		t.Fatalf("verify principal on a rewritten history should fail: exit %d\n%s%s", code, out, errb)
	}
}

// checkpointOfWholeLedger waits until the node at addr serves a
// checkpoint of its whole ledger: every entry archived, and the cached
// head (signed afresh at most every 100 ms) re-signed.
func checkpointOfWholeLedger(t *testing.T, addr, token string) {
	t.Helper()
	cl := testnode.Client(t, addr, token)
	ctx := testnode.Context(t, 10*time.Second)
	testnode.WaitFor(t, 10*time.Second, 10*time.Millisecond, func() bool {
		st, _, err := cl.Status(ctx)
		if err != nil {
			return false
		}
		note, err := cl.Checkpoint(ctx, 0)
		if err != nil {
			return false
		}
		lines := strings.SplitN(string(note), "\n", 3)
		return len(lines) == 3 && lines[1] == strconv.FormatUint(st.Sequence, 10)
	}, "a checkpoint of the whole ledger")
}
