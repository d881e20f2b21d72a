package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// Node-to-node HTTP (docs/threat-model.md, "Node-to-node HTTP"). Requests
// one node sends another (a write forwarded to the leader, a member
// probe) go over TLS to the member's API port, whatever scheme its API
// address advertises: this node presents its cluster certificate, and the
// server must present one from the cluster CA that names the member
// expected there, a node of the Raft configuration. Only a node that runs
// insecure (PeerClientTLS nil) speaks plain HTTP to its peers.

// RoleNode is the role of a request authenticated by a cluster member's
// certificate rather than a token: other nodes' probes of GET /v1/status,
// and the leader setting a member's gossip keyring. No token has it.
const RoleNode = "node"

// peerIDKey carries, in a request's context, the node id of the member it
// is sent to.
type peerIDKey struct{}

// peerTransports keeps one HTTP transport per member, each verifying that
// member's certificate, so that a pooled connection is never reused for
// another member.
type peerTransports struct {
	s     *Server
	base  *http.Transport
	mu    sync.Mutex
	byID  map[string]*http.Transport
	plain *http.Transport
}

func newPeerTransports(s *Server) *peerTransports {
	tr := &http.Transport{ForceAttemptHTTP2: false, TLSHandshakeTimeout: 10 * time.Second}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone()
	}
	// Node to node, never through an environment proxy: forwarded requests
	// carry the caller's bearer token.
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: forwardDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 256
	tr.IdleConnTimeout = 90 * time.Second
	tr.ForceAttemptHTTP2 = false
	return &peerTransports{s: s, base: tr, byID: map[string]*http.Transport{}, plain: tr.Clone()}
}

// transport returns the transport for member id.
func (p *peerTransports) transport(id string) *http.Transport {
	if p.s.cluster == nil || !p.s.cluster.Secure() {
		return p.plain
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	tr, ok := p.byID[id]
	if !ok {
		tr = p.base.Clone()
		tr.TLSClientConfig = p.s.cluster.PeerClientTLS(id)
		p.byID[id] = tr
	}
	return tr
}

// RoundTrip sends req to the member its context names.
func (p *peerTransports) RoundTrip(req *http.Request) (*http.Response, error) {
	id, _ := req.Context().Value(peerIDKey{}).(string)
	return p.transport(id).RoundTrip(req)
}

func (p *peerTransports) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.byID {
		tr.CloseIdleConnections()
	}
	p.plain.CloseIdleConnections()
}

// peerURL is the URL node-to-node requests use for a member's API base
// URL: https, unless this node runs insecure.
func (s *Server) peerURL(apiAddr string) (*url.URL, error) {
	u, err := url.Parse(apiAddr)
	if err != nil {
		return nil, err
	}
	if s.cluster != nil && s.cluster.Secure() {
		u.Scheme = "https"
	}
	return u, nil
}

// withPeer names, in ctx, the member a node-to-node request goes to.
func withPeer(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, peerIDKey{}, id)
}

// peerNodeID is the cluster member that sent r, as its TLS client
// certificate proves; "" for anyone else.
func (s *Server) peerNodeID(r *http.Request) string {
	if s.cluster == nil || r.TLS == nil {
		return ""
	}
	id, ok := s.cluster.PeerNodeID(r.TLS)
	if !ok {
		return ""
	}
	return id
}

// forwardingHeaders are the headers a forwarding node sets, which only an
// authenticated member may send.
var forwardingHeaders = []string{HeaderForwardedBy, "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"}

// distrustForwarding drops the forwarding headers of a request that does
// not come from an authenticated member, so that a client cannot pose as
// a forwarding node (in the audit log, or to stop a follower from
// forwarding). A node that runs insecure believes them as sent.
func (s *Server) distrustForwarding(r *http.Request) {
	if s.cluster == nil || !s.cluster.Secure() || r.Header.Get(HeaderForwardedBy) == "" && r.Header.Get("X-Forwarded-For") == "" {
		return
	}
	if s.peerNodeID(r) != "" {
		return
	}
	for _, h := range forwardingHeaders {
		r.Header.Del(h)
	}
}

// peerClient is an api/client for the member at apiAddr, over this node's
// peer transports: TLS with this node's certificate, the member's checked
// against the node id the request's context names (withPeer). No token is
// sent: the member authenticates this node by its certificate.
func (s *Server) peerClient(apiAddr string) (*client.Client, error) {
	u, err := s.peerURL(apiAddr)
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{Address: u.String(), HTTPClient: s.client, Timeout: -1, UserAgent: "trustd"})
}

// peerError describes a failed node-to-node call: the transport's cause
// without the URL around it, or the member's answer.
func peerError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
