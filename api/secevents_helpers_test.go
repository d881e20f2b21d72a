package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

const setAudience = "https://trustledger.test"

// fedPartner is a registered federation partner with an Ed25519 key (kid
// "ed1"), a P-256 key (kid "ec1") and a partner token.
type fedPartner struct {
	id, issuer, token string
	ed                ed25519.PrivateKey
	ec                *ecdsa.PrivateKey
}

// addPartner registers partner id (weight 0.5, maxInfluence 10 unless
// extra says otherwise) and creates a partner token for it.
func (h *harness) addPartner(id string, extra map[string]any) *fedPartner {
	h.t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	edJWK, _ := federation.PublicJWK(ed, "ed1")
	ecJWK, _ := federation.PublicJWK(ec, "ec1")
	p := &fedPartner{id: id, issuer: "https://" + id + ".example", ed: ed, ec: ec}
	body := map[string]any{"issuer": p.issuer, "audience": setAudience, "weight": 0.25, "maxInfluence": 10,
		"rateLimit": 1_000_000, "jwks": map[string]any{"keys": []json.RawMessage{edJWK, ecJWK}}}
	for k, v := range extra {
		body[k] = v
	}
	h.mustJSON("PUT", "/v1/federation/partners/"+id, h.admin, body, http.StatusCreated, nil)
	var tok struct {
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": "partner", "partnerId": id}, http.StatusCreated, &tok)
	p.token = tok.Token
	return p
}

// claims is a valid claims set from p about principal with one event.
func (p *fedPartner) claims(jti, principal, event string, payload map[string]any) map[string]any {
	return map[string]any{
		"iss": p.issuer, "aud": setAudience, "iat": time.Now().Unix(), "jti": jti,
		"sub_id": map[string]any{"format": "opaque", "id": principal},
		"events": map[string]any{event: payload},
	}
}

// assessment is a trust-assessment payload valid for an hour.
func assessment(score any) map[string]any {
	return map[string]any{"score": score, "validUntil": time.Now().Unix() + 3600}
}

// sign signs claims with p's key for alg (EdDSA or ES256) through go-jose.
func (p *fedPartner) sign(t testing.TB, alg string, c map[string]any) string {
	t.Helper()
	var (
		s   string
		err error
	)
	if alg == "ES256" {
		s, err = federation.Sign(p.ec, "ec1", c)
	} else {
		s, err = federation.Sign(p.ed, "ed1", c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64urlJSON(v any) string {
	b, _ := json.Marshal(v)
	return b64url(b)
}

// forge builds a token by hand: header and claims as given, signed by
// sign over the signing input.
func forge(header, c map[string]any, sign func(input []byte) []byte) string {
	input := b64urlJSON(header) + "." + b64urlJSON(c)
	return input + "." + b64url(sign([]byte(input)))
}

// hs256 is the algorithm-confusion forgery: HS256 keyed with the
// partner's Ed25519 public key bytes.
func (p *fedPartner) hs256(c map[string]any) string {
	return forge(map[string]any{"alg": "HS256", "typ": "secevent+jwt", "kid": "ed1"}, c, func(in []byte) []byte {
		m := hmac.New(sha256.New, p.ed.Public().(ed25519.PublicKey))
		m.Write(in)
		return m.Sum(nil)
	})
}

// none is an unsigned (alg none) token.
func none(c map[string]any) string {
	return forge(map[string]any{"alg": "none", "typ": "secevent+jwt", "kid": "ed1"}, c, func([]byte) []byte { return nil })
}

// push delivers a SET.
func (h *harness) push(token, set string, headers ...string) response {
	h.t.Helper()
	return h.do("POST", "/v1/federation/events", token, set, append([]string{"Content-Type", federation.MediaType}, headers...)...)
}

// setError decodes an RFC 8935 error response.
func (r response) setError(t testing.TB) federation.Error {
	t.Helper()
	var e federation.Error
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("want an RFC 8935 error (application/json), got %d %s: %s", r.status, ct, r.body)
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == "" || e.Description == "" {
		t.Fatalf("decode RFC 8935 error: %v: %s", err, r.body)
	}
	return e
}

// federated returns partner id's entry in the record's federatedTrust.
func (h *harness) federated(principal, partner string) (fsm.FederatedView, bool) {
	h.t.Helper()
	v, ok := h.record(principal).FederatedTrust[partner]
	return v, ok
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// openHarnessAt starts a single-node cluster on dir and raftAddr (the
// data survive close) with the API over httptest. The returned close
// function stops both; it is also registered as a cleanup.
func openHarnessAt(t *testing.T, dir, raftAddr string) (*harness, func()) {
	t.Helper()
	node, err := cluster.Open(cluster.Config{NodeID: "n1", DataDir: filepath.Join(dir, "data"), RaftAddr: raftAddr,
		Region: "test", Bootstrap: true, Voter: true})
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for !node.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatal("the node did not become leader")
		case <-time.After(5 * time.Millisecond):
		}
	}
	tokenPath := filepath.Join(dir, "admin.token")
	if _, err := EnsureAdminToken(ctx, node, tokenPath); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, node: node, admin: strings.TrimSpace(string(secret)), audit: &syncBuffer{}, tokens: map[string]string{}}
	h.api = New(Config{AuditLog: h.audit, Registry: prometheus.NewRegistry()}, node)
	h.srv = httptest.NewServer(h.api.Handler())
	h.tokens["admin"] = h.admin
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		_ = h.api.Close()
		h.srv.Close()
		if err := node.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	}
	t.Cleanup(stop)
	return h, stop
}
