package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnode"
	"github.com/trustledger/trustledger/verify"
	"golang.org/x/mod/sumdb/note"
)

// runLiveCLI runs trustctl in-process on the real clock (a SET's iat must
// be now).
func runLiveCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, &errb)
	code = c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// trustctl verify principal against a real node, for principals whose
// records depend on an organization's baseline, on endorsements (and so
// on the endorser's own entries) and on a federation partner's
// assessment: each record is reproduced byte for byte from the entries
// proven in the signed checkpoint, now and at an earlier tree size; the
// record proven is the one the node serves at that ledger time; an
// unknown principal or a foreign verifier key fails with exit 1.
func TestVerifyPrincipalCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	t.Parallel()
	clearEnv(t)
	addr, token := startNode(t)
	// Flags, not the environment, so that the test runs in parallel; a
	// command that names its own --token (federation send) keeps it.
	runLive := func(args ...string) (int, string, string) {
		global := []string{"--addr", addr}
		if !slices.Contains(args, "--token") {
			global = append(global, "--token", token)
		}
		return runLiveCLI(append(global, args...)...)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "verify.json")
	must := func(args ...string) string {
		t.Helper()
		code, out, errb := runLive(args...)
		if code != 0 {
			t.Fatalf("trustctl %v: exit %d\n%s%s", args, code, out, errb)
		}
		return out
	}
	verifyCmd := func(id string, extra ...string) (int, string, string) {
		return runLive(append([]string{"verify", "principal", id, "--state", state}, extra...)...)
	}

	keyFile, jwkFile := partnerKeyFiles(t, dir)

	must("org", "set", "eng", "--base", "70", "--name", "Engineering")
	must("principal", "register", "alice", "--type", "user", "--org", "eng")
	must("principal", "register", "carol", "--type", "user")
	must("principal", "register", "dave", "--type", "service")
	must("signal", "send", "carol", "--event", "mfa_success", "--category", "authentication", "--impact", "12")
	must("signal", "send", "alice", "--event", "login", "--category", "authentication", "--impact", "2")
	checkpointOfWholeLedger(t, addr, token)
	code, out, errb := verifyCmd("alice", "-o", "json")
	var early struct {
		TreeSize uint64 `json:"treeSize"`
		Record   struct {
			Score json.Number `json:"trustScoreExact"`
		} `json:"record"`
	}
	if code != 0 || !strings.Contains(errb, "trust on first use") || json.Unmarshal([]byte(out), &early) != nil || early.TreeSize == 0 {
		t.Fatalf("verify principal alice: exit %d\n%s%s", code, out, errb)
	}

	must("endorse", "add", "carol", "alice", "--weight", "5", "--reason", "pairs with her")
	must("endorse", "add", "dave", "carol", "--reason", "service owner")
	must("signal", "send", "dave", "--event", "scan_passed", "--category", "compliance", "--impact", "4")
	must("factors", "set", "alice", "--authentication", `{"mfa_enabled":true,"mfa_type":"hardware_token"}`)
	must("partner", "add", "acme", "--issuer", "https://idp.acme.example", "--audience", "tl",
		"--keys", jwkFile, "--weight", "0.5", "--max-influence", "10")
	var tok struct {
		Secret string `json:"token"`
	}
	if err := json.Unmarshal([]byte(must("token", "create", "--role", "partner", "--partner", "acme", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	must("federation", "send", "--token", tok.Secret, "--key", keyFile, "--kid", "acme-1", "--issuer", "https://idp.acme.example",
		"--audience", "tl", "--subject", "alice", "--score", "95", "--jti", "j1")
	must("signal", "send", "alice", "--event", "failed_login", "--category", "behavior", "--impact", "-3")
	checkpointOfWholeLedger(t, addr, token)

	for _, id := range []string{"alice", "carol", "dave"} {
		code, out, errb := verifyCmd(id)
		if code != 0 || !strings.Contains(out, "principal "+id+" verified") || !strings.Contains(out, "byte for byte") {
			t.Fatalf("verify principal %s: exit %d\n%s%s", id, code, out, errb)
		}
		t.Logf("%s", strings.TrimSpace(out))
	}
	code, out, errb = verifyCmd("alice", "-o", "json")
	var rep struct {
		TreeSize uint64          `json:"treeSize"`
		Previous uint64          `json:"previousTreeSize"`
		Entries  int             `json:"entriesReplayed"`
		Time     string          `json:"time"`
		Record   json.RawMessage `json:"record"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Previous == 0 || rep.TreeSize <= early.TreeSize {
		t.Fatalf("verify principal alice again: exit %d\n%s%s", code, out, errb)
	}
	// The record proven holds what it depends on, and is the one the node
	// serves at that ledger time.
	var rec struct {
		Exact        json.Number                   `json:"trustScoreExact"`
		Endorsements []struct{ EndorserID string } `json:"endorsements"`
		Federated    map[string]json.RawMessage    `json:"federatedTrust"`
		Explanation  struct {
			Base json.Number `json:"baseTrustScore"`
		} `json:"explanation"`
	}
	if err := json.Unmarshal(rep.Record, &rec); err != nil || len(rec.Endorsements) != 1 || rec.Federated["acme"] == nil ||
		rec.Explanation.Base.String() != "70" {
		t.Fatalf("the proven record lacks its dependencies: %v\n%s", err, rep.Record)
	}
	var served struct {
		Exact json.Number `json:"trustScoreExact"`
	}
	if err := json.Unmarshal([]byte(must("principal", "get", "alice", "--at", rep.Time, "-o", "json")), &served); err != nil ||
		served.Exact != rec.Exact {
		t.Fatalf("served at %s: %s, proven %s (%v)", rep.Time, served.Exact, rec.Exact, err)
	}

	// At the earlier tree size: the record as it was then, proven against
	// a checkpoint consistent with the newer one remembered.
	code, out, errb = verifyCmd("alice", "--tree-size", strconv.FormatUint(early.TreeSize, 10), "-o", "json")
	var then struct {
		TreeSize uint64 `json:"treeSize"`
		Previous uint64 `json:"previousTreeSize"`
		Record   struct {
			Score json.Number `json:"trustScoreExact"`
		} `json:"record"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &then) != nil || then.TreeSize != early.TreeSize || then.Previous != rep.TreeSize ||
		then.Record.Score != early.Record.Score {
		t.Fatalf("verify principal alice --tree-size %d: exit %d\n%s%s", early.TreeSize, code, out, errb)
	}

	if code, out, errb = verifyCmd("nobody"); code != 1 || !strings.Contains(errb, "unknown principal") {
		t.Fatalf("an unknown principal: exit %d\n%s%s", code, out, errb)
	}
	_, other, err := note.GenerateKey(rand.Reader, "trustledger/000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errb = verifyCmd("alice", "--verifier-key", other); code != 1 || !strings.Contains(errb, "not the pinned") {
		t.Fatalf("a foreign verifier key: exit %d\n%s%s", code, out, errb)
	}
	// A bundle saved to a file: checked as fetched, and a changed score in
	// it found.
	b, err := testnode.Client(t, addr, token).PrincipalProof(testnode.Context(t, 10*time.Second), "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "bundle.json")
	for _, c := range []struct {
		record []byte
		code   int
		want   string
	}{
		{b.Record, 0, "byte for byte"},
		{bytes.Replace(b.Record, []byte(`"trustScore":`), []byte(`"trustScore":1`), 1), 1, "trustScore is 1"},
	} {
		bb := *b
		bb.Record = c.record
		j, _ := json.Marshal(&bb)
		if err := os.WriteFile(saved, j, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errb := verifyCmd("alice", "--bundle", saved); code != c.code || !strings.Contains(out+errb, c.want) {
			t.Fatalf("verify principal --bundle: exit %d, want %d and %q\n%s%s", code, c.code, c.want, out, errb)
		}
	}
	if code, out, errb := verifyCmd("carol", "--bundle", saved); code != 1 || !strings.Contains(errb, "not carol's") {
		t.Fatalf("another principal's bundle: exit %d\n%s%s", code, out, errb)
	}
	checkTamperedBundles(t, addr, token)
}

// checkTamperedBundles alters alice's proof bundle as a lying node or a
// man in the middle could, and expects the verifier to say what failed.
func checkTamperedBundles(t *testing.T, addr, token string) {
	cl := testnode.Client(t, addr, token)
	ctx := testnode.Context(t, 10*time.Second)
	key, err := cl.CheckpointKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := cl.PrincipalProof(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := verify.OpenCheckpoint(key, []byte(orig.Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := verify.CheckPrincipal(cp, orig); err != nil {
		t.Fatalf("the bundle as served: %v", err)
	}
	find := func(b *client.PrincipalProof, kind string) int {
		for i, e := range b.Entries {
			if e.Kind == kind {
				return i
			}
		}
		t.Fatalf("no %s entry in the bundle", kind)
		return -1
	}
	for _, c := range []struct {
		name  string
		alter func(b *client.PrincipalProof)
		want  string
	}{
		{"one byte of an entry changed", func(b *client.PrincipalProof) {
			e := &b.Entries[find(b, "record_signals")]
			e.Leaf[len(e.Leaf)-1] ^= 1
		}, "is not in the ledger the checkpoint of size"},
		{"an endorsement withheld", func(b *client.PrincipalProof) {
			i := find(b, "add_endorsement")
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
		}, "the served record is not the one its"},
		{"the organization withheld", func(b *client.PrincipalProof) {
			i := find(b, "set_org")
			b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
		}, "the served record is not the one its"},
		{"a pair reordered", func(b *client.PrincipalProof) {
			b.Entries[1], b.Entries[2] = b.Entries[2], b.Entries[1]
		}, "increasing sequence"},
		{"the score changed", func(b *client.PrincipalProof) {
			b.Record = bytes.Replace(b.Record, []byte(`"trustScore":`), []byte(`"trustScore":1`), 1)
		}, "trustScore is 1"},
		{"an older head", func(b *client.PrincipalProof) {
			b.Head = b.Entries[0]
		}, "the bundle's head is entry"},
		{"the proof of another principal", func(b *client.PrincipalProof) { b.PrincipalID = "carol" }, "the served record is not the one"},
	} {
		b := cloneBundle(t, orig)
		c.alter(b)
		_, _, err := verify.CheckPrincipal(cp, b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
			continue
		}
		t.Logf("%s: %v", c.name, err)
	}
}

func cloneBundle(t *testing.T, b *client.PrincipalProof) *client.PrincipalProof {
	t.Helper()
	j, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var out client.PrincipalProof
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}
