package api

import (
	"net/http"
	"strings"
	"testing"
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
	if r := h.do("GET", "/v1/authz", h.token("reader"), nil, "X-Trust-Principal", "high"); r.status != http.StatusForbidden || r.problem(t).Code != "role" {
		t.Errorf("a reader token: %d %s", r.status, r.body)
	}
	// The gateway role asks for decisions and nothing else.
	if r := h.do("GET", "/v1/principals/high", gw, nil); r.status != http.StatusForbidden {
		t.Errorf("a gateway token reading a record: %d", r.status)
	}
	h.mustJSON("POST", "/v1/decisions", gw, map[string]any{"principalId": "high", "action": "read"}, http.StatusOK, nil)
}
