package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	clearEnv(t)
	addr, token := startNode(t)
	t.Setenv("TRUSTLEDGER_ADDR", addr)
	t.Setenv("TRUSTLEDGER_TOKEN", token)
	state := filepath.Join(t.TempDir(), "verify.json")
	verifyCmd := func(extra ...string) (int, string, string) {
		return runCLI("", append([]string{"verify", "ledger", "--state", state}, extra...)...)
	}
	must := func(args ...string) {
		t.Helper()
		if code, out, errb := runCLI("", args...); code != 0 {
			t.Fatalf("trustctl %v: exit %d\n%s%s", args, code, out, errb)
		}
	}

	must("principal", "register", "alice", "--type", "user")
	code, out, errb := verifyCmd("--all")
	if code != 0 || !strings.Contains(errb, "trust on first use") || !strings.Contains(out, "no earlier checkpoint") ||
		!strings.Contains(out, "hash to the checkpoint's root") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errb)
	}
	must("principal", "register", "bob", "--type", "user")
	must("signal", "send", "bob", "--event", "login", "--category", "authentication", "--impact", "2")
	// The latest head is signed afresh once the cached checkpoint is older
	// than checkpointMinAge (100 ms).
	time.Sleep(150 * time.Millisecond)
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
