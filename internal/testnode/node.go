package testnode

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// LogEnv names the environment variable that, when set, sends the nodes'
// logs to standard error at debug level.
const LogEnv = "TESTNODE_LOG"

// Server is a node's HTTP API (*api.Server).
type Server interface {
	Handler() http.Handler
	Close() error
}

// API is what testnode needs of package api. A package hands in a value
// built from api.New, api.EnsureAdminToken and api.NewListener.
type API struct {
	// New builds the API server of node.
	New func(node *cluster.Node) Server
	// AdminToken creates the bootstrap admin token of node at path, as
	// api.EnsureAdminToken does, and reports whether it made one.
	AdminToken func(ctx context.Context, node *cluster.Node, path string) (created bool, err error)
	// Listener wraps a member's API socket (api.NewListener with the node's
	// TLS, plain HTTP allowed); nil serves plain HTTP only.
	Listener func(ln net.Listener, node *cluster.Node) net.Listener
}

// Logger is the logger the nodes of test t log to: discarded unless the
// LogEnv variable is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv(LogEnv) == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// Config is the configuration of a voter id with data directory dir, Raft
// on a loopback port the OS picks, FastRaft, no gossip, and Logger.
func Config(t testing.TB, id, dir string) cluster.Config {
	return cluster.Config{NodeID: id, DataDir: dir, RaftAddr: "127.0.0.1:0", Region: "test", Voter: true,
		Logger: Logger(t), TuneRaft: FastRaft}
}

// Open opens a node and closes it when the test ends (Close is idempotent,
// so a test may close it earlier).
func Open(t testing.TB, cfg cluster.Config) *cluster.Node {
	t.Helper()
	n, err := cluster.Open(cfg)
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

// LeadTimeout bounds how long a test waits for a node to lead: generous,
// for a loaded two-core machine.
const LeadTimeout = 20 * time.Second

// WaitLeader waits until n leads.
func WaitLeader(t testing.TB, n *cluster.Node) {
	t.Helper()
	WaitFor(t, LeadTimeout, 5*time.Millisecond, n.IsLeader, n.NodeID()+" leads")
}

// NewAdminToken makes the bootstrap admin token of the leader n in
// dir/admin.token and returns its secret.
func (a API) NewAdminToken(t testing.TB, n *cluster.Node, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "admin.token")
	created, err := a.AdminToken(Context(t, LeadTimeout), n, path)
	if err != nil || !created {
		t.Fatalf("%s: admin token: created=%v err=%v", n.NodeID(), created, err)
	}
	secret, err := client.ReadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// ClientTimeout is the request timeout of the clients Client makes.
const ClientTimeout = 15 * time.Second

// Client returns an API client of the node at url with token.
func Client(t testing.TB, url, token string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Address: url, Token: token, Timeout: ClientTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
