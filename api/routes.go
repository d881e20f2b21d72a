package api

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/trustledger/trustledger/fsm"
)

// Route is one API route: its method and chi pattern, the role it is for,
// and what it does. The route table is the single source of truth for
// the router, the authorization checks and the tests.
type Route struct {
	Method  string
	Pattern string
	// Role is the role the route is for, as docs/api.md ("Authentication
	// and roles") names it: reader, writer, auditor, operator, partner,
	// admin, node (a member's certificate), or none (no token).
	// Route.Admits says which token roles that lets in.
	Role string
	// AlsoRoles are token roles admitted besides those Role admits.
	AlsoRoles []string
	// Read marks routes that read replicated state: they take
	// ?consistency=, ?max_stale=, ?index= and ?wait= (readParams) and
	// answer with the X-Trust-Index, X-Trust-Known-Leader and
	// X-Trust-Last-Contact headers.
	Read bool
	// Query names the query parameters the route takes besides a read's;
	// any other is refused with 400 invalid-parameter naming it.
	Query []string
	// Summary says what the route does.
	Summary string
	// TLSOnly routes carry secrets in their answers: over plain HTTP they
	// are refused, before any forwarding.
	TLSOnly bool

	handle handler
}

// handler serves a route: it writes the answer, or returns the error
// that becomes the problem document (Server.fail), the one place where
// errors become HTTP answers.
type handler func(*Server, http.ResponseWriter, *http.Request) error

// routeTable is every route the API serves.
func routeTable() []Route {
	get, post, put, patch, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	return append([]Route{
		{Method: get, Pattern: "/healthz", Role: RoleNone, Summary: "liveness", handle: (*Server).healthz},
		{Method: get, Pattern: "/readyz", Role: RoleNone, Summary: "readiness: a leader is known and the node has caught up", handle: (*Server).readyz},
		{Method: get, Pattern: "/ui", Role: RoleNone, Summary: "the console: a page that calls this API with the token you give it", handle: (*Server).uiIndex},
		{Method: get, Pattern: "/ui/{file}", Role: RoleNone, Summary: "the console's script and style", handle: (*Server).uiAsset},
		{Method: get, Pattern: "/ui/vendor/{file}", Role: RoleNone, Summary: "the console's vendored charting library (uPlot)", handle: (*Server).uiVendor},
		{Method: get, Pattern: "/metrics", Role: "operator", Summary: "Prometheus metrics", handle: (*Server).serveMetrics},
		{Method: get, Pattern: "/v1/status", Role: "reader", AlsoRoles: []string{"operator", RoleNode}, Summary: "node status (answered by any node)", handle: (*Server).status},

		{Method: post, Pattern: "/v1/principals", Role: "writer", Summary: "register a principal", handle: (*Server).registerPrincipal},
		{Method: get, Pattern: "/v1/principals", Role: "reader", Read: true, Query: []string{"type", "level", "orgId", "requiresReview", "overdue", "limit", "cursor", "at"}, Summary: "list trust records", handle: (*Server).listPrincipals},
		{Method: get, Pattern: "/v1/principals/{id}", Role: "reader", Read: true, Query: []string{"at"}, Summary: "a principal's trust record", handle: (*Server).getPrincipal},
		{Method: patch, Pattern: "/v1/principals/{id}", Role: "writer", Summary: "update a principal", handle: (*Server).updatePrincipal},
		{Method: post, Pattern: "/v1/principals/{id}/modifiers", Role: "analyst", Summary: "add a temporary modifier to a principal's score", handle: (*Server).addModifier},
		{Method: del, Pattern: "/v1/principals/{id}/modifiers/{modifierId}", Role: "analyst", Summary: "remove a temporary modifier before it expires", handle: (*Server).removeModifier},
		{Method: get, Pattern: "/v1/principals/{id}/history", Role: "reader", Read: true, Summary: "a principal's score history", handle: (*Server).principalHistory},
		{Method: get, Pattern: "/v1/principals/{id}/events", Role: "reader", Read: true, Query: []string{"after", "limit"}, Summary: "a principal's ledger entries", handle: (*Server).principalEvents},
		{Method: get, Pattern: "/v1/principals/{id}/proof", Role: "auditor", Query: []string{"treeSize"}, Summary: "a principal's record with the entries and proofs it follows from", handle: (*Server).principalProof},
		{Method: put, Pattern: "/v1/principals/{id}/factors", Role: "writer", Summary: "report factors", handle: (*Server).reportFactors},

		{Method: put, Pattern: "/v1/orgs/{orgId}", Role: "admin", Summary: "set an organization's baseline", handle: (*Server).putOrg},
		{Method: get, Pattern: "/v1/orgs/{orgId}", Role: "reader", Read: true, Summary: "an organization's baseline", handle: (*Server).getOrg},

		{Method: post, Pattern: "/v1/signals", Role: "writer", Summary: "record one signal or a batch", handle: (*Server).recordSignals},

		{Method: post, Pattern: "/v1/endorsements", Role: "writer", Summary: "endorse a principal", handle: (*Server).addEndorsement},
		{Method: get, Pattern: "/v1/endorsements/{id}", Role: "reader", Read: true, Query: []string{"at"}, Summary: "an endorsement", handle: (*Server).getEndorsement},
		{Method: del, Pattern: "/v1/endorsements/{id}", Role: "writer", Summary: "revoke an endorsement", handle: (*Server).revokeEndorsement},

		{Method: post, Pattern: "/v1/decisions", Role: "reader", AlsoRoles: []string{fsm.RoleGateway}, Read: true, Query: []string{"at"}, Summary: "an access decision: allow, step up or deny", handle: (*Server).decide},
		{Method: get, Pattern: "/v1/authz", Role: "gateway", Read: true, Summary: "authorize a request a reverse proxy forwards (nginx auth_request, forward-auth): 200, 401 step up, 403", handle: (*Server).authorize},
		{Method: post, Pattern: "/v1/simulate", Role: "reader", Read: true, Query: []string{"at"}, Summary: "what-if: the record after hypothetical events", handle: (*Server).simulate},

		{Method: get, Pattern: "/v1/alerts", Role: "reader", Read: true, Query: []string{"status", "principalId", "limit", "cursor"}, Summary: "trust alerts", handle: (*Server).listAlerts},
		{Method: post, Pattern: "/v1/alerts/{id}/review", Role: "analyst", Summary: "review an alert", handle: (*Server).reviewAlert},
		{Method: get, Pattern: "/v1/detections", Role: "reader", Read: true, Query: []string{"state", "principalId", "type", "source", "limit", "cursor"}, Summary: "detections", handle: (*Server).listDetections},
		{Method: get, Pattern: "/v1/detections/{id}", Role: "reader", Read: true, Summary: "one detection", handle: (*Server).getDetection},
		{Method: post, Pattern: "/v1/detections/{id}/review", Role: "analyst", Summary: "review a detection", handle: (*Server).reviewDetection},

		{Method: get, Pattern: "/v1/federation/partners", Role: "admin", Read: true, Summary: "list federation partners", handle: (*Server).listPartners},
		{Method: put, Pattern: "/v1/federation/partners/{partnerId}", Role: "admin", Summary: "register or replace a partner", handle: (*Server).putPartner},
		{Method: get, Pattern: "/v1/federation/partners/{partnerId}", Role: "admin", Read: true, Summary: "a federation partner", handle: (*Server).getPartner},
		{Method: del, Pattern: "/v1/federation/partners/{partnerId}", Role: "admin", Summary: "remove a partner", handle: (*Server).deletePartner},
		{Method: post, Pattern: "/v1/federation/events", Role: "partner", Summary: "Security Event Token push delivery", handle: (*Server).pushSecurityEvent},

		{Method: get, Pattern: "/v1/ledger", Role: "auditor", AlsoRoles: []string{RoleNode}, Read: true, Query: []string{"after", "limit"}, Summary: "ledger entries", handle: (*Server).ledgerEntries},
		{Method: get, Pattern: "/v1/ledger/stream", Role: "auditor", Query: []string{"after"}, Summary: "ledger entries as server-sent events", handle: (*Server).ledgerStream},
		{Method: get, Pattern: "/v1/audit/stream", Role: "auditor", Summary: "this node's audit events (OCSF) as server-sent events", handle: (*Server).auditStream},
		{Method: get, Pattern: "/v1/ledger/checkpoint", Role: "reader", Query: []string{"treeSize"}, Summary: "the latest signed checkpoint of the ledger's Merkle tree", handle: (*Server).checkpoint},
		{Method: get, Pattern: "/v1/ledger/checkpoint/key", Role: "reader", Summary: "the checkpoint verifier key", handle: (*Server).checkpointKey},
		{Method: get, Pattern: "/v1/ledger/proof/inclusion", Role: "reader", Query: []string{"sequence", "treeSize"}, Summary: "proof that an entry is in the tree of a given size", handle: (*Server).inclusionProof},
		{Method: get, Pattern: "/v1/ledger/proof/consistency", Role: "reader", AlsoRoles: []string{RoleNode}, Query: []string{"from", "to"}, Summary: "proof that a smaller tree is a prefix of a larger one", handle: (*Server).consistencyProof},

		{Method: post, Pattern: "/v1/import", Role: "admin", Summary: "import PrincipalTrust records", handle: (*Server).importRecords},

		{Method: put, Pattern: "/v1/policy", Role: "admin", Summary: "change the scoring and decision policy", handle: (*Server).putPolicy},
		{Method: post, Pattern: "/v1/policy/simulate", Role: "admin", Read: true, Query: []string{"at"}, Summary: "what a proposed policy would change: every principal's decision before and after, nothing written", handle: (*Server).simulatePolicy},
		{Method: get, Pattern: "/v1/policy", Role: "reader", Read: true, Summary: "the scoring and decision policy", handle: (*Server).getPolicy},

		{Method: post, Pattern: "/v1/tokens", Role: "admin", Summary: "create a token", handle: (*Server).createToken},
		{Method: get, Pattern: "/v1/tokens", Role: "admin", Read: true, Summary: "list tokens", handle: (*Server).listTokens},
		{Method: del, Pattern: "/v1/tokens/{id}", Role: "admin", Summary: "revoke a token", handle: (*Server).revokeToken},
	}, append(ssfRoutes(), clusterRoutes()...)...)
}

// ssfRoutes are the routes of the Shared Signals transmitter.
func ssfRoutes() []Route {
	get, post, put, patch, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	return []Route{
		{Method: get, Pattern: ssfWellKnown, Role: RoleNone, Summary: "SSF transmitter configuration metadata", handle: (*Server).ssfConfiguration},
		{Method: get, Pattern: ssfJWKSPath, Role: RoleNone, Summary: "the keys SETs are signed with (every node's)", handle: (*Server).ssfJWKS},
		{Method: post, Pattern: ssfStreamsPath, Role: fsm.RoleReceiver, Summary: "create an SSF stream", handle: (*Server).createStream},
		{Method: get, Pattern: ssfStreamsPath, Role: fsm.RoleReceiver, Read: true, Query: []string{"stream_id"}, Summary: "an SSF stream's configuration, or the token's streams", handle: (*Server).getStreams},
		{Method: patch, Pattern: ssfStreamsPath, Role: fsm.RoleReceiver, Summary: "update an SSF stream", handle: (*Server).updateStream},
		{Method: put, Pattern: ssfStreamsPath, Role: fsm.RoleReceiver, Summary: "replace an SSF stream's configuration", handle: (*Server).updateStream},
		{Method: del, Pattern: ssfStreamsPath, Role: fsm.RoleReceiver, Query: []string{"stream_id"}, Summary: "delete an SSF stream", handle: (*Server).deleteStream},
		{Method: get, Pattern: ssfStatusPath, Role: fsm.RoleReceiver, Read: true, Query: []string{"stream_id"}, Summary: "an SSF stream's status and delivery", handle: (*Server).streamStatus},
		{Method: post, Pattern: ssfStatusPath, Role: fsm.RoleReceiver, Summary: "enable, pause or disable an SSF stream", handle: (*Server).setStreamStatus},
		{Method: post, Pattern: ssfAddPath, Role: fsm.RoleReceiver, Summary: "add a subject to an SSF stream", handle: (*Server).addSubject},
		{Method: post, Pattern: ssfRemovePath, Role: fsm.RoleReceiver, Summary: "remove a subject from an SSF stream", handle: (*Server).removeSubject},
		{Method: post, Pattern: ssfVerifyPath, Role: fsm.RoleReceiver, Summary: "ask for an SSF verification event", handle: (*Server).verifyStream},
		{Method: post, Pattern: "/v1/ssf/keys/rotate", Role: "operator", Summary: "rotate the leader's SET signing keys (the pair before stays published, retired)", handle: (*Server).rotateTransmitterKeys},
		{Method: post, Pattern: ssfPollPathStart + "{streamId}", Role: fsm.RoleReceiver, Summary: "poll an SSF stream's SETs (RFC 8936), acknowledging those received", handle: (*Server).pollStream},
	}
}

// clusterRoutes are the routes of cluster membership and operations.
func clusterRoutes() []Route {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	return []Route{
		{Method: get, Pattern: "/v1/cluster", Role: "operator", Summary: "members, Raft configuration, leader, per-node region, role, index and lag (answered by any node)", handle: (*Server).getCluster},
		{Method: post, Pattern: "/v1/cluster/join", Role: "operator", Summary: "add a node: a voter or a read replica", handle: (*Server).joinCluster},
		{Method: post, Pattern: "/v1/cluster/identity", Role: "operator", Summary: "sign a joining node's certificate request: its certificate, the cluster CA and the gossip keys", TLSOnly: true, handle: (*Server).issueIdentity},
		{Method: get, Pattern: "/v1/cluster/enrollment", Role: RoleNone, Summary: "on a node that has not joined: its certificate request, for an operator to take to the cluster", handle: (*Server).enrollment},
		{Method: post, Pattern: "/v1/cluster/enrollment", Role: RoleNone, TLSOnly: true, Summary: "on a node that has not joined: install the identity the cluster granted it", handle: (*Server).enroll},
		{Method: get, Pattern: "/v1/cluster/ca-key", Role: RoleNode, TLSOnly: true, Summary: "node to node, on the leader: the cluster CA key, for a voter", handle: (*Server).caKey},
		{Method: get, Pattern: "/v1/cluster/checkpoint-key", Role: RoleNode, TLSOnly: true, Summary: "node to node, on the leader: the checkpoint signer key, for a voter", handle: (*Server).checkpointSignerKey},
		{Method: get, Pattern: "/v1/cluster/ca", Role: RoleNone, Summary: "the cluster CA certificate and its fingerprint, for pinning", handle: (*Server).clusterCA},
		{Method: post, Pattern: "/v1/cluster/gossip-key/rotate", Role: "operator", Summary: "rotate the gossip encryption key on every member, without downtime (runs on the leader)", handle: (*Server).rotateGossipKey},
		{Method: put, Pattern: "/v1/cluster/gossip-keys", Role: RoleNode, TLSOnly: true, Summary: "node to node, from the leader during a rotation: set this node's gossip keyring", handle: (*Server).setGossipKeys},
		{Method: del, Pattern: "/v1/cluster/nodes/{id}", Role: "operator", Summary: "remove a node from the cluster", handle: (*Server).removeNode},
		{Method: post, Pattern: "/v1/cluster/transfer-leadership", Role: "operator", Summary: "hand leadership to another voter", handle: (*Server).transferLeadership},
		{Method: get, Pattern: "/v1/cluster/snapshot", Role: "operator", Read: true, Summary: "a snapshot of the replicated state (backup)", handle: (*Server).snapshot},
		{Method: post, Pattern: "/v1/cluster/restore", Role: "admin", Summary: "replace the replicated state with a snapshot", handle: (*Server).restore},
	}
}

// Routes returns the route table (for documentation and tooling).
func Routes() []Route {
	rs := routeTable()
	for i := range rs {
		rs[i].handle = nil
	}
	return rs
}

func (s *Server) newRouter() *chi.Mux {
	r := chi.NewRouter()
	table := routeTable()
	for _, rt := range table {
		r.Method(rt.Method, rt.Pattern, s.serveRoute(rt))
	}
	methods := []string{}
	for _, rt := range table {
		if !slices.Contains(methods, rt.Method) {
			methods = append(methods, rt.Method)
		}
	}
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		writeProblem(sw, req, newProblem(ProblemNotFound, "", "no such route: %s", req.URL.Path))
		s.metrics.observe("unmatched", req.Method, sw.code(), time.Since(start))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		var allow []string
		for _, m := range methods {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allow = append(allow, m)
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("Allow", strings.Join(allow, ", "))
		writeProblem(sw, req, newProblem(ProblemMethodNotAllowed, "", "%s is not allowed here; allowed: %s",
			req.Method, strings.Join(allow, ", ")))
		s.metrics.observe("unmatched", req.Method, sw.code(), time.Since(start))
	})
	return r
}

// serveRoute wraps a route's handler with authentication, authorization,
// read consistency, metrics and the audit log.
func (s *Server) serveRoute(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{route: rt}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("handler panic", "route", rt.Pattern, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !sw.wrote {
					writeProblem(sw, r, newProblem(ProblemInternal, "", "an internal error occurred; the server log has the details"))
				}
			}
			s.finish(r, info, sw.code(), time.Since(start))
		}()
		s.distrustForwarding(r)
		if rt.TLSOnly && r.TLS == nil {
			sw.Header().Set(HeaderServedBy, s.node.NodeID())
			var err error = newProblem(ProblemTLSRequired, "", "%s %s answers with secrets: send it over https (the API port speaks TLS too)", rt.Method, rt.Pattern)
			if rt.Role != RoleNone {
				// Who asks comes first: 401 and 403 before 400.
				if tok, aerr := s.authenticate(r); aerr != nil {
					err = aerr
				} else if aerr := authorize(rt, tok); aerr != nil {
					err = aerr
				}
			}
			s.fail(sw, r, err)
			return
		}
		// Routes for role node are node to node: answered where they
		// arrive, never forwarded.
		if rt.Role != RoleNode && s.needsLeader(rt, r) {
			// The leader authenticates, authorizes and audits it.
			info.forwarded = true
			s.forward(sw, r)
			return
		}
		sw.Header().Set(HeaderServedBy, s.node.NodeID())
		s.noteIgnoredCertificate(sw, r)
		if rt.Role != RoleNone {
			tok, err := s.authenticate(r)
			if err != nil && s.tokenMaybeNewer(rt, r) {
				// A token this follower has not applied yet (just created,
				// or the node is catching up): the leader decides, and
				// names itself as the node that answered.
				sw.Header().Del(HeaderServedBy)
				info.forwarded = true
				s.forward(sw, r)
				return
			}
			if err != nil && s.unknownWhileReplaying(r) {
				err = s.notReplayed()
			}
			if err != nil {
				s.fail(sw, r, err)
				return
			}
			info.token, info.authed = tok, true
			if err := authorize(rt, tok); err != nil {
				s.fail(sw, r, err)
				return
			}
		}
		if err := checkQuery(rt, r); err != nil {
			s.fail(sw, r, err)
			return
		}
		if rt.Read {
			if err := s.prepareRead(sw, r); err != nil {
				s.fail(sw, r, err)
				return
			}
		}
		if err := rt.handle(s, sw, r); err != nil {
			s.fail(sw, r, err)
		}
	})
}

// finish records a request in the metrics and the audit log.
func (s *Server) finish(r *http.Request, info *requestInfo, status int, d time.Duration) {
	s.metrics.observe(info.route.Pattern, r.Method, status, d)
	if info.route.Role == RoleNone {
		return
	}
	s.auditRequest(r, info, status, d)
}

// statusWriter remembers the status a handler wrote. It passes Flush on,
// for server-sent events.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// readParams are the query parameters every Read route takes.
var readParams = []string{"consistency", "max_stale", "index", "wait"}

// checkQuery refuses a query parameter the route does not take: a
// misspelt one (?consistancy=stale) must not quietly give another answer
// than the one asked for.
func checkQuery(rt Route, r *http.Request) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(rt.Query, name) || rt.Read && slices.Contains(readParams, name) {
			continue
		}
		takes := slices.Clone(rt.Query)
		if rt.Read {
			takes = append(takes, readParams...)
		}
		if len(takes) == 0 {
			return withCode(newProblem(ProblemInvalidParameter, name, "%s %s takes no query parameters, not %q", rt.Method, rt.Pattern, name), "unknown")
		}
		return withCode(newProblem(ProblemInvalidParameter, name, "unknown query parameter %q; %s %s takes %s", name, rt.Method, rt.Pattern,
			strings.Join(takes, ", ")), "unknown")
	}
	return nil
}

// noteIgnoredCertificate tells a client whose TLS certificate the node
// does not use so, instead of dropping it silently: one not verified
// against a client CA (--tls-client-ca-file) and not a cluster member's.
func (s *Server) noteIgnoredCertificate(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || len(r.TLS.VerifiedChains) > 0 {
		return
	}
	if s.cluster != nil {
		if _, member := s.cluster.PeerNodeID(r.TLS); member {
			return
		}
	}
	w.Header().Set(HeaderClientCertificate, "ignored: not from the cluster CA or a configured client CA; the token authenticates")
}
