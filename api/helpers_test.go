package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/testnode"
)

// harness is a real single-node cluster behind a real HTTP server.
type harness struct {
	t      testing.TB
	node   *cluster.Node
	api    *Server
	srv    *httptest.Server
	admin  string
	audit  *syncBuffer
	tokens map[string]string // role → secret
}

// syncBuffer is a goroutine-safe buffer for the audit log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessConfig(t, Config{})
}

func newHarnessConfig(t testing.TB, cfg Config) *harness {
	t.Helper()
	h := &harness{t: t, audit: &syncBuffer{}, tokens: map[string]string{}}
	cfg.AuditLog = h.audit
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := testnode.StartSingle(t, "n1", testAPI(func(node *cluster.Node) *Server {
		h.api = New(cfg, node)
		return h.api
	}), nil)
	h.node, h.srv, h.admin = s.Node, s.HTTP, s.Admin
	h.tokens["admin"] = h.admin
	return h
}

// testAPI is what internal/testnode needs of this package, the server
// built by newServer.
func testAPI(newServer func(*cluster.Node) *Server) testnode.API {
	return testnode.API{
		New: func(node *cluster.Node) testnode.Server { return newServer(node) },
		AdminToken: func(ctx context.Context, node *cluster.Node, path string) (bool, error) {
			return EnsureAdminToken(ctx, node, path)
		},
	}
}

// token returns a secret for a fresh token of role (cached per role).
func (h *harness) token(role string) string {
	h.t.Helper()
	if s, ok := h.tokens[role]; ok {
		return s
	}
	body := map[string]any{"role": role, "description": "test " + role}
	if role == "partner" {
		h.ensurePartner("p1")
		body["partnerId"] = "p1"
	}
	var out struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, body, http.StatusCreated, &out)
	h.tokens[role] = out.Token
	return out.Token
}

func (h *harness) ensurePartner(id string) {
	h.t.Helper()
	if _, ok := h.node.Ledger().Partner(id); ok {
		return
	}
	h.mustJSON("PUT", "/v1/federation/partners/"+id, h.admin, map[string]any{
		"issuer": "https://" + id + ".example", "audience": "trustledger", "weight": 0.5, "maxInfluence": 10,
		"jwks": map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "test-ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}},
	}, http.StatusCreated, nil)
}

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) Problem {
	t.Helper()
	var p Problem
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("want a problem document, got %s: %s", ct, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem: %v: %s", err, r.body)
	}
	return p
}

// do sends a request. body may be nil, a string or []byte (sent as is) or
// anything else (sent as JSON).
func (h *harness) do(method, path, token string, body any, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// mustJSON sends a request, checks the status and decodes the answer.
func (h *harness) mustJSON(method, path, token string, body any, status int, out any) response {
	h.t.Helper()
	r := h.do(method, path, token, body)
	if r.status != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			h.t.Fatalf("%s %s: decode: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// register registers a principal with the admin token.
func (h *harness) register(id, typ, org string) {
	h.t.Helper()
	body := map[string]any{"principalId": id, "principalType": typ}
	if org != "" {
		body["orgId"] = org
	}
	h.mustJSON("POST", "/v1/principals", h.admin, body, http.StatusCreated, nil)
}

func (h *harness) record(id string) *fsm.Record {
	h.t.Helper()
	var rec fsm.Record
	h.mustJSON("GET", "/v1/principals/"+id, h.token("reader"), nil, http.StatusOK, &rec)
	return &rec
}

// ledgerState is what must not change when a request is refused.
type ledgerState struct {
	Index  uint64
	Digest string
	Seq    uint64
}

func (h *harness) state() ledgerState {
	st := h.node.Ledger().Status()
	return ledgerState{Index: st.AppliedIndex, Digest: st.Digest, Seq: st.Sequence}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
