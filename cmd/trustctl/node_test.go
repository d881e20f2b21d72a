package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/api"
	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/testnode"
)

// startNode runs a single-node cluster and its HTTP API in-process, on
// loopback ports picked by the OS, and returns the API's URL and the
// bootstrap admin token.
func startNode(t *testing.T) (addr, token string) {
	t.Helper()
	s := testnode.StartSingle(t, "node1", testAPI(), nil)
	return s.URL(), s.Admin
}

// testAPI is what internal/testnode needs of package api.
func testAPI() testnode.API {
	return testnode.API{
		New: func(node *cluster.Node) testnode.Server { return api.New(api.Config{}, node) },
		AdminToken: func(ctx context.Context, node *cluster.Node, path string) (bool, error) {
			return api.EnsureAdminToken(ctx, node, path)
		},
	}
}

// The README walkthrough, run through trustctl against a real node: the
// client and the server agree on every shape the walkthrough uses, and
// trust behaves as the README says.
func TestClientAgreesWithServerOnWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	t.Parallel()
	clearEnv(t)
	addr, token := startNode(t)

	ctl := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		c := newCLI(strings.NewReader(""), &out, &errb)
		if code := c.run(context.Background(), append([]string{"--addr", addr, "--token", token}, args...)); code != 0 {
			t.Fatalf("trustctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	record := func(id string) client.Record {
		t.Helper()
		var r client.Record
		if err := json.Unmarshal([]byte(ctl("principal", "get", id, "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	decision := func(id string) client.Decision {
		t.Helper()
		var d client.Decision
		if err := json.Unmarshal([]byte(ctl("decide", id, "--action", "read_sensitive", "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	ctl("org", "set", "acme", "--base", "70", "--name", "Acme Corp")
	ctl("principal", "register", "alice", "--type", "user", "--org", "acme")
	if r := record("alice"); r.TrustScore != 70 || r.OrgID != "acme" || r.ScoreComponents.Sum() != 70 {
		t.Fatalf("a new principal should score its organization's baseline: %+v", r)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ctl("principal", "get", "alice", "-o", "json")), &raw); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"trustId", "principalId", "principalType", "trustScore", "trustLevel", "scoreComponents",
		"authenticationFactors", "behaviorMetrics", "complianceStatus", "riskIndicators", "positiveSignals",
		"negativeSignals", "trustHistory", "trustTrend", "baseTrustScore", "trustModifiers", "trustDecayRate",
		"trustRecoveryRate", "maxTrustScore", "minTrustScore", "endorsements", "federatedTrust", "lastAssessmentAt",
		"nextAssessmentAt", "assessmentFrequency", "trustAlerts", "requiresReview", "isActive", "metadata"} {
		if _, ok := raw[p]; !ok {
			t.Errorf("record lacks %s", p)
		}
	}

	ctl("factors", "set", "alice", "--authentication", `{"mfa_enabled": true}`, "--compliance", `{"training_completed": true}`)
	out := ctl("signal", "send", "alice", "--event", "login_success", "--category", "authentication", "--impact", "2", "--event-id", "evt-001")
	if !strings.Contains(out, "accepted") {
		t.Fatalf("first send: %s", out)
	}
	if out := ctl("signal", "send", "alice", "--event", "login_success", "--category", "authentication", "--impact", "2", "--event-id", "evt-001"); !strings.Contains(out, "duplicate") {
		t.Fatalf("a repeated event id should be a duplicate: %s", out)
	}
	before := record("alice")
	if d := decision("alice"); d.Decision != client.DecisionAllow {
		t.Fatalf("before violations: %+v", d)
	}

	prev := before.TrustScore
	for i := range 3 {
		ctl("signal", "send", "alice", "--event", "policy_violation", "--category", "compliance", "--impact", "-8",
			"--event-id", fmt.Sprintf("violation-%d", i+1))
		now := record("alice").TrustScore
		if now >= prev {
			t.Fatalf("violation %d: score %d did not fall below %d", i+1, now, prev)
		}
		prev = now
	}
	after := record("alice")
	if !after.RequiresReview || len(after.TrustAlerts) == 0 {
		t.Errorf("a sharp drop should raise an alert: %+v", after.TrustAlerts)
	}
	if d := decision("alice"); d.Decision == client.DecisionAllow {
		t.Errorf("after violations: %+v", d)
	}

	var sim client.Simulation
	if err := json.Unmarshal([]byte(ctl("simulate", "alice", "--signal", "security_training:compliance:5", "--at", "+48h", "-o", "json")), &sim); err != nil {
		t.Fatal(err)
	}
	if sim.Delta <= 0 || sim.Delta > 5 || record("alice").TrustScore != after.TrustScore {
		t.Errorf("simulated recovery should be positive, bounded and unwritten: %+v", sim)
	}

	var alerts struct{ Alerts []client.Alert }
	if err := json.Unmarshal([]byte(ctl("alerts", "-o", "json")), &alerts); err != nil || len(alerts.Alerts) == 0 {
		t.Fatalf("alerts: %v %+v", err, alerts)
	}
	ctl("alerts", "review", alerts.Alerts[0].AlertID, "--action", "confirm-safe", "--note", "checked")
	if ctl("principal", "history", "alice") == "" || ctl("status") == "" || ctl("ledger", "--limit", "5") == "" {
		t.Error("empty output")
	}
	if out := ctl("token", "create", "--role", "reader", "-o", "json"); !strings.Contains(out, `"token": "tl_`) {
		t.Errorf("token create: %s", out)
	}
	ctl("policy", "get")
}
