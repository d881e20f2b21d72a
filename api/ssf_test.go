package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

// ssfReceiver is an SSF push receiver (RFC 8935) that verifies every SET
// it gets with go-jose against the transmitter's JWKS, as a third party
// would, and records them.
type ssfReceiver struct {
	t      *testing.T
	h      *harness
	srv    *httptest.Server
	auth   string
	down   atomic.Bool // answer 503 while set
	failed atomic.Int64

	mu   sync.Mutex
	sets []receivedSET
}

type receivedSET struct {
	JTI    string
	Type   string
	Claims map[string]any
	Event  map[string]any
}

func newSSFReceiver(t *testing.T, h *harness, auth string) *ssfReceiver {
	rc := &ssfReceiver{t: t, h: h, auth: auth}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *ssfReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if rc.down.Load() {
		rc.failed.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != rc.auth || r.Header.Get("Content-Type") != "application/secevent+jwt" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	set, err := rc.verify(string(body))
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"err":"invalid_request","description":"bad"}`))
		return
	}
	rc.mu.Lock()
	rc.sets = append(rc.sets, set)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// verify checks a SET's signature against the JWKS the transmitter serves
// and its typ, iss and events.
func (rc *ssfReceiver) verify(compact string) (receivedSET, error) {
	return verifySET(rc.h, compact)
}

func verifySET(h *harness, compact string) (receivedSET, error) {
	var set receivedSET
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return set, err
	}
	hdr := jws.Signatures[0].Header
	if typ, _ := hdr.ExtraHeaders["typ"].(string); typ != "secevent+jwt" {
		return set, fmt.Errorf("typ %q", typ)
	}
	resp, err := http.Get(h.srv.URL + "/v1/ssf/jwks")
	if err != nil {
		return set, err
	}
	defer resp.Body.Close()
	var jwks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		return set, err
	}
	keys := jwks.Key(hdr.KeyID)
	if len(keys) != 1 {
		return set, fmt.Errorf("kid %q: %d keys in the JWKS", hdr.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(payload, &set.Claims); err != nil {
		return set, err
	}
	if set.Claims["iss"] != h.srv.URL && set.Claims["iss"] != h.api.issuer() {
		return set, fmt.Errorf("iss %v", set.Claims["iss"])
	}
	events, _ := set.Claims["events"].(map[string]any)
	if len(events) != 1 {
		return set, fmt.Errorf("events %v", set.Claims["events"])
	}
	for typ, ev := range events {
		set.Type = typ
		set.Event, _ = ev.(map[string]any)
	}
	set.JTI, _ = set.Claims["jti"].(string)
	return set, nil
}

func (rc *ssfReceiver) received() []receivedSET {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedSET(nil), rc.sets...)
}

// waitFor waits until the receiver holds n SETs.
func (rc *ssfReceiver) waitFor(n int) []receivedSET {
	rc.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := rc.received(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	rc.t.Fatalf("the receiver has %d SETs, want %d", len(rc.received()), n)
	return nil
}

func ssfHarness(t *testing.T) *harness {
	h := newHarnessConfig(t, Config{SSF: SSFConfig{Tick: 10 * time.Millisecond, RetryMin: 20 * time.Millisecond,
		RetryMax: 100 * time.Millisecond, PollWait: 300 * time.Millisecond}})
	h.api.SetIssuer(h.srv.URL)
	return h
}

// violate lowers a principal's score by points.
func (h *harness) violate(id string, points int) {
	h.t.Helper()
	h.mustJSON("POST", "/v1/signals", h.token("writer"), map[string]any{"eventId": fmt.Sprintf("v-%s-%d", id, time.Now().UnixNano()),
		"principalId": id, "event": "policy_violation", "category": "behavior", "impact": -points}, http.StatusOK, nil)
}

func (h *harness) registerTrusted(id string) {
	h.t.Helper()
	h.mustJSON("POST", "/v1/principals", h.admin, map[string]any{"principalId": id, "principalType": "user", "baseTrustScore": 95},
		http.StatusCreated, nil)
}

func TestSSFConfigurationAndJWKS(t *testing.T) {
	t.Parallel()
	h := ssfHarness(t)
	var meta map[string]any
	h.mustJSON("GET", "/.well-known/ssf-configuration", "", nil, http.StatusOK, &meta)
	iss, _ := meta["issuer"].(string)
	if iss == "" || meta["spec_version"] != "1_0" || meta["jwks_uri"] != iss+"/v1/ssf/jwks" ||
		meta["configuration_endpoint"] != iss+"/v1/ssf/streams" || meta["default_subjects"] != "ALL" {
		t.Fatalf("metadata %v", meta)
	}
	methods, _ := meta["delivery_methods_supported"].([]any)
	if len(methods) != 2 || methods[0] != fsm.DeliveryPush || methods[1] != fsm.DeliveryPoll {
		t.Fatalf("delivery methods %v", methods)
	}
	// The leader publishes its keys before it signs anything: once a
	// stream exists.
	h.mustJSON("POST", "/v1/ssf/streams", h.token(fsm.RoleReceiver), map[string]any{"delivery": map[string]any{"method": fsm.DeliveryPoll}},
		http.StatusCreated, nil)
	deadline := time.Now().Add(5 * time.Second)
	var jwks jose.JSONWebKeySet
	for time.Now().Before(deadline) {
		h.mustJSON("GET", "/v1/ssf/jwks", "", nil, http.StatusOK, &jwks)
		if len(jwks.Keys) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	algs := map[string]bool{}
	for _, k := range jwks.Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Fatalf("key %s is not a valid public key", k.KeyID)
		}
		algs[k.Algorithm] = true
	}
	if !algs["RS256"] || !algs["ES256"] {
		t.Fatalf("the JWKS offers %v, want RS256 and ES256", algs)
	}
	// Rotated: the new pair is published, the pair before stays, retired.
	var rotated struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	h.mustJSON("POST", "/v1/ssf/keys/rotate", h.token("operator"), nil, http.StatusOK, &rotated)
	h.mustJSON("GET", "/v1/ssf/jwks", "", nil, http.StatusOK, &jwks)
	if len(rotated.Keys) != 4 || len(jwks.Keys) != 4 {
		t.Fatalf("after a rotation: %d keys of the node, %d published; want 4 (current and retired pairs)", len(rotated.Keys), len(jwks.Keys))
	}
	for _, k := range rotated.Keys {
		if len(jwks.Key(k.Kid)) != 1 {
			t.Fatalf("key %s is not published", k.Kid)
		}
	}
	raw := h.do("GET", "/v1/ssf/jwks", "", nil)
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`} {
		if strings.Contains(string(raw.body), private+":") {
			t.Fatalf("the JWKS carries private member %s", private)
		}
	}
}

// A push stream gets risk-level-change and trust-assessment SETs for a
// violation, signed by a key of the JWKS; a receiver that is down is
// retried with backoff, its failures shown in the stream's status and in
// /metrics, and then gets every event, in order, with the same jti it was
// first offered with.
func TestSSFPushDelivery(t *testing.T) {
	t.Parallel()
	h := ssfHarness(t)
	rc := newSSFReceiver(t, h, "Bearer receiver-secret")
	rcv := h.token(fsm.RoleReceiver)
	var stream map[string]any
	h.mustJSON("POST", "/v1/ssf/streams", rcv, map[string]any{
		"delivery":         map[string]any{"method": fsm.DeliveryPush, "endpoint_url": rc.srv.URL, "authorization_header": "Bearer receiver-secret"},
		"events_requested": []string{fsm.EventRiskLevelChange, fsm.EventTrustAssessment},
		"description":      "test"}, http.StatusCreated, &stream)
	id, _ := stream["stream_id"].(string)
	if id == "" || stream["aud"] == nil || stream["delivery"].(map[string]any)["authorization_header"] != nil {
		t.Fatalf("created %v", stream)
	}
	// The receiver's credential is in the ledger sealed: neither the
	// entries auditors read nor their leaves carry it.
	if h.ledgerShows("put_stream", "receiver-secret") {
		t.Fatal("the ledger shows the push credential")
	}
	h.registerTrusted("alice")
	h.violate("alice", 60)
	got := rc.waitFor(2)
	if got[0].Type != fsm.EventRiskLevelChange || got[1].Type != fsm.EventTrustAssessment {
		t.Fatalf("got %s then %s", got[0].Type, got[1].Type)
	}
	if got[0].Event["current_level"] != "HIGH" || got[0].Event["previous_level"] != "LOW" || got[0].Event["risk_reason"] == "" {
		t.Fatalf("risk-level-change %v", got[0].Event)
	}
	if sub, _ := got[1].Claims["sub_id"].(map[string]any); sub["format"] != "opaque" || sub["id"] != "alice" {
		t.Fatalf("sub_id %v", got[1].Claims["sub_id"])
	}
	rec := h.record("alice")
	if score, _ := got[1].Event["score"].(float64); int64(score) != rec.TrustScore || got[1].Event["level"] != rec.TrustLevel {
		t.Fatalf("trust-assessment %v; the record is %d %s", got[1].Event, rec.TrustScore, rec.TrustLevel)
	}
	if got[1].Claims["aud"] != stream["aud"] {
		t.Fatalf("aud %v, the stream's %v", got[1].Claims["aud"], stream["aud"])
	}

	// Down: retried, and visible.
	rc.down.Store(true)
	h.registerTrusted("bob")
	h.violate("bob", 60)
	deadline := time.Now().Add(5 * time.Second)
	var status map[string]any
	for time.Now().Before(deadline) && rc.failed.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	if rc.failed.Load() < 3 {
		t.Fatalf("a receiver that is down was tried %d times", rc.failed.Load())
	}
	for time.Now().Before(deadline) {
		h.mustJSON("GET", "/v1/ssf/status?stream_id="+id, rcv, nil, http.StatusOK, &status)
		if d := status["delivery"].(map[string]any); d["failures"].(float64) > 0 && d["lastError"] != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := status["delivery"].(map[string]any); d["failures"].(float64) == 0 || d["pending"].(float64) < 2 {
		t.Fatalf("status while the receiver is down: %v", status)
	}
	metrics := string(h.do("GET", "/metrics", h.token("operator"), nil).body)
	if !strings.Contains(metrics, `trustledger_ssf_sets_sent_total{method="push",outcome="failed"}`) ||
		strings.Contains(metrics, `trustledger_ssf_sets_sent_total{method="push",outcome="failed"} 0`) {
		t.Fatal("/metrics does not count the failed deliveries")
	}
	rc.down.Store(false)
	got = rc.waitFor(4)
	if got[2].Claims["sub_id"].(map[string]any)["id"] != "bob" || got[2].Type != fsm.EventRiskLevelChange || got[3].Type != fsm.EventTrustAssessment {
		t.Fatalf("after recovery: %v, %v", got[2].Claims, got[3].Claims)
	}
	if got[2].JTI != id+"-3" && got[2].JTI <= got[1].JTI {
		t.Fatalf("jti %s after %s", got[2].JTI, got[1].JTI)
	}

	// Paused: nothing, then everything in order.
	h.mustJSON("POST", "/v1/ssf/status", rcv, map[string]any{"stream_id": id, "status": "paused"}, http.StatusOK, nil)
	for _, p := range []string{"carol", "dave"} {
		h.registerTrusted(p)
		h.violate(p, 60)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.received()); n != 4 {
		t.Fatalf("a paused stream delivered: %d SETs", n)
	}
	h.mustJSON("POST", "/v1/ssf/status", rcv, map[string]any{"stream_id": id, "status": "enabled"}, http.StatusOK, nil)
	got = rc.waitFor(8)
	var order []string
	for _, s := range got[4:] {
		order = append(order, s.Claims["sub_id"].(map[string]any)["id"].(string)+" "+s.Type[strings.LastIndex(s.Type, "/")+1:])
	}
	if strings.Join(order, ",") != "carol risk-level-change,carol trust-assessment,dave risk-level-change,dave trust-assessment" {
		t.Fatalf("resumed in the order %v", order)
	}
	seen := map[string]bool{}
	for _, s := range got {
		if seen[s.JTI] {
			t.Fatalf("jti %s delivered twice", s.JTI)
		}
		seen[s.JTI] = true
	}
}

// Poll delivery (RFC 8936) with the verification flow: the verification
// event carries the receiver's state, acknowledged SETs are not sent again.
func TestSSFPollAndVerification(t *testing.T) {
	t.Parallel()
	h := ssfHarness(t)
	rcv := h.token(fsm.RoleReceiver)
	var stream map[string]any
	h.mustJSON("POST", "/v1/ssf/streams", rcv, map[string]any{"delivery": map[string]any{"method": fsm.DeliveryPoll}}, http.StatusCreated, &stream)
	id := stream["stream_id"].(string)
	poll, _ := stream["delivery"].(map[string]any)["endpoint_url"].(string)
	if !strings.HasSuffix(poll, "/v1/ssf/poll/"+id) {
		t.Fatalf("poll endpoint %q", poll)
	}
	path := "/v1/ssf/poll/" + id
	h.mustJSON("POST", "/v1/ssf/verify", rcv, map[string]any{"stream_id": id, "state": "st-42"}, http.StatusNoContent, nil)
	var out struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	h.mustJSON("POST", path, rcv, map[string]any{"returnImmediately": true}, http.StatusOK, &out)
	if len(out.Sets) != 1 {
		t.Fatalf("poll: %v", out.Sets)
	}
	var jti string
	for j, compact := range out.Sets {
		set, err := verifySET(h, compact)
		if err != nil {
			t.Fatal(err)
		}
		if set.Type != fsm.EventVerification || set.Event["state"] != "st-42" || set.JTI != j {
			t.Fatalf("verification SET %v", set)
		}
		jti = j
	}
	// Not acknowledged: offered again.
	out.Sets = nil
	h.mustJSON("POST", path, rcv, map[string]any{"returnImmediately": true}, http.StatusOK, &out)
	if _, ok := out.Sets[jti]; !ok || len(out.Sets) != 1 {
		t.Fatalf("unacknowledged SET not offered again: %v", out.Sets)
	}
	// Acknowledged: gone; a long poll waits and returns empty.
	start := time.Now()
	out.Sets = nil
	h.mustJSON("POST", path, rcv, map[string]any{"ack": []string{jti}}, http.StatusOK, &out)
	if len(out.Sets) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("after the ack: %v after %s", out.Sets, time.Since(start))
	}
	// A long poll returns as soon as there is an event.
	h.registerTrusted("erin")
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.violate("erin", 60)
	}()
	for i := 0; i < 20 && len(out.Sets) == 0; i++ { // a slow machine may take more than one long poll
		out.Sets = nil
		h.mustJSON("POST", path, rcv, map[string]any{}, http.StatusOK, &out)
	}
	if len(out.Sets) == 0 {
		t.Fatal("the long polls returned nothing")
	}
}

// Bad input on every SSF endpoint is refused with a problem and changes
// nothing; another receiver does not see a receiver's stream.
func TestSSFBadInput(t *testing.T) {
	t.Parallel()
	h := ssfHarness(t)
	rcv := h.token(fsm.RoleReceiver)
	var stream map[string]any
	h.mustJSON("POST", "/v1/ssf/streams", rcv, map[string]any{"delivery": map[string]any{"method": fsm.DeliveryPoll}}, http.StatusCreated, &stream)
	id := stream["stream_id"].(string)
	other := h.otherToken(fsm.RoleReceiver)
	// The leader publishes its keys once a stream exists: let it, so that
	// the ledger moves only for what the cases do.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, ok := h.node.Ledger().NodeKeys(h.node.NodeID()); ok {
			break
		}
	}
	for _, c := range []struct {
		name, token, method, path, body string
		status                          int
	}{
		{"no delivery", rcv, "POST", "/v1/ssf/streams", `{"description":"x"}`, 400},
		{"bad method", rcv, "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:smtp"}}`, 400},
		{"push without URL", rcv, "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:ietf:rfc:8935"}}`, 400},
		{"push over http off loopback", rcv, "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://rp.example/ssf"}}`, 400},
		{"header with a line break", rcv, "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://rp.example/ssf","authorization_header":"Bearer a\r\nX: y"}}`, 400},
		{"stream id chosen", rcv, "POST", "/v1/ssf/streams", `{"stream_id":"mine","delivery":{"method":"urn:ietf:rfc:8936"}}`, 400},
		{"unknown member", rcv, "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:ietf:rfc:8936"},"colour":"red"}`, 400},
		{"malformed", rcv, "POST", "/v1/ssf/streams", `{"delivery":`, 400},
		{"update without id", rcv, "PATCH", "/v1/ssf/streams", `{"description":"x"}`, 400},
		{"update unknown", rcv, "PATCH", "/v1/ssf/streams", `{"stream_id":"nope","description":"x"}`, 404},
		{"update another's", other, "PATCH", "/v1/ssf/streams", `{"stream_id":"` + id + `","description":"x"}`, 404},
		{"read another's", other, "GET", "/v1/ssf/streams?stream_id=" + id, ``, 404},
		{"delete another's", other, "DELETE", "/v1/ssf/streams?stream_id=" + id, ``, 404},
		{"delete without id", rcv, "DELETE", "/v1/ssf/streams", ``, 400},
		{"bad status", rcv, "POST", "/v1/ssf/status", `{"stream_id":"` + id + `","status":"asleep"}`, 400},
		{"status of another's", other, "GET", "/v1/ssf/status?stream_id=" + id, ``, 404},
		{"subject without format", rcv, "POST", "/v1/ssf/subjects/add", `{"stream_id":"` + id + `","subject":{"id":"alice"}}`, 400},
		{"subject of another issuer", rcv, "POST", "/v1/ssf/subjects/add", `{"stream_id":"` + id + `","subject":{"format":"iss_sub","iss":"https://x","sub":"alice"}}`, 400},
		{"no subject", rcv, "POST", "/v1/ssf/subjects/remove", `{"stream_id":"` + id + `"}`, 400},
		{"verify another's", other, "POST", "/v1/ssf/verify", `{"stream_id":"` + id + `","state":"x"}`, 404},
		{"poll ack of another stream", rcv, "POST", "/v1/ssf/poll/" + id, `{"ack":["other-1"]}`, 400},
		{"poll too many", rcv, "POST", "/v1/ssf/poll/" + id, `{"maxEvents":100000}`, 400},
		{"poll another's", other, "POST", "/v1/ssf/poll/" + id, `{}`, 404},
		{"reader creates", h.token("reader"), "POST", "/v1/ssf/streams", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, 403},
	} {
		before := h.node.Ledger().Status().Sequence
		r := h.do(c.method, c.path, c.token, c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
			continue
		}
		if p := r.problem(t); p.Status != c.status || p.Detail == "" {
			t.Errorf("%s: problem %+v", c.name, p)
		}
		if after := h.node.Ledger().Status().Sequence; after != before {
			t.Errorf("%s: the ledger moved from %d to %d", c.name, before, after)
		}
	}
	if v, _ := h.node.Ledger().Stream(id); v.Description != "" || v.Status != fsm.StreamEnabled {
		t.Fatalf("the stream changed: %+v", v)
	}
}

// otherToken creates a second token of role, for tests of what one token
// may not do with another's objects.
func (h *harness) otherToken(role string) string {
	h.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": role, "description": "another " + role}, http.StatusCreated, &out)
	return out.Token
}

// ledgerShows reports whether the ledger's entries, as an auditor reads
// them (commands and the leaves' bytes), contain secret; it fails the test
// when no entry of kind is there to look at.
func (h *harness) ledgerShows(kind, secret string) bool {
	h.t.Helper()
	var page struct {
		Entries []client.LedgerEntry `json:"entries"`
	}
	h.mustJSON("GET", "/v1/ledger?limit=1000", h.token("auditor"), nil, http.StatusOK, &page)
	found, shows := false, false
	for _, e := range page.Entries {
		found = found || e.Kind == kind
		shows = shows || strings.Contains(string(e.Leaf), secret) || strings.Contains(string(e.Command), secret)
	}
	if !found {
		h.t.Fatalf("no %s entry in the ledger", kind)
	}
	return shows
}
