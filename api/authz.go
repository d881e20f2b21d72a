package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
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
//	X-Real-IP, X-Forwarded-For (first)       the client address → context.network.ip
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
	path := firstHeader(r, "X-Original-URI", "X-Forwarded-Uri")
	if u, err := url.ParseRequestURI(path); err == nil {
		path = u.Path
	} else if path == "" {
		path = "/"
	}
	ctxJSON, err := authzContext(r)
	if err != nil {
		errs.invalid(HeaderContext, "%v", err)
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
	partner, ok := s.ledger().PartnerByIssuer(tok.Issuer)
	if !ok || partner.Status != "active" {
		return "", invalid("the issuer is not an active federation partner")
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
		if err := json.Unmarshal([]byte(raw), &ctx); err != nil || ctx == nil {
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
	ip := firstHeader(r, "X-Real-IP")
	if ip == "" {
		ip, _, _ = strings.Cut(r.Header.Get("X-Forwarded-For"), ",")
		ip = strings.TrimSpace(ip)
	}
	if net.ParseIP(ip) != nil {
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

type authzError string

func (e authzError) Error() string { return string(e) }

const (
	errTooLong   = authzError("at most 4096 bytes")
	errNotObject = authzError("must be a JSON object")
)
