package api

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// GET /v1/authz: the decision endpoint a reverse proxy calls before it
// passes a request on (nginx auth_request, Traefik and Caddy forward-auth;
// docs/api.md, "Gateways"). The gateway authenticates itself with its
// token (role gateway) and says, in headers it sets itself, who the user
// is and what they asked for:
//
//	X-Trust-Principal                        the principal, or
//	X-Trust-Subject-Token                    the user's JWT ("Bearer …" too), from a partner: its sub
//	X-Original-Method, X-Forwarded-Method    the request's method
//	X-Original-URI, X-Forwarded-Uri          its path (and query)
//	X-Real-IP                                the client address → context.network.ip
//	X-Trust-Device-Compliant                 true|false → context.device.compliant
//	X-Trust-Geo-Country                      → context.geo.country
//	X-Trust-Context                          a JSON object merged under those
//
// The action comes from the policy's routes (fsm.DecisionPolicy.
// RouteAction). The answer: 200 allow, 401 step up (WWW-Authenticate as
// RFC 9470, insufficient_user_authentication with the required level),
// 403 deny; the obligations in X-Trust-* headers either way. Nothing is
// cached (Cache-Control: no-store): a gateway that caches answers chooses
// how stale a revoked principal may be.

// Headers of GET /v1/authz.
const (
	HeaderPrincipal       = "X-Trust-Principal"
	HeaderDecision        = "X-Trust-Decision"
	HeaderDecisionID      = "X-Trust-Decision-Id"
	HeaderRequiredAAL     = "X-Trust-Required-Aal"
	HeaderSessionMax      = "X-Trust-Session-Max"
	HeaderIdleTimeout     = "X-Trust-Idle-Timeout"
	HeaderAudit           = "X-Trust-Audit"
	HeaderReasons         = "X-Trust-Reasons"
	HeaderScore           = "X-Trust-Score"
	HeaderAction          = "X-Trust-Action"
	HeaderDeviceCompliant = "X-Trust-Device-Compliant"
	HeaderGeoCountry      = "X-Trust-Geo-Country"
	HeaderContext         = "X-Trust-Context"
	HeaderSubjectToken    = "X-Trust-Subject-Token"
)

// maxContextHeader bounds X-Trust-Context (the header limit bounds it too).
const maxContextHeader = 4096

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) error {
	principal, err := s.gatewayPrincipal(r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	id := errs.id(HeaderPrincipal, principal, true)
	method := firstHeader(r, "X-Original-Method", "X-Forwarded-Method")
	if method == "" {
		method = http.MethodGet
	}
	path, err := gatewayPath(firstHeader(r, "X-Original-URI", "X-Forwarded-Uri"))
	if err != nil {
		errs.invalid("X-Original-URI", "%v", err)
	}
	ctxJSON, cerr := authzContext(r)
	if cerr != nil {
		errs.invalid(HeaderContext, "%v", cerr)
	}
	if err := errs.err(); err != nil {
		return err
	}
	ctx, err := fsm.ParseContext(ctxJSON)
	if err != nil {
		return newProblem(ProblemInvalidField, HeaderContext, "%s: %v", HeaderContext, err)
	}
	noteSubject(r, id)
	d, err := s.ledger().DecideRoute(id, strings.ToUpper(method), path, ctx, s.evalTime(w, r))
	if err != nil {
		return inputFault(err)
	}
	d.DecisionID = newDecisionID()
	info := requestInfoFrom(r.Context())
	info.decision, info.decisionContext = &d, ctxJSON
	writeObligations(w.Header(), &d)
	status := http.StatusOK
	switch d.Decision {
	case fsm.DecisionStepUp:
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_user_authentication", error_description="step up to `+
			d.RequiredAuthentication+`", acr_values="`+d.RequiredAuthentication+`"`)
	case fsm.DecisionDeny:
		status = http.StatusForbidden
	}
	writeJSON(w, status, d)
	return nil
}

// gatewayPrincipal is the principal a gateway asks about: the sub of the
// user's token when it sends one (verified against the federation partner
// whose issuer it names; X-Trust-Principal, if also sent, must agree),
// else X-Trust-Principal. A token that does not verify is a 401 with
// WWW-Authenticate error="invalid_token" (RFC 6750 §3.1), which the
// gateway passes on to the user.
func (s *Server) gatewayPrincipal(r *http.Request) (string, error) {
	named := r.Header.Get(HeaderPrincipal)
	raw := strings.TrimSpace(r.Header.Get(HeaderSubjectToken))
	if raw == "" {
		if named == "" {
			return "", newProblem(ProblemInvalidField, HeaderPrincipal, "%s or %s: the gateway must name the authenticated principal",
				HeaderPrincipal, HeaderSubjectToken)
		}
		return named, nil
	}
	if len(raw) > 7 && strings.EqualFold(raw[:7], "bearer ") {
		raw = strings.TrimSpace(raw[7:])
	}
	invalid := func(format string, a ...any) error {
		p := newProblem(ProblemUnauthorized, HeaderSubjectToken, "%s: "+format, append([]any{HeaderSubjectToken}, a...)...)
		p.authenticate = `Bearer error="invalid_token"`
		return withCode(p, "invalid_token")
	}
	tok, err := federation.ParseJWT([]byte(raw))
	if err != nil {
		return "", invalid("%v", err)
	}
	l := s.ledger()
	partner, ok := l.PartnerByIssuer(tok.Issuer)
	if !ok || partner.Status != "active" || !slices.Contains(l.Policy().Decision.UserTokenPartners, partner.PartnerID) {
		return "", invalid("the issuer is not an active federation partner listed in the policy's decision.userTokenPartners")
	}
	sub, err := s.setVerifier.VerifyJWT(tok, partner, s.cfg.Now())
	if err != nil {
		return "", invalid("%v", err)
	}
	if named != "" && named != sub {
		return "", invalid("the token's sub is not %s", HeaderPrincipal)
	}
	return sub, nil
}

// gatewayPath is the path routes are matched against: the request URI's
// path, percent-decoded and cleaned (no "..", "." or doubled slashes), so
// that /public/../admin is /admin. A gateway may send it already decoded
// (nginx's $uri): what does not parse as a URI is taken as the path. An
// encoded slash or a NUL is refused rather than guessed at.
func gatewayPath(uri string) (string, error) {
	if uri == "" {
		return "/", nil
	}
	p := uri
	if u, err := url.ParseRequestURI(uri); err == nil {
		if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
			return "", errors.New("an encoded slash in the path")
		}
		p = u.Path
	} else {
		p, _, _ = strings.Cut(p, "?")
	}
	if strings.ContainsRune(p, 0) {
		return "", errors.New("a NUL in the path")
	}
	return path.Clean("/" + p), nil
}

// writeObligations sets the decision's X-Trust-* headers.
func writeObligations(h http.Header, d *fsm.Decision) {
	codes := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		codes[i] = r.Code
	}
	h.Set(HeaderDecision, d.Decision)
	h.Set(HeaderDecisionID, d.DecisionID)
	h.Set(HeaderAction, d.Action)
	h.Set(HeaderRequiredAAL, d.RequiredAuthentication)
	h.Set(HeaderSessionMax, strconv.FormatInt(d.SessionMaxDuration, 10))
	h.Set(HeaderIdleTimeout, strconv.FormatInt(d.IdleTimeout, 10))
	h.Set(HeaderAudit, d.AuditIntensity)
	h.Set(HeaderScore, strconv.FormatInt(d.TrustScore, 10))
	h.Set(HeaderReasons, strings.Join(codes, ","))
	h.Set("Cache-Control", "no-store")
}

func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(r.Header.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// authzContext builds the decision context from the gateway's headers:
// X-Trust-Context, then the client address, device compliance and country
// over it.
func authzContext(r *http.Request) ([]byte, error) {
	ctx := map[string]any{}
	if raw := r.Header.Get(HeaderContext); raw != "" {
		if len(raw) > maxContextHeader {
			return nil, errTooLong
		}
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber() // 12345678901234567890 stays what it is
		if err := d.Decode(&ctx); err != nil || ctx == nil {
			return nil, errNotObject
		}
	}
	set := func(group, key string, v any) {
		g, _ := ctx[group].(map[string]any)
		if g == nil {
			g = map[string]any{}
		}
		g[key] = v
		ctx[group] = g
	}
	// X-Real-IP only: X-Forwarded-For is a chain any hop appends to (and
	// a TLS node drops it from requests not forwarded by a member).
	if ip := firstHeader(r, "X-Real-IP"); net.ParseIP(ip) != nil {
		set("network", "ip", ip)
	}
	switch strings.ToLower(r.Header.Get(HeaderDeviceCompliant)) {
	case "true":
		set("device", "compliant", true)
	case "false":
		set("device", "compliant", false)
	}
	if c := r.Header.Get(HeaderGeoCountry); c != "" && len(c) <= 8 {
		set("geo", "country", c)
	}
	if len(ctx) == 0 {
		return nil, nil
	}
	return json.Marshal(ctx)
}

var (
	errTooLong   = errors.New("at most 4096 bytes")
	errNotObject = errors.New("must be a JSON object")
)
