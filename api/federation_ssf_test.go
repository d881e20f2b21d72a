package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// Two clusters federate over SSF with nothing copied by hand: B registers
// A as a partner from A's well-known URL — B fetches A's metadata and
// keys, mints the partner token A pushes with and creates the stream at
// A — and a violation in A moves the same principal's score in B, by push
// and then, after the partner is removed and registered again, by poll.
func TestSSFFederationBetweenClusters(t *testing.T) {
	t.Parallel()
	a, b := ssfHarness(t), ssfHarness(t)
	rcv := a.token(fsm.RoleReceiver)
	for _, h := range []*harness{a, b} {
		h.registerTrusted("alice")
		h.registerTrusted("bob")
	}
	wellKnown := a.srv.URL + "/.well-known/ssf-configuration"
	register := func(id, delivery string) fsm.PartnerView {
		t.Helper()
		var out struct {
			Partner fsm.PartnerView `json:"partner"`
		}
		b.mustJSON("PUT", "/v1/federation/partners/"+id, b.admin, map[string]any{
			"ssf":    map[string]any{"configurationUrl": wellKnown, "token": rcv, "delivery": delivery},
			"weight": 0.5, "maxInfluence": 50}, http.StatusCreated, &out)
		p := out.Partner
		if p.Issuer != a.srv.URL || p.SSF == nil || p.SSF.StreamID == "" || p.SSF.Delivery != delivery {
			t.Fatalf("registered %+v", p)
		}
		if v, ok := a.node.Ledger().Stream(p.SSF.StreamID); !ok || v.Aud != p.Audience {
			t.Fatalf("A has no stream %s with B's audience %s: %+v", p.SSF.StreamID, p.Audience, v)
		}
		return p
	}
	movedWithin := func(id string, before int64, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < limit {
			if rec := b.record(id); rec.TrustScore < before {
				return time.Since(start)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s's score in B did not move within %s (still %d)", id, limit, b.record(id).TrustScore)
		return 0
	}

	p := register("cluster-a", "push")
	if b.ledgerShows("upsert_partner", rcv) {
		t.Fatal("B's ledger shows the transmitter credential")
	}
	if p.SSF.TokenID == "" {
		t.Fatal("no partner token minted for the push stream")
	}
	before := b.record("alice").TrustScore
	a.violate("alice", 60)
	took := movedWithin("alice", before, 2*time.Second)
	t.Logf("push: alice's score moved in B %s after the violation in A", took)
	// The verification B asked for at registration is recorded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := b.node.Ledger().Partner("cluster-a")
		if v.SSF != nil && v.SSF.Verification != "" {
			if v.SSF.Verification != v.SSF.VerifyState {
				t.Fatalf("recorded verification %q, asked for %q", v.SSF.Verification, v.SSF.VerifyState)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verification event was not recorded: %+v", v.SSF)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Registered again for poll delivery: the push stream at A and the
	// token minted for it go.
	var out struct {
		Partner fsm.PartnerView `json:"partner"`
	}
	b.mustJSON("PUT", "/v1/federation/partners/cluster-a", b.admin, map[string]any{
		"ssf":    map[string]any{"configurationUrl": wellKnown, "token": rcv, "delivery": "poll"},
		"weight": 0.5, "maxInfluence": 50}, http.StatusOK, &out)
	goneAtA := func(stream string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, ok := a.node.Ledger().Stream(stream); !ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("A still has stream %s", stream)
			}
		}
	}
	goneAtA(p.SSF.StreamID)
	if tok, _ := b.node.Ledger().Token(p.SSF.TokenID); !tok.Revoked {
		t.Fatal("the push stream's token still works")
	}
	before = b.record("bob").TrustScore
	a.violate("bob", 60)
	took = movedWithin("bob", before, 3*time.Second)
	t.Logf("poll: bob's score moved in B %s after the violation in A", took)

	// Re-registering with a token that cannot manage the stream is refused.
	b.mustJSON("PUT", "/v1/federation/partners/cluster-a", b.admin, map[string]any{
		"ssf":    map[string]any{"configurationUrl": wellKnown, "token": a.otherToken(fsm.RoleReceiver), "delivery": "poll"},
		"weight": 0.5, "maxInfluence": 50}, http.StatusUnprocessableEntity, nil)

	// Removed: A's stream is deleted.
	b.mustJSON("DELETE", "/v1/federation/partners/cluster-a", b.admin, nil, http.StatusOK, nil)
	goneAtA(out.Partner.SSF.StreamID)
}

// A transmitter is used only as SSF says it must be: its metadata at its
// issuer's well-known URL, its stream of its own issuer (a stream it
// created otherwise is deleted again); each refusal changes nothing.
func TestSSFRegistrationRefusesAMisfitTransmitter(t *testing.T) {
	t.Parallel()
	b := ssfHarness(t)
	var (
		mu      sync.Mutex
		issuer  string
		iss     string
		deleted int
	)
	tr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		base := "http://" + r.Host
		switch {
		case r.URL.Path == "/.well-known/ssf-configuration":
			writeJSON(w, http.StatusOK, map[string]any{"spec_version": "1_0", "issuer": issuer, "jwks_uri": base + "/jwks",
				"configuration_endpoint": base + "/streams", "delivery_methods_supported": []string{fsm.DeliveryPush, fsm.DeliveryPoll}})
		case r.URL.Path == "/jwks":
			writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
		case r.URL.Path == "/streams" && r.Method == http.MethodPost:
			writeJSON(w, http.StatusCreated, map[string]any{"stream_id": "s1", "iss": iss, "aud": "b",
				"delivery": map[string]any{"method": fsm.DeliveryPush}})
		case r.URL.Path == "/streams" && r.Method == http.MethodDelete:
			deleted++
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tr.Close)
	put := func() response {
		return b.do("PUT", "/v1/federation/partners/t1", b.admin, map[string]any{
			"ssf": map[string]any{"configurationUrl": tr.URL + "/.well-known/ssf-configuration", "token": "x"}, "weight": 0.5, "maxInfluence": 10})
	}
	before := b.node.Ledger().Status().Sequence
	mu.Lock()
	issuer, iss = "https://elsewhere.example", ""
	mu.Unlock()
	if r := put(); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "§7.2") {
		t.Fatalf("metadata of another issuer: %d %s", r.status, r.body)
	}
	mu.Lock()
	issuer, iss = tr.URL, "https://elsewhere.example"
	mu.Unlock()
	if r := put(); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "iss") {
		t.Fatalf("a stream of another issuer: %d %s", r.status, r.body)
	}
	mu.Lock()
	d := deleted
	mu.Unlock()
	if d != 1 {
		t.Fatalf("the misfit stream was deleted %d times, want once", d)
	}
	if after := b.node.Ledger().Status().Sequence; after != before {
		t.Fatalf("refused registrations moved the ledger from %d to %d", before, after)
	}
}
