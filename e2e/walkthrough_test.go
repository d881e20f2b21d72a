package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// recordProperties are the 29 properties of a PrincipalTrust record
// (docs/architecture.md, "The trust record").
var recordProperties = []string{"trustId", "principalId", "principalType", "trustScore", "trustLevel",
	"scoreComponents", "authenticationFactors", "behaviorMetrics", "complianceStatus", "riskIndicators",
	"positiveSignals", "negativeSignals", "trustHistory", "trustTrend", "baseTrustScore", "trustModifiers",
	"trustDecayRate", "trustRecoveryRate", "maxTrustScore", "minTrustScore", "endorsements", "federatedTrust",
	"lastAssessmentAt", "nextAssessmentAt", "assessmentFrequency", "trustAlerts", "requiresReview", "isActive",
	"metadata"}

// ctl runs the trustctl binary against one node, with the address and
// token in the environment as the README sets them.
type ctl struct {
	t   *testing.T
	env []string
}

// ok runs trustctl and fails the test unless it exits 0.
func (c ctl) ok(args ...string) string {
	c.t.Helper()
	r := runCtl(c.t, c.env, args...)
	if r.code != 0 {
		c.t.Fatalf("trustctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// table runs a command with the default output and checks that the output
// holds each of want.
func (c ctl) table(want []string, args ...string) string {
	c.t.Helper()
	out := c.ok(args...)
	for _, w := range want {
		if !strings.Contains(out, w) {
			c.t.Fatalf("trustctl %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// json runs a command with -o json and decodes its output into v.
func (c ctl) json(v any, args ...string) {
	c.t.Helper()
	args = append(args, "-o", "json")
	out := c.ok(args...)
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil || dec.More() {
		c.t.Fatalf("trustctl %s: output is not one JSON value (%v):\n%s", strings.Join(args, " "), err, out)
	}
}

// TestWalkthroughWithTrustctl runs the README's walkthrough with the
// trustctl binary against a trustd process:
// once with tables, checking what the README shows, and once with -o json
// on another principal, checking that every command prints JSON.
func TestWalkthroughWithTrustctl(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	c := ctl{t: t, env: []string{"TRUSTLEDGER_ADDR=" + n.url(), "TRUSTLEDGER_TOKEN=" + n.token}}

	c.table([]string{"Node", "leader", "Digest"}, "status")
	c.table([]string{"acme", "70"}, "org", "set", "acme", "--base", "70", "--name", "Acme Corp")
	c.table([]string{"Registered alice at index", "Trust score   70 high"}, "principal", "register", "alice", "--type", "user", "--org", "acme")
	c.table([]string{"alice"}, "factors", "set", "alice",
		"--authentication", `{"mfa_enabled": true, "mfa_type": "hardware_token"}`, "--compliance", `{"training_completed": true}`)
	sig := []string{"signal", "send", "alice", "--event", "login_success", "--category", "authentication", "--impact", "2", "--event-id", "evt-001"}
	c.table([]string{"Signal evt-001 (alice login_success +2): accepted at index"}, sig...)
	c.table([]string{"Signal evt-001 (alice login_success +2): duplicate at index"}, sig...)
	c.table([]string{"Principal", "alice (user, org acme)", "Trust score"}, "principal", "get", "alice")

	var raw map[string]json.RawMessage
	c.json(&raw, "principal", "get", "alice")
	for _, p := range append(recordProperties, "@type", "confidence", "explanation", "evaluatedAt", "ledgerIndex") {
		if _, ok := raw[p]; !ok {
			t.Errorf("principal get alice -o json: no %q", p)
		}
	}
	if string(raw["@type"]) != `"PrincipalTrust"` || string(raw["trustScore"]) != "78" {
		t.Errorf("alice before the violations: @type %s, trustScore %s; the README shows PrincipalTrust, 78", raw["@type"], raw["trustScore"])
	}

	c.table([]string{"Decision        ALLOW", "alice: score 78 (high)", "aal2", "max 8h, idle timeout 30m"},
		"decide", "alice", "--action", "read_sensitive")
	for range 3 {
		c.table([]string{"alice policy_violation -8", "accepted at index"},
			"signal", "send", "alice", "--event", "policy_violation", "--category", "compliance", "--impact", "-8")
	}
	c.table([]string{"Trust score   42 low", "trend decreasing"}, "principal", "get", "alice")
	alerts := c.table([]string{"ALERT", "alice", "high", "sharp_drop", "open", "score fell 16 points on policy_violation"}, "alerts")
	c.table([]string{"Decision        DENY", "alice: score 42 (low)", "aal3", "max 1h, idle timeout 10m", "full"},
		"decide", "alice", "--action", "read_sensitive")

	c.table([]string{"accepted"}, "signal", "send", "alice", "--event", "security_training", "--category", "compliance", "--impact", "5")
	c.table([]string{"Trust score   42 low"}, "principal", "get", "alice")
	c.table([]string{"before", "after", "Change: +"}, "simulate", "alice", "--signal", "security_training:compliance:5", "--at", "+48h")
	c.table([]string{"SCORE"}, "principal", "history", "alice")

	alertID := strings.Fields(lines(alerts)[1])[0]
	c.table([]string{"Alert " + alertID + ": confirm-safe recorded at index"},
		"alerts", "review", alertID, "--action", "confirm-safe", "--note", "verified with the user")

	walkthroughJSON(t, c)
}

// walkthroughJSON runs the walkthrough's commands with -o json, on
// principal bob, and checks the key fields of each answer.
func walkthroughJSON(t *testing.T, c ctl) {
	var status struct {
		NodeID, State, Digest string
		AppliedIndex          uint64
	}
	c.json(&status, "status")
	if status.State != "leader" || status.Digest == "" || status.AppliedIndex == 0 {
		t.Errorf("status -o json: %+v", status)
	}
	var org struct{ Index uint64 }
	c.json(&org, "org", "set", "acme", "--base", "70", "--name", "Acme Corp")
	if org.Index == 0 {
		t.Errorf("org set -o json: no index")
	}
	var reg struct {
		Index  uint64
		Record struct{ TrustScore int }
	}
	c.json(&reg, "principal", "register", "bob", "--type", "user", "--org", "acme")
	if reg.Index == 0 || reg.Record.TrustScore != 70 {
		t.Errorf("principal register -o json: %+v", reg)
	}
	var factors struct{ Index uint64 }
	c.json(&factors, "factors", "set", "bob", "--authentication", `{"mfa_enabled": true, "mfa_type": "hardware_token"}`,
		"--compliance", `{"training_completed": true}`)
	if factors.Index == 0 {
		t.Errorf("factors set -o json: no index")
	}
	type sendResult struct {
		Index                         uint64
		Accepted, Duplicate, Rejected int
		Results                       []struct{ EventID, Status string }
	}
	for i, want := range []string{"accepted", "duplicate"} {
		var s sendResult
		c.json(&s, "signal", "send", "bob", "--event", "login_success", "--category", "authentication", "--impact", "2", "--event-id", "bob-evt-001")
		if len(s.Results) != 1 || s.Results[0].Status != want || s.Results[0].EventID != "bob-evt-001" {
			t.Errorf("signal send #%d -o json: %+v, want %s", i+1, s, want)
		}
	}
	type decision struct {
		Decision, TrustLevel, RequiredAuthentication string
		TrustScore                                   int
	}
	var d decision
	c.json(&d, "decide", "bob", "--action", "read_sensitive")
	if d.Decision != "allow" || d.TrustScore != 78 {
		t.Errorf("decide -o json before the violations: %+v", d)
	}
	for i := range 3 {
		var s sendResult
		c.json(&s, "signal", "send", "bob", "--event", "policy_violation", "--category", "compliance", "--impact", "-8",
			"--event-id", fmt.Sprintf("bob-violation-%d", i+1))
		if s.Accepted != 1 {
			t.Errorf("violation %d -o json: %+v", i+1, s)
		}
	}
	var rec map[string]json.RawMessage
	c.json(&rec, "principal", "get", "bob")
	if len(rec) < len(recordProperties) || string(rec["trustScore"]) != "42" || string(rec["requiresReview"]) != "true" {
		t.Errorf("principal get bob -o json after the violations: trustScore %s requiresReview %s (%d properties)",
			rec["trustScore"], rec["requiresReview"], len(rec))
	}
	var alerts struct {
		Alerts []struct{ AlertID, PrincipalID, Type, Status string }
	}
	c.json(&alerts, "alerts", "--principal", "bob")
	// Five violations within minutes: one of them a sharp drop, and all of
	// them together a cumulative drop of 28 points within the day.
	if len(alerts.Alerts) != 2 || alerts.Alerts[0].Type != "sharp_drop" || alerts.Alerts[1].Type != "cumulative_drop" ||
		alerts.Alerts[0].Status != "open" || alerts.Alerts[1].Status != "open" {
		t.Fatalf("alerts -o json: %+v", alerts)
	}
	c.json(&d, "decide", "bob", "--action", "read_sensitive")
	if d.Decision != "deny" || d.RequiredAuthentication != "aal3" {
		t.Errorf("decide -o json after the violations: %+v", d)
	}
	var sim struct{ Delta int }
	c.json(&sim, "simulate", "bob", "--signal", "security_training:compliance:5", "--at", "+48h")
	if sim.Delta <= 0 || sim.Delta > 5 {
		t.Errorf("simulate -o json: delta %d, want within 1..5", sim.Delta)
	}
	var hist struct{ History []json.RawMessage }
	c.json(&hist, "principal", "history", "bob")
	if len(hist.History) == 0 {
		t.Errorf("principal history -o json: empty")
	}
	var review struct {
		Index uint64
		Alert *struct{ Status string }
	}
	c.json(&review, "alerts", "review", alerts.Alerts[0].AlertID, "--action", "confirm-safe", "--note", "verified with the user")
	if review.Index == 0 {
		t.Errorf("alerts review -o json: %+v", review)
	}
	var ledger struct{ Entries []json.RawMessage }
	c.json(&ledger, "ledger", "--limit", "5")
	if len(ledger.Entries) != 5 {
		t.Errorf("ledger --limit 5 -o json: %d entries", len(ledger.Entries))
	}
}

// TestTrustctlErrors checks that trustctl says clearly what went wrong
// when trustd is unreachable or the token is wrong, with exit code 1, and
// exit code 2 for a usage error.
func TestTrustctlErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	closed := "http://" + freePorts(t, 1)[0]

	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stderr []string
	}{
		{"unreachable", []string{"TRUSTLEDGER_TOKEN=" + n.token}, []string{"--addr", closed, "status"}, 1,
			[]string{"cannot reach trustd at " + closed, "connection refused", "TRUSTLEDGER_ADDR"}},
		{"unreachable json", []string{"TRUSTLEDGER_ADDR=" + closed, "TRUSTLEDGER_TOKEN=" + n.token}, []string{"principal", "get", "alice", "-o", "json"}, 1,
			[]string{"cannot reach trustd at " + closed}},
		{"wrong token", []string{"TRUSTLEDGER_ADDR=" + n.url()}, []string{"--token", "tl_not-a-real-token", "status"}, 1,
			[]string{"token rejected", "401", "TRUSTLEDGER_TOKEN"}},
		{"wrong token in env", []string{"TRUSTLEDGER_ADDR=" + n.url(), "TRUSTLEDGER_TOKEN=wrong"}, []string{"principal", "list"}, 1,
			[]string{"token rejected", "401"}},
		{"no token", []string{"TRUSTLEDGER_ADDR=" + n.url()}, []string{"status"}, 1,
			[]string{"no token given", "401"}},
		{"usage", []string{"TRUSTLEDGER_ADDR=" + n.url(), "TRUSTLEDGER_TOKEN=" + n.token}, []string{"decide", "alice"}, 2,
			[]string{"--action is required"}},
	}
	for _, tc := range cases {
		r := runCtl(t, tc.env, tc.args...)
		if r.code != tc.code {
			t.Errorf("%s: trustctl %s: exit %d, want %d\n%s", tc.name, strings.Join(tc.args, " "), r.code, tc.code, r.stderr)
		}
		for _, w := range tc.stderr {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: trustctl %s: stderr lacks %q:\n%s", tc.name, strings.Join(tc.args, " "), w, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "goroutine ") || r.stdout != "" {
			t.Errorf("%s: unexpected output:\nstdout: %s\nstderr: %s", tc.name, r.stdout, r.stderr)
		}
	}
}
