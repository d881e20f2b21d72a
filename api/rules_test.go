package api

import (
	"net/http"
	"testing"
	"time"
)

// ledgerView is what GET /v1/status and GET /v1/ledger say of the ledger:
// a refused write must change none of it.
type ledgerView struct {
	Sequence uint64
	Digest   string
	Entries  int
}

func (h *harness) ledgerView(t *testing.T) ledgerView {
	t.Helper()
	var st struct {
		Sequence uint64 `json:"sequence"`
		Digest   string `json:"digest"`
	}
	h.mustJSON("GET", "/v1/status", h.token("reader"), nil, http.StatusOK, &st)
	var page struct {
		Entries []struct {
			Sequence uint64 `json:"sequence"`
		} `json:"entries"`
	}
	h.mustJSON("GET", "/v1/ledger?limit=1000", h.token("auditor"), nil, http.StatusOK, &page)
	return ledgerView{Sequence: st.Sequence, Digest: st.Digest, Entries: len(page.Entries)}
}

// A signal batch whose every signal the ledger would reject (unknown
// principals, an observedAt outside the window) is refused before it is
// proposed, with each signal's reason, and changes nothing: sequence,
// digest and ledger length stay. A batch with one signal the ledger
// accepts is still written, its other signals rejected one by one.
func TestFullyRejectedSignalBatchChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	writer := h.token("writer")
	h.token("reader")
	h.token("auditor") // the tokens ledgerView reads with, made before it measures
	stale := signal("s-stale", "alice", -1)
	stale["observedAt"] = time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name   string
		body   any
		status int
		kind   ProblemKind
		fields []string
	}{
		{"unknown principals", map[string]any{"signals": []any{signal("s1", "nobody", -5), signal("s2", "ghost", 2)}},
			http.StatusNotFound, ProblemNotFound, []string{"signals[0].principalId", "signals[1].principalId"}},
		{"a bare signal of an unknown principal", signal("s3", "nobody", -5),
			http.StatusNotFound, ProblemNotFound, []string{"principalId"}},
		{"a signal older than the deduplication window", stale,
			http.StatusUnprocessableEntity, ProblemRejected, []string{"observedAt"}},
		{"stale and unknown", map[string]any{"signals": []any{stale, signal("s4", "nobody", 1)}},
			http.StatusUnprocessableEntity, ProblemRejected, []string{"signals[0].observedAt", "signals[1].principalId"}},
	}
	for _, c := range cases {
		before := h.ledgerView(t)
		r := h.do("POST", "/v1/signals", writer, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Type != c.kind.URI() || p.Field != c.fields[0] {
			t.Errorf("%s: %d %s field %q, want %d %s field %q: %s", c.name, r.status, p.Type, p.Field, c.status,
				c.kind.URI(), c.fields[0], r.body)
		}
		if len(c.fields) > 1 {
			if len(p.Errors) != len(c.fields) {
				t.Errorf("%s: errors %+v, want one per signal", c.name, p.Errors)
			}
			for i, e := range p.Errors {
				if i < len(c.fields) && (e.Field != c.fields[i] || e.Detail == "" || e.Code == "") {
					t.Errorf("%s: error %d %+v, want field %s with its reason", c.name, i, e, c.fields[i])
				}
			}
		}
		if after := h.ledgerView(t); after != before {
			t.Errorf("%s: the refused batch changed the ledger: %+v → %+v", c.name, before, after)
		}
	}

	before := h.ledgerView(t)
	var out signalsResult
	h.mustJSON("POST", "/v1/signals", writer, map[string]any{"signals": []any{signal("s5", "nobody", -5),
		signal("s6", "alice", -5)}}, http.StatusOK, &out)
	if len(out.Results) != 2 || out.Results[0].Status != "rejected" || out.Results[1].Status != "accepted" {
		t.Fatalf("a partly valid batch: %+v", out)
	}
	if after := h.ledgerView(t); after.Sequence != before.Sequence+1 || after.Digest == before.Digest {
		t.Errorf("a partly valid batch is one entry: %+v → %+v", before, after)
	}
}

// A write the ledger would refuse is refused before it is proposed, with
// the problem the ledger's refusal maps to, and writes nothing — not even
// a rejected entry: a second endorsement of the same endorsee, partner
// weights summing above one, bounds that cross the ones kept, a revoked
// token's id reused.
func TestLedgerRefusalsWriteNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	h.register("bob", "service", "")
	h.ensurePartner("p1")
	writer := h.token("writer")
	h.mustJSON("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "alice", "endorseeId": "bob"}, http.StatusCreated, nil)
	h.mustJSON("PATCH", "/v1/principals/alice", writer, map[string]any{"minTrustScore": 20, "maxTrustScore": 80}, http.StatusOK, nil)
	jwks := map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "k2",
		"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}}
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		field, code               string
	}{
		{"endorsed twice", "POST", "/v1/endorsements", writer, map[string]any{"endorserId": "alice", "endorseeId": "bob"},
			http.StatusConflict, "endorseeId", "conflict"},
		{"partner weights above one", "PUT", "/v1/federation/partners/p2", h.admin, map[string]any{"issuer": "https://p2.example",
			"audience": "trustledger", "weight": 0.6, "maxInfluence": 10, "jwks": jwks}, http.StatusConflict, "weight", "conflict"},
		{"an issuer another partner has", "PUT", "/v1/federation/partners/p3", h.admin, map[string]any{"issuer": "https://p1.example",
			"audience": "trustledger", "weight": 0.1, "maxInfluence": 10, "jwks": jwks}, http.StatusConflict, "issuer", "conflict"},
		{"min above the max kept", "PATCH", "/v1/principals/alice", writer, map[string]any{"minTrustScore": 90},
			http.StatusUnprocessableEntity, "minTrustScore", "invalid"},
		{"max below the min kept", "PATCH", "/v1/principals/alice", writer, map[string]any{"maxTrustScore": 10},
			http.StatusUnprocessableEntity, "maxTrustScore", "invalid"},
		{"an endorsement weight above the policy's", "POST", "/v1/endorsements", writer, map[string]any{"endorserId": "bob",
			"endorseeId": "alice", "weight": 6}, http.StatusBadRequest, "weight", "invalid"},
	}
	for _, c := range cases {
		before := h.state()
		r := h.do(c.method, c.path, c.token, c.body)
		p := r.problem(t)
		if r.status != c.status || p.Field != c.field || p.Code != c.code {
			t.Errorf("%s: %d field %q code %q, want %d %q %q: %s", c.name, r.status, p.Field, p.Code, c.status, c.field, c.code, r.body)
		}
		if after := h.state(); after != before {
			t.Errorf("%s: the refused write changed the ledger: %+v → %+v", c.name, before, after)
		}
	}
}
