package testnode

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// Single is a single-voter cluster that leads, its bootstrap admin token
// and its API behind an httptest server, all closed when the test ends.
type Single struct {
	// Dir holds the data directory (Dir/data) and admin.token.
	Dir  string
	Node *cluster.Node
	// Admin is the secret of the bootstrap admin token.
	Admin string
	// Server is the node's API and HTTP its httptest server.
	Server Server
	HTTP   *httptest.Server
}

// StartSingle opens node id on a fresh data directory (Config, then tune
// when it is not nil), bootstraps it, waits until it leads, makes the
// admin token and serves the API a builds.
func StartSingle(t testing.TB, id string, a API, tune func(*cluster.Config)) *Single {
	t.Helper()
	s := &Single{Dir: t.TempDir()}
	cfg := Config(t, id, filepath.Join(s.Dir, "data"))
	cfg.Bootstrap = true
	if tune != nil {
		tune(&cfg)
	}
	s.Node = Open(t, cfg)
	WaitLeader(t, s.Node)
	s.Admin = a.NewAdminToken(t, s.Node, s.Dir)
	s.Server = a.New(s.Node)
	s.HTTP = httptest.NewServer(s.Server.Handler())
	t.Cleanup(func() {
		_ = s.Server.Close()
		s.HTTP.Close()
	})
	return s
}

// URL is the base URL of the node's API.
func (s *Single) URL() string { return s.HTTP.URL }

// Client returns an API client of the node with token.
func (s *Single) Client(t testing.TB, token string) *client.Client { return Client(t, s.URL(), token) }
