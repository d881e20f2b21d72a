package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFreshStartDefaults starts trustd the way the README's first command
// does — no flags, in an empty directory — with only the three ports moved
// (through the environment, so the defaults cannot collide with another
// node on this machine). It must bootstrap a working single-node cluster,
// create the admin token in ./trustledger-data and print its path; a
// clean shutdown exits 0, and a second start reuses the token.
func TestFreshStartDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The path trustd prints is the absolute path of its working
	// directory, symbolic links resolved (macOS's /var is one).
	cwd, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n := &trustd{t: t, defaults: true, dir: cwd, dataDir: filepath.Join(cwd, "trustledger-data"), logDir: t.TempDir()}
	t.Cleanup(n.cleanup)
	n.boot()

	tokenPath := filepath.Join(cwd, "trustledger-data", "admin.token")
	if out := n.output(); !strings.Contains(out, tokenPath) {
		t.Fatalf("trustd did not print the admin token's path %s:\n%s", tokenPath, out)
	}
	fi, err := os.Stat(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", tokenPath, fi.Mode().Perm())
	}
	for _, name := range []string{"node-id", "ledger.db", "audit.log", filepath.Join("raft", "raft.db"), filepath.Join("raft", "snapshots")} {
		if _, err := os.Stat(filepath.Join(n.dataDir, name)); err != nil {
			t.Errorf("data directory: %v", err)
		}
	}

	n.connect()
	st := n.status(ctx)
	if st.NodeID != "node1" || st.State != "leader" || st.LeaderID != "node1" || st.Region != "local" || st.Digest == "" {
		t.Fatalf("status of a fresh node: %+v", st)
	}
	// It works: a write, and a read that sees it.
	c := ctl{t: t, env: []string{"TRUSTLEDGER_ADDR=" + n.url(), "TRUSTLEDGER_TOKEN_FILE=" + tokenPath}}
	c.table([]string{"Registered svc-1"}, "principal", "register", "svc-1", "--type", "service")
	c.table([]string{"svc-1 (service)"}, "principal", "get", "svc-1")
	audit, err := os.ReadFile(filepath.Join(n.dataDir, "audit.log"))
	if err != nil || !strings.Contains(string(audit), `"path":"/v1/principals"`) {
		t.Errorf("audit.log has no line for the registration (%v):\n%s", err, audit)
	}

	if code := n.stop(); code != 0 {
		t.Fatalf("trustd exited %d after SIGTERM, want 0", code)
	}
	n.restart()
	if strings.Contains(n.output(), "admin token written") {
		t.Errorf("a second start wrote a new admin token:\n%s", n.output())
	}
	token := n.token
	n.connect()
	if n.token != token {
		t.Fatal("the admin token changed across a restart")
	}
	after := n.settled(ctx)
	if after.Principals != st.Principals+1 || after.Counters["rejected"] != 0 {
		t.Errorf("after the restart: %d principals and %d rejected entries, want %d and none",
			after.Principals, after.Counters["rejected"], st.Principals+1)
	}
}
