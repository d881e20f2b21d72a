package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// hostileTransmitter is a transmitter whose poll endpoint answers
// {"sets":{},"moreAvailable":true} for ever, and whose verification and
// poll endpoints may be put on another host (elsewhere).
func hostileTransmitter(t *testing.T, elsewhere string, polls *atomic.Int64) *httptest.Server {
	var tr *httptest.Server
	tr = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := tr.URL
		endpoints := base
		if elsewhere != "" {
			endpoints = elsewhere
		}
		switch {
		case r.URL.Path == "/.well-known/ssf-configuration":
			writeJSON(w, http.StatusOK, map[string]any{"spec_version": "1_0", "issuer": base, "jwks_uri": base + "/jwks",
				"configuration_endpoint": base + "/streams", "verification_endpoint": endpoints + "/verify",
				"delivery_methods_supported": []string{fsm.DeliveryPush, fsm.DeliveryPoll}})
		case r.URL.Path == "/jwks":
			writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}})
		case r.URL.Path == "/streams" && r.Method == http.MethodPost:
			writeJSON(w, http.StatusCreated, map[string]any{"stream_id": "s1", "iss": base, "aud": "b",
				"delivery": map[string]any{"method": fsm.DeliveryPoll, "endpoint_url": endpoints + "/poll"}})
		case r.URL.Path == "/streams" && r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/poll":
			polls.Add(1)
			writeJSON(w, http.StatusOK, map[string]any{"sets": map[string]string{}, "moreAvailable": true})
		case r.URL.Path == "/verify":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tr.Close)
	return tr
}

func registerPollPartner(b *harness, tr *httptest.Server) response {
	return b.do("PUT", "/v1/federation/partners/t1", b.admin, map[string]any{
		"ssf":    map[string]any{"configurationUrl": tr.URL + "/.well-known/ssf-configuration", "token": "admin-given-secret", "delivery": "poll"},
		"weight": 0.5, "maxInfluence": 10})
}

// A transmitter may not have the node call another host with the
// credential it was given: every endpoint it names is on its issuer's
// origin.
func TestSSFTransmitterEndpointsStayOnItsOrigin(t *testing.T) {
	t.Parallel()
	b := ssfHarness(t)
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(internal.Close)
	var polls atomic.Int64
	tr := hostileTransmitter(t, internal.URL, &polls)
	if r := registerPollPartner(b, tr); r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "origin") {
		t.Fatalf("endpoints on another host: %d %s", r.status, r.body)
	}
	time.Sleep(300 * time.Millisecond)
	if n := hits.Load(); n != 0 {
		t.Fatalf("the other host got %d requests", n)
	}
}

// A transmitter answering "more available" with nothing does not make the
// leader poll without pause.
func TestSSFPollDoesNotSpin(t *testing.T) {
	t.Parallel()
	b := ssfHarness(t)
	var polls atomic.Int64
	tr := hostileTransmitter(t, "", &polls)
	if r := registerPollPartner(b, tr); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	start := polls.Load()
	time.Sleep(3 * time.Second)
	if n := polls.Load() - start; n > 20 {
		t.Fatalf("%d polls in 3 s: the poller spins (one per 250 ms is 12)", n)
	}
}
