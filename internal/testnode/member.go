package testnode

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/cluster"
)

// Member is an in-process trustd that can stop and start again: a
// cluster.Node and its API on a real loopback socket, on addresses that
// survive restarts.
type Member struct {
	t   testing.TB
	cfg cluster.Config
	api API
	// HTTPAddr is the host:port of the API.
	HTTPAddr string

	mu   sync.Mutex
	node *cluster.Node
	srv  Server
	http *http.Server
	done chan struct{}
}

// NewMember describes a member opened with cfg, its API on httpAddr; it
// is stopped when the test ends. Start starts it.
func NewMember(t testing.TB, cfg cluster.Config, httpAddr string, a API) *Member {
	m := &Member{t: t, cfg: cfg, api: a, HTTPAddr: httpAddr}
	t.Cleanup(m.Stop)
	return m
}

// URL is the base URL of the member's API (plain HTTP).
func (m *Member) URL() string { return "http://" + m.HTTPAddr }

// Node returns the running cluster.Node, nil while the member is stopped.
func (m *Member) Node() *cluster.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// listenRetry is how long Start retries the API's address: it was free a
// moment ago, and after a restart another socket may hold it briefly.
const listenRetry = 5 * time.Second

// Start opens the node on its data directory and serves its API.
func (m *Member) Start() *cluster.Node {
	m.t.Helper()
	node, err := cluster.Open(m.cfg)
	if err != nil {
		m.t.Fatalf("open %s: %v", m.cfg.NodeID, err)
	}
	ln, err := listen(m.HTTPAddr)
	if err != nil {
		_ = node.Close()
		m.t.Fatalf("listen %s: %v", m.HTTPAddr, err)
	}
	if m.api.Listener != nil {
		ln = m.api.Listener(ln, node)
	}
	s := m.api.New(node)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	m.mu.Lock()
	m.node, m.srv, m.http, m.done = node, s, srv, done
	m.mu.Unlock()
	return node
}

func listen(addr string) (net.Listener, error) {
	deadline := time.Now().Add(listenRetry)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			return ln, err
		}
		time.Sleep(20 * time.Millisecond) // the retry pace while the port is still held
	}
}

// CloseHTTP closes the member's HTTP server while its node runs on.
func (m *Member) CloseHTTP() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.http != nil {
		_ = m.http.Close()
	}
}

// Stop closes the API and the node, as a crash would as far as the
// others can tell: connections drop, Raft and gossip stop answering. Safe
// to call twice.
func (m *Member) Stop() {
	m.mu.Lock()
	node, s, srv, done := m.node, m.srv, m.http, m.done
	m.node, m.srv, m.http = nil, nil, nil
	m.mu.Unlock()
	if node == nil {
		return
	}
	_ = s.Close()
	_ = srv.Close()
	<-done
	if err := node.Close(); err != nil {
		m.t.Errorf("close %s: %v", m.cfg.NodeID, err)
	}
}
