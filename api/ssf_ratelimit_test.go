package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// A poll partner registered with rateLimit 1 SET/s answers every poll with
// 50 fresh, validly signed SETs: the leader applies them within the
// partner's rate limit, as it does pushed ones, and takes no more of an
// answer than the poll asked for.
func TestSSFPolledSETsKeepTheRateLimit(t *testing.T) {
	b := ssfHarness(t)
	b.registerTrusted("alice")
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := federation.PublicJWK(ed, "ed1")
	var seq atomic.Int64
	var tr *httptest.Server
	tr = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := tr.URL
		switch {
		case r.URL.Path == "/.well-known/ssf-configuration":
			writeJSON(w, http.StatusOK, map[string]any{"spec_version": "1_0", "issuer": base, "jwks_uri": base + "/jwks",
				"configuration_endpoint": base + "/streams", "delivery_methods_supported": []string{fsm.DeliveryPoll}})
		case r.URL.Path == "/jwks":
			writeJSON(w, http.StatusOK, map[string]any{"keys": []json.RawMessage{jwk}})
		case r.URL.Path == "/streams" && r.Method == http.MethodPost:
			writeJSON(w, http.StatusCreated, map[string]any{"stream_id": "s1", "iss": base, "aud": "b",
				"delivery": map[string]any{"method": fsm.DeliveryPoll, "endpoint_url": base + "/poll"}})
		case r.URL.Path == "/poll":
			sets := map[string]string{}
			for i := 0; i < 50; i++ {
				jti := fmt.Sprintf("j-%d", seq.Add(1))
				s, _ := federation.Sign(ed, "ed1", map[string]any{"iss": base, "aud": "b", "iat": time.Now().Unix(), "jti": jti,
					"sub_id": map[string]any{"format": "opaque", "id": "alice"},
					"events": map[string]any{fsm.EventTrustAssessment: map[string]any{"score": 1, "validUntil": time.Now().Unix() + 3600}}})
				sets[jti] = s
			}
			writeJSON(w, http.StatusOK, map[string]any{"sets": sets, "moreAvailable": true})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tr.Close)
	b.mustJSON("PUT", "/v1/federation/partners/t1", b.admin, map[string]any{
		"ssf":    map[string]any{"configurationUrl": tr.URL + "/.well-known/ssf-configuration", "token": "x", "delivery": "poll"},
		"weight": 0.5, "maxInfluence": 10, "rateLimit": 1}, http.StatusCreated, nil)
	start := b.node.Ledger().Status().Sequence
	time.Sleep(3 * time.Second)
	n := b.node.Ledger().Status().Sequence - start
	t.Logf("entries committed from a rateLimit=1 poll partner in 3 s: %d", n)
	if n > 10 {
		t.Errorf("polled SETs bypass the partner's rate limit: %d entries in 3 s at rateLimit 1", n)
	}
}
