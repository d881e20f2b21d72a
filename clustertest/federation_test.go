package clustertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/federation"
)

// A Security Event Token pushed to a follower is forwarded to the leader
// and applied once, cluster-wide; the same token pushed again, to another
// node, is refused as a replay everywhere.
func TestSETPushedToFollowerAppliedOnce(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	admin := c.client("n1")
	ctx := ctxT(t, 30*time.Second)
	if _, err := admin.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := federation.PublicJWK(key, "k1")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{jwk}})
	if _, err := admin.PutPartner(ctx, "acme-idp", client.PartnerSpec{Issuer: "https://idp.acme.example", Audience: "https://trustledger.test",
		JWKS: jwks, Weight: "0.5", MaxInfluence: "10"}); err != nil {
		t.Fatalf("partner: %v", err)
	}
	tok, err := admin.CreateToken(ctx, client.TokenRequest{Role: "partner", PartnerID: "acme-idp"})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	set, err := federation.Sign(key, "k1", map[string]any{
		"iss": "https://idp.acme.example", "aud": "https://trustledger.test", "iat": time.Now().Unix(), "jti": "set-1",
		"sub_id": map[string]any{"format": "opaque", "id": "alice"},
		"events": map[string]any{federation.EventTrustAssessment: map[string]any{"score": 90, "validUntil": time.Now().Unix() + 3600}},
	})
	if err != nil {
		t.Fatal(err)
	}
	leader := c.leader()
	var followers []*tnode
	for _, n := range c.running() {
		if n != leader {
			followers = append(followers, n)
		}
	}
	// The partner token must have reached the followers before they can
	// authenticate the push themselves (they forward with it).
	st, _, err := admin.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.converge(st.AppliedIndex)

	res, err := followers[0].client(tok.Secret).PushSET(ctx, set)
	if err != nil {
		t.Fatalf("push to follower %s: %v", followers[0].spec.id, err)
	}
	if res.Index == 0 {
		t.Fatal("push to a follower recorded nothing")
	}
	_, err = followers[1].client(tok.Secret).PushSET(ctx, set)
	var se *client.SETError
	if !errors.As(err, &se) || se.Code != "invalid_request" || se.Description != "jti already used" {
		t.Fatalf("replay to follower %s: %v", followers[1].spec.id, err)
	}
	digest := c.converge(res.Index)
	for _, n := range c.running() {
		rec, ok := n.node.Ledger().Record("alice", time.Now().UnixMilli())
		if !ok {
			t.Fatalf("%s: no record", n.spec.id)
		}
		fv, ok := rec.FederatedTrust["acme-idp"]
		if !ok || !fv.Counted || fv.Score != "90" {
			t.Fatalf("%s: federatedTrust %+v", n.spec.id, rec.FederatedTrust)
		}
		if got := n.node.Ledger().Digest(); got != digest {
			t.Fatalf("%s: digest %s, want %s", n.spec.id, got, digest)
		}
		entries, err := n.node.PrincipalEntries("alice", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		applied := 0
		for _, e := range entries {
			if e.Kind == "federated_event" {
				applied++
			}
		}
		if applied != 1 {
			t.Fatalf("%s: %d federated_event entries for alice, want 1", n.spec.id, applied)
		}
	}
}
