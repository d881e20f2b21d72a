package api

import (
	"net/http"
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
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the verification event was not recorded: %+v", v.SSF)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Removed: the minted token is revoked and A's stream deleted.
	b.mustJSON("DELETE", "/v1/federation/partners/cluster-a", b.admin, nil, http.StatusOK, nil)
	if tok, _ := b.node.Ledger().Token(p.SSF.TokenID); !tok.Revoked {
		t.Fatal("the removed partner's token still works")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok := a.node.Ledger().Stream(p.SSF.StreamID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A still has the removed partner's stream")
		}
	}

	// Poll.
	register("cluster-a", "poll")
	before = b.record("bob").TrustScore
	a.violate("bob", 60)
	took = movedWithin("bob", before, 3*time.Second)
	t.Logf("poll: bob's score moved in B %s after the violation in A", took)
}
