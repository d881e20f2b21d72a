package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Headers of forwarded requests.
const (
	// HeaderForwardedBy is set by a follower on a request it forwards to
	// the leader, to the follower's node id. A node never forwards a
	// request that carries it (no forwarding loops when leadership moves
	// in flight): it answers 503 instead, and the client retries.
	HeaderForwardedBy = "X-Trust-Forwarded-By"
	// HeaderServedBy names the node that answered a request.
	HeaderServedBy = "X-Trust-Served-By"
	// HeaderClientCertificate says, on an answer over TLS to a client
	// that presented a certificate the node does not use (neither a
	// cluster member's nor one from --tls-client-ca-file), that it was
	// ignored: the token alone authenticated the request.
	HeaderClientCertificate = "X-Trust-Client-Certificate"
)

// forwardDialTimeout bounds connecting to the leader.
const forwardDialTimeout = 5 * time.Second

// forwardTargetKey carries a forwarded request's target in its context.
type forwardTargetKey struct{}

// newForwarder returns the reverse proxy that carries requests from a
// follower to the leader, over node-to-node TLS (peers.go) that proves the
// leader is the member it claims to be. The caller's Authorization header
// travels with the request, so the leader authenticates and authorizes it
// itself; X-Forwarded-For/-Host/-Proto say where it came from.
func (s *Server) newForwarder() (*httputil.ReverseProxy, *http.Client) {
	s.peers = newPeerTransports(s)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target, _ := pr.In.Context().Value(forwardTargetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(HeaderForwardedBy, s.node.NodeID())
		},
		Transport:     s.peers,
		FlushInterval: -1, // blocking reads and snapshots stream as they come
		ErrorHandler:  s.forwardError,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return proxy, &http.Client{Transport: s.peers}
}

// needsLeader reports whether this node must hand the request to the
// leader: it does not lead, and the route writes (every route that is not
// a GET and not a read) or is a read at the default or linearizable
// consistency level (docs/api.md, "Forwarding"). Stale reads, status,
// health, metrics, ledger streams and GET /v1/cluster are answered where
// they arrive.
func (s *Server) needsLeader(rt Route, r *http.Request) bool {
	if s.cluster == nil || s.node.IsLeader() {
		return false
	}
	if rt.Read {
		switch r.URL.Query().Get("consistency") {
		case "", ConsistencyDefault, ConsistencyLinearizable:
			return true
		}
		return false // stale, or invalid: answered (or refused) here
	}
	return rt.Method != http.MethodGet && rt.Role != RoleNone
}

// tokenMaybeNewer reports whether a stale read whose token this node does
// not know should go to the leader: this node follows, knows where the
// leader is, the request was not forwarded already, and the bearer secret
// is well-formed but unknown here (the leader may have created it after
// the last entry this node applied, or this node is still catching up).
// The leader's answer is fresher, which a stale read allows. Revoked
// tokens are refused here, and so are unknown ones on the routes that
// describe this node itself (status, metrics, the cluster view).
func (s *Server) tokenMaybeNewer(rt Route, r *http.Request) bool {
	if !rt.Read || s.cluster == nil || s.node.IsLeader() || r.Header.Get(HeaderForwardedBy) != "" ||
		s.cluster.LeaderAPIAddr() == "" {
		return false
	}
	return s.tokenUnknownHere(r)
}

// forward hands the request to the leader's API and relays its answer.
// With no leader, or none whose API address is known, or when the request
// was forwarded to this node already, it answers 503 with Retry-After.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if by := r.Header.Get(HeaderForwardedBy); by != "" {
		// The sender took this node for the leader; it no longer is.
		w.Header().Set(HeaderServedBy, s.node.NodeID())
		s.fail(w, r, s.cannotForward())
		return
	}
	addr := s.cluster.LeaderAPIAddr()
	leaderID, _ := s.node.Leader()
	target, err := s.peerURL(addr)
	if addr == "" || leaderID == "" || err != nil || target.Host == "" || addr == s.cluster.Self().APIAddr {
		w.Header().Set(HeaderServedBy, s.node.NodeID())
		s.fail(w, r, s.cannotForward())
		return
	}
	ctx := withPeer(context.WithValue(r.Context(), forwardTargetKey{}, target), leaderID)
	s.metrics.forwarded.Inc()
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// cannotForward is the 503 of a request this node should forward and
// cannot: no leader, a leader whose API address it does not know (yet), or
// a request that was forwarded to it already.
func (s *Server) cannotForward() error {
	if err := s.requireLeader(); err != nil {
		return err
	}
	// Leadership came here in the meantime: the client retries.
	p := newProblem(ProblemNotLeader, "", "leadership moved while the request was on its way; retry")
	p.retryAfter = 1
	return p
}

// forwardError answers when the leader gave no usable answer.
func (s *Server) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	leaderID, _ := s.node.Leader()
	leaderAddr := s.cluster.LeaderAPIAddr()
	s.log.Warn("forwarding to the leader failed", "leader", leaderID, "method", r.Method, "path", r.URL.Path, "error", err)
	var op *net.OpError
	sent := !(errors.As(err, &op) && op.Op == "dial")
	var p *Problem
	if sent && r.Method != http.MethodGet {
		p = newProblem(ProblemOutcomeUnknown, "", "the request was forwarded to the leader %s, which did not answer; "+
			"check the state before retrying (signals with the same eventId are deduplicated)", leaderID)
	} else {
		p = newProblem(ProblemNoLeader, "", "the leader %s could not be reached; retry shortly", leaderID)
	}
	p.LeaderID, p.LeaderAddr, p.retryAfter = leaderID, leaderAddr, 1
	w.Header().Set(HeaderServedBy, s.node.NodeID())
	writeProblem(w, r, p)
}
