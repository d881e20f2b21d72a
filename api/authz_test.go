package api

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/federation"
)

// GET /v1/authz as a gateway calls it: the principal and request in
// headers, the action from the policy's routes; 200 allow, 401 step up
// with RFC 9470's WWW-Authenticate, 403 deny, obligations in headers,
// nothing cacheable; a reader token is refused (the role is gateway).
func TestAuthzForGateways(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	writer, gw := h.token("writer"), h.token("gateway")
	for id, base := range map[string]int{"high": 90, "mid": 60, "low": 20} {
		h.mustJSON("POST", "/v1/principals", writer, map[string]any{"principalId": id, "principalType": "user", "baseTrustScore": base},
			http.StatusCreated, nil)
	}
	h.mustJSON("PUT", "/v1/policy", h.admin, `{"decision": {"routes": [
	  {"methods": ["POST"], "path": "/deploy/*", "action": "deploy"},
	  {"path": "/reports/*", "action": "read_sensitive"}]}}`, http.StatusOK, nil)
	ask := func(principal, method, uri string, extra ...string) response {
		t.Helper()
		hdrs := append([]string{"X-Trust-Principal", principal, "X-Original-Method", method, "X-Original-URI", uri,
			"X-Forwarded-For", "10.1.2.3, 192.0.2.1"}, extra...)
		return h.do("GET", "/v1/authz", gw, nil, hdrs...)
	}
	for _, tc := range []struct {
		principal, method, uri string
		extra                  []string
		status                 int
		decision, action, aal  string
		reason                 string
	}{
		{"high", "GET", "/reports/q3?x=1", nil, 200, "allow", "read_sensitive", "aal2", "meets_threshold"},
		{"high", "POST", "/deploy/prod", nil, 200, "allow", "deploy", "aal3", "meets_threshold"},
		{"mid", "DELETE", "/notes/1", nil, 401, "step_up", "delete", "aal2", "below_allow_threshold"},
		{"mid", "GET", "/reports/q3", nil, 403, "deny", "read_sensitive", "aal2", "missing_permission"},
		{"mid", "GET", "/home", []string{"X-Trust-Device-Compliant", "false"}, 401, "step_up", "read", "aal2", "device_untrusted"},
		{"mid", "POST", "/deploy/prod", nil, 403, "deny", "deploy", "aal3", "missing_permission"},
		{"low", "PUT", "/notes/1", nil, 403, "deny", "write", "aal3", "below_threshold"},
		{"ghost", "GET", "/", nil, 403, "deny", "read", "aal3", "unknown_principal"},
	} {
		r := ask(tc.principal, tc.method, tc.uri, tc.extra...)
		hd := r.header
		if r.status != tc.status || hd.Get(HeaderDecision) != tc.decision || hd.Get(HeaderAction) != tc.action ||
			hd.Get(HeaderRequiredAAL) != tc.aal || !strings.Contains(hd.Get(HeaderReasons), tc.reason) ||
			hd.Get(HeaderDecisionID) == "" || hd.Get("Cache-Control") != "no-store" || hd.Get(HeaderSessionMax) == "" {
			t.Errorf("%s %s %s: %d %v %s", tc.principal, tc.method, tc.uri, r.status, hd, r.body)
		}
		if www := hd.Get("WWW-Authenticate"); (tc.status == 401) != strings.Contains(www, `error="insufficient_user_authentication"`) {
			t.Errorf("%s %s: WWW-Authenticate %q", tc.principal, tc.uri, www)
		}
	}
	if r := h.do("GET", "/v1/authz", gw, nil); r.status != http.StatusBadRequest || r.problem(t).Field != HeaderPrincipal {
		t.Errorf("without a principal: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/v1/authz", gw, nil, "X-Trust-Principal", "mid", "X-Trust-Context", "[1]"); r.status != http.StatusBadRequest {
		t.Errorf("a context that is not an object: %d %s", r.status, r.body)
	}
	// The path is decoded and cleaned before routes match it: no way
	// around /deploy/* with dot segments, doubled slashes or encodings.
	for _, uri := range []string{"/public/../deploy/prod", "//deploy/prod", "/public/%2e%2e/deploy/prod", "/./deploy/prod"} {
		if r := ask("mid", "POST", uri); r.header.Get(HeaderAction) != "deploy" || r.status != 403 {
			t.Errorf("POST %s: action %q, %d; want deploy, 403", uri, r.header.Get(HeaderAction), r.status)
		}
	}
	if r := ask("mid", "POST", "/deploy%2fprod"); r.status != http.StatusBadRequest {
		t.Errorf("an encoded slash: %d", r.status)
	}
	// A dotted key in X-Trust-Context cannot override the gateway's own
	// headers: the two name one field, which is refused.
	if r := ask("mid", "GET", "/home", "X-Trust-Device-Compliant", "false", "X-Trust-Context", `{"device.compliant": true}`); r.status != http.StatusBadRequest {
		t.Errorf("a dotted key naming a gateway header's field: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/v1/authz", h.token("reader"), nil, "X-Trust-Principal", "high"); r.status != http.StatusForbidden || r.problem(t).Code != "role" {
		t.Errorf("a reader token: %d %s", r.status, r.body)
	}
	// The gateway role asks for decisions and nothing else.
	if r := h.do("GET", "/v1/principals/high", gw, nil); r.status != http.StatusForbidden {
		t.Errorf("a gateway token reading a record: %d", r.status)
	}
	h.mustJSON("POST", "/v1/decisions", gw, map[string]any{"principalId": "high", "action": "read"}, http.StatusOK, nil)
}

// userJWT is a user's token from p, signed with its Ed25519 key.
func (p *fedPartner) userJWT(typ string, c map[string]any) string {
	return forge(map[string]any{"alg": "EdDSA", "typ": typ, "kid": "ed1"}, c, func(in []byte) []byte { return ed25519.Sign(p.ed, in) })
}

// A gateway may send the user's JWT instead of naming the principal: a
// token of an active federation partner (signature, iss, aud, exp) names
// the principal by its sub; anything else is a 401 with RFC 6750's
// invalid_token, and decides nothing.
func TestAuthzWithUserToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustJSON("POST", "/v1/principals", h.token("writer"), map[string]any{"principalId": "ann", "principalType": "user", "baseTrustScore": 90},
		http.StatusCreated, nil)
	idp := h.addPartner("idp", nil)
	other := h.addPartner("other", nil)
	unlisted := h.addPartner("unlisted", nil)
	// An identity provider that signs with RS256, as most do.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK, _ := federation.PublicJWK(rsaKey, "rs1")
	h.mustJSON("PUT", "/v1/federation/partners/entra", h.admin, map[string]any{"issuer": "https://login.example/tenant", "audience": setAudience,
		"weight": 0.1, "maxInfluence": 5, "jwks": map[string]any{"keys": []json.RawMessage{rsaJWK}}}, http.StatusCreated, nil)
	h.mustJSON("PUT", "/v1/policy", h.admin, `{"decision": {"userTokenPartners": ["idp", "other", "entra"]}}`, http.StatusOK, nil)
	gw := h.token("gateway")
	now := time.Now().Unix()
	good := map[string]any{"iss": idp.issuer, "aud": setAudience, "sub": "ann", "exp": now + 300, "iat": now}
	with := func(k string, v any) map[string]any {
		c := maps.Clone(good)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	ask := func(token string, extra ...string) response {
		return h.do("GET", "/v1/authz", gw, nil, append([]string{"X-Trust-Subject-Token", token, "X-Original-URI", "/"}, extra...)...)
	}
	if r := ask("Bearer " + idp.userJWT("JWT", good)); r.status != 200 || r.header.Get(HeaderDecision) != "allow" {
		t.Fatalf("a good token: %d %s", r.status, r.body)
	}
	if r := ask(idp.userJWT("at+jwt", good), "X-Trust-Principal", "ann"); r.status != 200 {
		t.Fatalf("an at+jwt token agreeing with X-Trust-Principal: %d %s", r.status, r.body)
	}
	rs := forge(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rs1"},
		map[string]any{"iss": "https://login.example/tenant", "aud": setAudience, "sub": "ann", "exp": now + 300},
		func(in []byte) []byte {
			sum := sha256.Sum256(in)
			sig, _ := rsa.SignPKCS1v15(rand.Reader, rsaKey, crypto.SHA256, sum[:])
			return sig
		})
	if r := ask(rs); r.status != 200 || r.header.Get(HeaderDecision) != "allow" {
		t.Fatalf("an RS256 token: %d %s", r.status, r.body)
	}
	for name, tok := range map[string]string{
		"expired":              idp.userJWT("JWT", with("exp", now-5)),
		"no exp":               idp.userJWT("JWT", with("exp", nil)),
		"not yet valid":        idp.userJWT("JWT", with("nbf", now+3600)),
		"another audience":     idp.userJWT("JWT", with("aud", "https://elsewhere.example")),
		"no sub":               idp.userJWT("JWT", with("sub", nil)),
		"signed by another":    other.userJWT("JWT", good),
		"a partner not listed": unlisted.userJWT("JWT", map[string]any{"iss": unlisted.issuer, "aud": setAudience, "sub": "ann", "exp": now + 300}),
		"unknown issuer":       idp.userJWT("JWT", with("iss", "https://nobody.example")),
		"a SET":                idp.userJWT("secevent+jwt", good),
		"unsigned":             forge(map[string]any{"alg": "none", "typ": "JWT", "kid": "ed1"}, good, func([]byte) []byte { return nil }),
		"HS256 with the key":   forge(map[string]any{"alg": "HS256", "typ": "JWT", "kid": "ed1"}, good, func([]byte) []byte { return []byte("x") }),
		"not a JWS":            "not.a.token",
		"sub not X-Principal":  idp.userJWT("JWT", with("sub", "eve")),
	} {
		extra := []string{}
		if name == "sub not X-Principal" {
			extra = []string{"X-Trust-Principal", "ann"}
		}
		r := ask(tok, extra...)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) ||
			r.header.Get(HeaderDecision) != "" {
			t.Errorf("%s: %d %v %s", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	var pv map[string]any
	h.mustJSON("GET", "/v1/federation/partners/idp", h.admin, nil, http.StatusOK, &pv)
	delete(pv, "partnerId")
	delete(pv, "updatedAt")
	pv["status"] = "suspended"
	h.mustJSON("PUT", "/v1/federation/partners/idp", h.admin, pv, http.StatusOK, nil)
	if r := ask(idp.userJWT("JWT", good)); r.status != http.StatusUnauthorized {
		t.Errorf("a token of a suspended partner: %d %s", r.status, r.body)
	}
}
