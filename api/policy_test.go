package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// The JSON form converts to the policy and back without loss.
func TestPolicyDocRoundTrip(t *testing.T) {
	p := fsm.DefaultPolicy()
	data, err := json.Marshal(policyToDoc(&p))
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	if err := decodeStrict(data, &doc, ""); err != nil {
		t.Fatalf("decode own output: %v\n%s", err, data)
	}
	var errs fieldErrors
	back := doc.policy(&errs)
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip changed the policy:\n%+v\n%+v", back, p)
	}
}

func TestPolicyEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reader := h.token("reader")
	var got map[string]any
	h.mustJSON("GET", "/v1/policy", reader, nil, http.StatusOK, &got)
	if got["version"] != float64(0) || got["decayGrace"] != "24h" || got["dedupWindow"] != "168h" {
		t.Errorf("policy: version %v decayGrace %v dedupWindow %v", got["version"], got["decayGrace"], got["dedupWindow"])
	}

	// PUT of what GET returned changes nothing and writes nothing.
	raw := h.do("GET", "/v1/policy", reader, nil).body
	before := h.state()
	var same struct {
		Changed bool `json:"changed"`
	}
	h.mustJSON("PUT", "/v1/policy", h.admin, raw, http.StatusOK, &same)
	if same.Changed || h.state() != before {
		t.Errorf("an unchanged policy was written: %+v", same)
	}

	// A partial document changes only what it names.
	var put struct {
		Index   uint64    `json:"index"`
		Changed bool      `json:"changed"`
		Policy  policyDoc `json:"policy"`
	}
	h.mustJSON("PUT", "/v1/policy", h.admin, map[string]any{
		"version": 0, "sharpDrop": 12.5, "dedupWindow": "72h",
		"caps":     map[string]any{"authentication": 30, "context": 3},
		"decision": map[string]any{"allow": map[string]any{"critical": 88}},
		"rules":    []any{map[string]any{"component": "authentication", "key": "mfa_enabled", "op": "eq", "value": true, "points": 4}},
	}, http.StatusOK, &put)
	pol := h.node.Ledger().Policy()
	if !put.Changed || put.Index == 0 || pol.Version != 1 || pol.SharpDrop != 12_500_000 || pol.DedupWindow != 72*3_600_000 ||
		pol.Caps[0] != 30*fsm.Point || pol.Caps[4] != 3*fsm.Point || pol.Decision.Allow[3] != 88*fsm.Point ||
		pol.Decision.Allow[2] != fsm.DefaultPolicy().Decision.Allow[2] || len(pol.Rules) != 1 || pol.Rules[0].Value != "true" ||
		len(pol.Decision.Permissions) != len(fsm.DefaultPolicy().Decision.Permissions) {
		t.Errorf("policy after PUT: %+v", pol)
	}
	if put.Policy.Version == nil || *put.Policy.Version != 1 {
		t.Errorf("answer version: %v", put.Policy.Version)
	}
	// The version check refuses a stale read-modify-write.
	r := h.do("PUT", "/v1/policy", h.admin, map[string]any{"version": 0, "sharpDrop": 20})
	if p := r.problem(t); r.status != http.StatusConflict || p.Field != "version" {
		t.Errorf("stale version: %d %+v", r.status, p)
	}
}
