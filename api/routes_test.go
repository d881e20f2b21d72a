package api

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// statusOnly sends a request and returns the status and headers without
// reading the body (streams never end).
func (h *harness) statusOnly(method, path, token string, body string) (int, http.Header) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, nil)
	if rd != nil {
		req, err = http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
	}
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// Every route answers 401 without a token, 403 to the roles the route
// table does not admit, and neither to the roles it admits.
func TestRouteRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, role := range fsm.Roles {
		h.token(role)
	}
	for _, rt := range routeTable() {
		path := pathParam.ReplaceAllString(rt.Pattern, "no-such-thing")
		body := ""
		if rt.Method != http.MethodGet && rt.Method != http.MethodDelete {
			body = "{}"
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			before := h.state()
			status, hdr := h.statusOnly(rt.Method, path, "", body)
			if rt.Role == RoleNone {
				if status == http.StatusUnauthorized || status == http.StatusForbidden {
					t.Errorf("no token: %d on a public route", status)
				}
			} else if status != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("no token: %d (WWW-Authenticate %q), want 401 with a Bearer challenge", status, hdr.Get("WWW-Authenticate"))
			}
			if rt.Role != RoleNone {
				if status, _ := h.statusOnly(rt.Method, path, "tl_not-a-token", body); status != http.StatusUnauthorized {
					t.Errorf("unknown token: %d, want 401", status)
				}
			}
			for _, role := range fsm.Roles {
				status, _ := h.statusOnly(rt.Method, path, h.token(role), body)
				denied := status == http.StatusUnauthorized || status == http.StatusForbidden
				if rt.Admits(role) == denied {
					t.Errorf("%s token: status %d, admitted by the table: %v", role, status, rt.Admits(role))
				}
			}
			if h.state() != before {
				t.Errorf("probing %s %s changed the ledger", rt.Method, path)
			}
		})
	}
}

// The role table matches docs/api.md ("Authentication and roles", "Route
// table") for the roles whose rights are spelled out there.
func TestRoleTableMatchesSpec(t *testing.T) {
	find := func(method, pattern string) Route {
		for _, rt := range routeTable() {
			if rt.Method == method && rt.Pattern == pattern {
				return rt
			}
		}
		t.Fatalf("no route %s %s", method, pattern)
		return Route{}
	}
	cases := []struct {
		method, pattern string
		admitted        []string
	}{
		{"POST", "/v1/principals", []string{"admin", "writer"}},
		{"GET", "/v1/principals/{id}", []string{"admin", "writer", "reader", "auditor", "analyst"}},
		{"POST", "/v1/signals", []string{"admin", "writer"}},
		{"POST", "/v1/decisions", []string{"admin", "writer", "reader", "auditor", "analyst", "gateway"}},
		{"GET", "/v1/authz", []string{"admin", "gateway"}},
		{"POST", "/v1/simulate", []string{"admin", "writer", "reader", "auditor", "analyst"}},
		{"PUT", "/v1/orgs/{orgId}", []string{"admin"}},
		{"POST", "/v1/alerts/{id}/review", []string{"admin", "analyst"}},
		{"POST", "/v1/principals/{id}/modifiers", []string{"admin", "analyst"}},
		{"DELETE", "/v1/principals/{id}/modifiers/{modifierId}", []string{"admin", "analyst"}},
		{"POST", "/v1/federation/events", []string{"admin", "partner"}},
		{"GET", "/v1/ledger", []string{"admin", "auditor"}},
		{"GET", "/v1/ledger/stream", []string{"admin", "auditor"}},
		{"POST", "/v1/import", []string{"admin"}},
		{"PUT", "/v1/policy", []string{"admin"}},
		{"POST", "/v1/tokens", []string{"admin"}},
		{"GET", "/v1/status", []string{"admin", "operator", "writer", "reader", "auditor", "analyst"}},
		{"GET", "/metrics", []string{"admin", "operator"}},
		{"GET", "/v1/cluster", []string{"admin", "operator"}},
		{"POST", "/v1/cluster/join", []string{"admin", "operator"}},
		{"POST", "/v1/cluster/identity", []string{"admin", "operator"}},
		{"DELETE", "/v1/cluster/nodes/{id}", []string{"admin", "operator"}},
		{"POST", "/v1/cluster/transfer-leadership", []string{"admin", "operator"}},
		{"GET", "/v1/cluster/snapshot", []string{"admin", "operator"}},
		{"POST", "/v1/cluster/restore", []string{"admin"}},
		{"POST", "/v1/cluster/gossip-key/rotate", []string{"admin", "operator"}},
		{"PUT", "/v1/cluster/gossip-keys", nil}, // a member's certificate only
		{"GET", "/v1/cluster/ca-key", nil},      // a voter's certificate only
		{"GET", "/v1/cluster/checkpoint-key", nil},
		{"GET", "/v1/ledger/checkpoint", []string{"admin", "writer", "reader", "auditor", "analyst"}},
		{"GET", "/v1/ledger/proof/inclusion", []string{"admin", "writer", "reader", "auditor", "analyst"}},
	}
	for _, c := range cases {
		rt := find(c.method, c.pattern)
		for _, role := range fsm.Roles {
			want := false
			for _, a := range c.admitted {
				want = want || a == role
			}
			if rt.Admits(role) != want {
				t.Errorf("%s %s: admits %s = %v, want %v", c.method, c.pattern, role, rt.Admits(role), want)
			}
		}
	}
	for _, rt := range routeTable() {
		if rt.Role != RoleNone {
			if _, ok := roleGrants[rt.Role]; !ok {
				t.Errorf("%s %s: role %q is not in the grant table", rt.Method, rt.Pattern, rt.Role)
			}
		}
		// Cluster endpoints are for operators (docs/api.md, "Cluster"),
		// except restore: a snapshot carries the token table, so restoring
		// one is an admin act; and the CA certificate, which is public.
		wantRole := "operator"
		switch rt.Pattern {
		case "/v1/cluster/restore":
			wantRole = "admin"
		case "/v1/cluster/ca", "/v1/cluster/enrollment":
			wantRole = RoleNone
		case "/v1/cluster/gossip-keys", "/v1/cluster/ca-key", "/v1/cluster/checkpoint-key":
			// Node to node: the leader sets each member's keyring; a
			// voter fetches the CA key and the checkpoint key from the
			// leader.
			wantRole = RoleNode
		}
		if strings.HasPrefix(rt.Pattern, "/v1/cluster") && (rt.Role != wantRole || len(rt.AlsoRoles) > 0) {
			t.Errorf("%s: role %s, want %s", rt.Pattern, rt.Role, wantRole)
		}
	}
}

// No token can have role node, which node-to-node routes admit: the
// ledger refuses to create one, and the token roles lack it.
func TestNoTokenHasRoleNode(t *testing.T) {
	t.Parallel()
	if slices.Contains(fsm.Roles, RoleNode) {
		t.Fatalf("fsm.Roles %v holds %q", fsm.Roles, RoleNode)
	}
	h := newHarness(t)
	before := h.state()
	r := h.do("POST", "/v1/tokens", h.admin, map[string]any{"role": RoleNode})
	if r.status < 400 || r.status > 499 {
		t.Fatalf("POST /v1/tokens with role node: %d %s", r.status, r.body)
	}
	if h.state() != before {
		t.Error("a refused token changed the ledger")
	}
	for _, rt := range routeTable() {
		if rt.Role != RoleNode {
			continue
		}
		for _, role := range fsm.Roles {
			if rt.Admits(role) {
				t.Errorf("%s %s admits %s tokens", rt.Method, rt.Pattern, role)
			}
		}
	}
}

// A revoked token is refused with 401.
func TestRevokedToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var out struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": "reader"}, http.StatusCreated, &out)
	h.mustJSON("GET", "/v1/status", out.Token, nil, http.StatusOK, nil)
	h.mustJSON("DELETE", "/v1/tokens/"+out.ID, h.admin, nil, http.StatusOK, nil)
	r := h.do("GET", "/v1/status", out.Token, nil)
	if p := r.problem(t); r.status != http.StatusUnauthorized || p.Type != ProblemUnauthorized.URI() {
		t.Errorf("revoked token: %d %+v", r.status, p)
	}
	var list struct {
		Tokens []tokenView `json:"tokens"`
	}
	h.mustJSON("GET", "/v1/tokens", h.admin, nil, http.StatusOK, &list)
	for _, tok := range list.Tokens {
		if tok.ID == out.ID && (!tok.Revoked || tok.RevokedAt == "") {
			t.Errorf("listed token not revoked: %+v", tok)
		}
	}
	if strings.Contains(string(h.do("GET", "/v1/tokens", h.admin, nil).body), out.Token) {
		t.Error("the token list shows a secret")
	}
}

// A writer scoped to organizations writes only principals of those
// organizations.
func TestWriterOrgScope(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "acme")
	h.register("bob", "user", "globex")
	var tok struct {
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": "writer", "orgs": []string{"acme"}}, http.StatusCreated, &tok)
	sig := func(id, ev string) map[string]any {
		return map[string]any{"eventId": ev, "principalId": id, "event": "login_ok", "category": "authentication", "impact": 1}
	}
	h.mustJSON("POST", "/v1/signals", tok.Token, sig("alice", "e1"), http.StatusOK, nil)
	cases := []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"signal for another org", "POST", "/v1/signals", map[string]any{"signals": []any{sig("alice", "e2"), sig("bob", "e3")}}, "signals[1].principalId"},
		{"register in another org", "POST", "/v1/principals", map[string]any{"principalId": "carol", "principalType": "user", "orgId": "globex"}, "orgId"},
		{"register without org", "POST", "/v1/principals", map[string]any{"principalId": "carol", "principalType": "user"}, "orgId"},
		{"move to another org", "PATCH", "/v1/principals/alice", map[string]any{"orgId": "globex"}, "orgId"},
		{"update another org", "PATCH", "/v1/principals/bob", map[string]any{"isActive": false}, "principalId"},
		{"factors of another org", "PUT", "/v1/principals/bob/factors", map[string]any{"riskIndicators": []string{"new_device"}}, "principalId"},
		{"endorse across orgs", "POST", "/v1/endorsements", map[string]any{"endorserId": "alice", "endorseeId": "bob"}, "endorseeId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.state()
			r := h.do(c.method, c.path, tok.Token, c.body)
			p := r.problem(t)
			if r.status != http.StatusForbidden || p.Field != c.field || p.Code != "scope" {
				t.Errorf("%d field %q code %q, want 403 %q scope: %s", r.status, p.Field, p.Code, c.field, p.Detail)
			}
			if h.state() != before {
				t.Error("a refused write changed the ledger")
			}
		})
	}
	h.mustJSON("GET", "/v1/principals/bob", tok.Token, nil, http.StatusOK, nil) // reads are not scoped
}
