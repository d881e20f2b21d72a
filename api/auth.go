package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// RoleNone marks routes that need no token.
const RoleNone = "none"

// roleGrants says which token roles a route's role admits. admin is
// admitted everywhere but on node-to-node routes; auditor reads like a
// reader and also reads the ledger; writer writes and reads; operator and
// partner only have their own routes.
var roleGrants = map[string][]string{
	"reader":   {"admin", "writer", "reader", "auditor", "analyst"},
	"writer":   {"admin", "writer"},
	"auditor":  {"admin", "auditor"},
	"operator": {"admin", "operator"},
	"partner":  {"admin", "partner"},
	"gateway":  {"admin", "gateway"},
	"analyst":  {"admin", "analyst"},
	"admin":    {"admin"},
	"receiver": {"admin", "receiver"},
	// node admits no token: authenticate gives role node only to a
	// request without one whose TLS client certificate proves a cluster
	// member, and fsm.Roles, the roles a token can have, lack it.
	RoleNode: {RoleNode},
}

// Admits reports whether a token of role tokenRole may call rt.
func (rt Route) Admits(tokenRole string) bool {
	if rt.Role == RoleNone {
		return true
	}
	return slices.Contains(roleGrants[rt.Role], tokenRole) || slices.Contains(rt.AlsoRoles, tokenRole)
}

// maxSecretLen bounds the bearer secret hashed per request.
const maxSecretLen = 512

const bearerRealm = `Bearer realm="trustledger"` // #nosec G101 -- an authentication challenge, not a credential

// authenticate finds the request's token. Missing, unknown and revoked
// tokens are 401s.
func (s *Server) authenticate(r *http.Request) (fsm.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if id := s.peerNodeID(r); id != "" {
			// A cluster member's probe, proven by its certificate.
			return fsm.Token{ID: "node:" + id, Role: RoleNode}, nil
		}
		p := newProblem(ProblemUnauthorized, "", "send a token in the Authorization header: Bearer <token>")
		p.authenticate = bearerRealm
		return fsm.Token{}, p
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > maxSecretLen {
		p := newProblem(ProblemUnauthorized, "", "the Authorization header must be: Bearer <token>")
		p.authenticate = bearerRealm + `, error="invalid_request"`
		return fsm.Token{}, p
	}
	sum := sha256.Sum256([]byte(secret))
	tok, found := s.ledger().TokenByHash(sum)
	// The lookup is keyed by the secret's hash, so its timing tells
	// nothing about the secret; compare the stored hash in constant time
	// all the same.
	if !found || subtle.ConstantTimeCompare(tok.Hash, sum[:]) != 1 {
		p := newProblem(ProblemUnauthorized, "", "the token is not valid")
		p.authenticate = bearerRealm + `, error="invalid_token"`
		return fsm.Token{}, p
	}
	if tok.Revoked {
		p := newProblem(ProblemUnauthorized, "", "the token has been revoked")
		p.authenticate = bearerRealm + `, error="invalid_token"`
		return fsm.Token{}, p
	}
	return tok, nil
}

// authorize checks the token's role against the route.
func authorize(rt Route, tok fsm.Token) error {
	if rt.Admits(tok.Role) {
		return nil
	}
	return withCode(newProblem(ProblemForbidden, "", "a %s token may not call %s %s", tok.Role, rt.Method, rt.Pattern), "role")
}

// requestInfo is what the middleware and the handlers learn about one
// request; the audit log and the metrics read it at the end.
type requestInfo struct {
	route     Route
	token     fsm.Token
	authed    bool
	principal string
	index     uint64
	// forwarded: the request went to the leader, which audits it.
	forwarded bool
	// decision is the decision a POST /v1/decisions made, for the audit
	// (the decision log), with the request's context (compact JSON).
	decision        *fsm.Decision
	decisionContext []byte
}

func (i *requestInfo) tokenID() string {
	if i == nil {
		return ""
	}
	return i.token.ID
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// noteSubject records the principal a request is about, for the audit log.
func noteSubject(r *http.Request, principalID string) {
	if i := requestInfoFrom(r.Context()); i.principal == "" {
		i.principal = principalID
	}
}

// unknownWhileReplaying reports whether r's bearer token is well-formed
// but unknown here while this node has not caught up with what the
// cluster committed before it started: the token may be in the part of
// the ledger it has not replayed yet, so 401 would be a guess.
func (s *Server) unknownWhileReplaying(r *http.Request) bool {
	if s.cluster == nil || s.cluster.CaughtUp() {
		return false
	}
	return s.tokenUnknownHere(r)
}

// tokenUnknownHere reports whether r carries a well-formed bearer secret
// that this node's ledger does not know (neither valid nor revoked).
func (s *Server) tokenUnknownHere(r *http.Request) bool {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > maxSecretLen {
		return false
	}
	_, found := s.ledger().TokenByHash(sha256.Sum256([]byte(secret)))
	return !found
}

// notReplayed is the 503 of a request this node cannot authenticate yet.
func (s *Server) notReplayed() error {
	p := newProblem(ProblemNotReady, "", "this node is still catching up with the ledger and cannot check this token yet; retry shortly")
	p.retryAfter = 1
	return p
}
