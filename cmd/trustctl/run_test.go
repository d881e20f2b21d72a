package main

// These tests cover trustctl's argument parsing, request building, output
// formatting, error messages and exit codes. The server is an httptest
// server that replays canned JSON answers: it checks formatting only, not
// the API's behaviour. TestClientAgreesWithServerOnWalkthrough
// (node_test.go) runs trustctl against a real node in-process.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const recordJSON = `{"@type":"PrincipalTrust","trustId":"trust_alice","principalId":"alice","principalType":"user",
"trustScore":64,"trustLevel":"medium","scoreComponents":{"authentication":18,"behavior":15,"compliance":14,"history":13,"context":4},
"authenticationFactors":{"mfa_enabled":true},"behaviorMetrics":{},"complianceStatus":{},"riskIndicators":["new_device"],
"positiveSignals":[{"event":"login_success","category":"authentication","timestamp":"2026-03-01T10:00:00.000Z","impact":2}],
"negativeSignals":[{"event":"policy_violation","category":"compliance","timestamp":"2026-03-01T11:00:00.000Z","impact":-10}],
"trustHistory":[{"timestamp":"2026-03-01T10:00:00.000Z","score":70},{"timestamp":"2026-03-01T11:00:00.000Z","score":64}],
"trustTrend":"decreasing","baseTrustScore":70,"trustModifiers":[],"trustDecayRate":0.005,"trustRecoveryRate":0.1,
"maxTrustScore":100,"minTrustScore":0,"endorsements":[],"federatedTrust":{},"lastAssessmentAt":"2026-03-01T11:00:00.000Z",
"nextAssessmentAt":"2026-03-01T12:00:00.000Z","assessmentFrequency":"hourly",
"trustAlerts":[{"alertId":"al-1","principalId":"alice","type":"sharp_drop","severity":"high","raisedAt":"2026-03-01T11:00:00.000Z","message":"score fell 16 points","status":"open"}],
"requiresReview":true,"isActive":true,"metadata":{"team":"sre"},"orgId":"acme","confidence":40,"trustScoreExact":64.2,
"explanation":{"modelVersion":1,"policyVersion":0,"baseTrustScore":70,"components":{},"evidence":64.2,"decay":0,"modifiers":0,
"local":64.2,"endorsementBonus":0,"federation":0,"exact":64.2,"summary":["evidence 64.2 from baseline 70"]},
"evaluatedAt":"2026-03-01T12:00:00.000Z","ledgerIndex":12}`

const detectionJSON = `{"detectionId":"alt-1","principalId":"alice","type":"anomaly_score","source":"signal","level":"high",` +
	`"state":"acknowledged","holds":false,"detectedAt":"2026-03-01T11:00:00.000Z","eventIds":["e7"],"evidence":"anomaly score 95 on login",` +
	`"transitions":[{"state":"acknowledged","at":"2026-03-01T11:30:00.000Z","by":"analyst-1","reason":"checking"}]}`

// answer is a canned response.
type answer struct {
	status int
	body   string
}

// seen is a request as the fake server received it.
type seen struct {
	method, path, query, auth string
	body                      []byte
}

func fakeServer(t *testing.T, answers map[string]answer) (string, *[]seen) {
	t.Helper()
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), b})
		a, ok := answers[r.Method+" "+r.URL.Path]
		if !ok {
			a = answer{404, `{"type":"https://trustledger.dev/problems/not-found","title":"Not found","status":404,"detail":"no such route"}`}
		}
		if a.status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &got
}

// clientEnv are the environment variables trustctl reads its settings
// from.
var clientEnv = []string{"TRUSTLEDGER_ADDR", "TRUSTLEDGER_TOKEN", "TRUSTLEDGER_TOKEN_FILE", "TRUSTLEDGER_CACERT",
	"TRUSTLEDGER_CLIENT_CERT", "TRUSTLEDGER_CLIENT_KEY"}

// clearEnv makes sure that none of the machine's trustctl settings
// reaches the test. TestMain unset them for the whole test binary, and a
// test that sets one with t.Setenv (never a parallel test) has it undone
// when it ends, so clearEnv only checks; parallel tests may call it.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range clientEnv {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			t.Fatalf("%s=%s is set: trustctl would read it", k, v)
		}
	}
}

// runCLI runs trustctl in-process with a fixed clock.
func runCLI(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	c := newCLI(strings.NewReader(stdin), &out, &errb)
	c.now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	code = c.run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	clearEnv(t)
	signalsFile := filepath.Join(t.TempDir(), "signals.jsonl")
	lines := `{"eventId":"e1","principalId":"alice","event":"login_success","category":"authentication","impact":2}
# a comment, then a blank line

{"eventId":"e2","principalId":"alice","event":"mfa_failed","category":"authentication","impact":-5}
{"eventId":"e3","principalId":"bob","event":"policy_violation","category":"compliance","impact":-10}
`
	if err := os.WriteFile(signalsFile, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	answers := map[string]answer{
		"POST /v1/principals":                          {201, `{"index":5,"record":` + recordJSON + `}`},
		"PATCH /v1/principals/alice":                   {200, `{"index":6,"record":` + recordJSON + `}`},
		"GET /v1/principals/alice":                     {200, recordJSON},
		"GET /v1/principals":                           {200, `{"principals":[` + recordJSON + `],"nextCursor":"YWxpY2U"}`},
		"GET /v1/principals/alice/history":             {200, `{"principalId":"alice","history":[{"timestamp":"2026-03-01T10:00:00.000Z","score":70}]}`},
		"GET /v1/principals/alice/events":              {200, `{"entries":[{"sequence":3,"index":5,"time":"2026-03-01T10:00:00.000Z","kind":"register_principal","actor":"admin-bootstrap","status":"applied","subjects":["alice"]}],"next":3}`},
		"PUT /v1/orgs/acme":                            {201, `{"index":2,"org":{"orgId":"acme","baseTrustScore":70}}`},
		"GET /v1/orgs/acme":                            {200, `{"orgId":"acme","name":"Acme","baseTrustScore":70,"updatedAt":"2026-03-01T09:00:00.000Z"}`},
		"POST /v1/signals":                             {200, `{"index":9,"results":[{"eventId":"e1","status":"accepted"},{"eventId":"e2","status":"duplicate"}]}`},
		"PUT /v1/principals/alice/factors":             {200, `{"index":10,"record":` + recordJSON + `}`},
		"POST /v1/endorsements":                        {200, `{"index":11,"endorsementId":"end-11"}`},
		"POST /v1/principals/alice/modifiers":          {201, `{"index":15,"modifierId":"mod-15","record":` + recordJSON + `}`},
		"DELETE /v1/principals/alice/modifiers/mod-15": {200, `{"index":16,"record":` + recordJSON + `}`},
		"DELETE /v1/endorsements/end-11":               {200, `{"index":12}`},
		"POST /v1/decisions": {200, `{"principalId":"alice","action":"deploy","sensitivity":"high","decision":"step_up","trustScore":64,
			"trustLevel":"medium","requiredAuthentication":"aal2","sessionMaxDuration":14400,"idleTimeout":900,"auditIntensity":"elevated",
			"activatedPermissions":["read","write"],"reasons":[{"code":"below_allow_threshold","message":"trust score 64 is below the high allow threshold 70 but meets step-up 50"}],
			"whatWouldChange":[{"code":"authenticate","message":"authenticate at aal2 to proceed"}],"decisionId":"5f1e0c1a-0000-4000-8000-000000000001","policyVersion":0,"evaluatedAt":"2026-03-01T12:00:00.000Z","ledgerIndex":12}`},
		"POST /v1/simulate": {200, `{"principalId":"alice","before":{"trustScore":70,"trustLevel":"high","scoreComponents":{"authentication":20,"behavior":16,"compliance":15,"history":14,"context":5}},
			"record":` + recordJSON + `,"delta":-6,"signals":[{"eventId":"simulated-0","status":"accepted"}],"factors":{"status":"applied"}}`},
		"GET /v1/alerts":              {200, `{"alerts":[{"alertId":"al-1","principalId":"alice","type":"sharp_drop","severity":"high","raisedAt":"2026-03-01T11:00:00.000Z","message":"score fell 16 points","status":"open"}]}`},
		"POST /v1/alerts/al-1/review": {200, `{"index":13}`},
		"GET /v1/detections":          {200, `{"detections":[` + detectionJSON + `]}`},
		"GET /v1/detections/alt-1":    {200, detectionJSON},
		"POST /v1/detections/alt-1/review": {200, `{"index":18,"detection":` +
			strings.Replace(detectionJSON, `"state":"acknowledged","holds":false`, `"state":"confirmed_compromised","holds":true`, 1) + `}`},
		"GET /v1/policy":          {200, `{"version":0,"caps":{"authentication":25}}`},
		"PUT /v1/policy":          {200, `{"index":14,"changed":true}`},
		"POST /v1/tokens":         {201, `{"id":"tok-1","token":"tl_s3cret"}`},
		"GET /v1/tokens":          {200, `{"tokens":[{"id":"admin-bootstrap","role":"admin","createdAt":"2026-03-01T09:00:00.000Z"}]}`},
		"DELETE /v1/tokens/tok-1": {200, `{"index":15}`},
		"GET /v1/status":          {200, `{"nodeId":"n1","state":"leader","leaderId":"n1","appliedIndex":15,"digest":"ab12","region":"eu-west","sequence":9,"ledgerTime":"2026-03-01T11:59:00.000Z","principals":2,"policyVersion":0,"modelVersion":1,"lastContact":0,"counters":{"Entries":9,"Rejected":1}}`},
		"GET /v1/ledger":          {200, `{"entries":[{"sequence":1,"index":3,"time":"2026-03-01T09:00:00.000Z","kind":"create_token","status":"applied"}],"next":1}`},
		"POST /v1/import":         {201, `{"index":17,"imported":2,"results":[{"principalId":"p1","status":"imported","index":16},{"principalId":"p2","status":"imported","index":17,"warnings":["trustHistory dropped"]}]}`},
	}
	addr, got := fakeServer(t, answers)
	g := []string{"--addr", addr, "--token", "tl_admin"}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		method   string // of the last request; "" when none is expected
		path     string
		query    string
		body     string // JSON the last request must carry; "" to skip
		out, err []string
		requests int // requests expected, when more than one
	}{
		{name: "register", args: []string{"principal", "register", "alice", "--type", "user", "--org", "acme", "--base", "70", "--metadata", `{"team":"sre"}`},
			method: "POST", path: "/v1/principals",
			body: `{"principalId":"alice","principalType":"user","orgId":"acme","baseTrustScore":70,"metadata":{"team":"sre"}}`,
			out:  []string{"Registered alice at index 5.", "Trust score   64 medium", "authentication 18 · behavior 15"}},
		{name: "register inactive, flags before the id", args: []string{"principal", "register", "--type=device", "--inactive", "d1", "--decay-rate", "0.01"},
			method: "POST", path: "/v1/principals", body: `{"principalId":"d1","principalType":"device","trustDecayRate":0.01,"isActive":false}`},
		{name: "update", args: []string{"principal", "update", "alice", "--active=false", "--org", "", "--max", "90"},
			method: "PATCH", path: "/v1/principals/alice", body: `{"orgId":"","maxTrustScore":90,"isActive":false}`,
			out: []string{"Updated alice at index 6."}},
		{name: "get as table", args: []string{"principal", "get", "alice"}, method: "GET", path: "/v1/principals/alice",
			out: []string{"Principal     alice (user, org acme)", "Why:", "policy_violation", "-10", "+2", "al-1", "riskIndicators", `["new_device"]`}},
		{name: "get as json, at an offset, global flags last", args: append([]string{"principal", "get", "alice", "--at", "+2d", "-o", "json", "--consistency", "stale"}, g...),
			method: "GET", path: "/v1/principals/alice", query: "at=2026-03-03T12%3A00%3A00.000Z&consistency=stale",
			out: []string{`"@type": "PrincipalTrust"`, `"trustScoreExact": 64.2`, `"ledgerIndex": 12`}},
		{name: "blocking get", args: []string{"principal", "get", "alice", "--index", "11", "--wait", "30s"},
			method: "GET", path: "/v1/principals/alice", query: "index=11&wait=30s"},
		{name: "list", args: []string{"principal", "list", "--type", "user", "--requires-review"},
			method: "GET", path: "/v1/principals", query: "requiresReview=true&type=user",
			out: []string{"PRINCIPAL  TYPE  ORG   SCORE  LEVEL   TREND       REVIEW  ACTIVE", "alice      user  acme  64     medium  decreasing  yes     yes", "--cursor YWxpY2U"}},
		{name: "history", args: []string{"principal", "history", "alice"}, method: "GET", path: "/v1/principals/alice/history",
			out: []string{"TIMESTAMP", "2026-03-01T10:00:00.000Z  70"}},
		{name: "events", args: []string{"principal", "events", "alice", "--after", "2"}, method: "GET", path: "/v1/principals/alice/events",
			query: "after=2", out: []string{"register_principal", "admin-bootstrap", "--after 3"}},
		{name: "org set", args: []string{"org", "set", "acme", "--base", "70", "--name", "Acme"}, method: "PUT", path: "/v1/orgs/acme",
			body: `{"baseTrustScore":70,"name":"Acme"}`, out: []string{"Organization acme baseline set to 70 at index 2."}},
		{name: "org get", args: []string{"org", "get", "acme"}, method: "GET", path: "/v1/orgs/acme", out: []string{"acme  Acme  70"}},
		{name: "one signal", args: []string{"signal", "send", "alice", "--event", "login_success", "--category", "authentication", "--impact", "+2", "--event-id", "e1"},
			method: "POST", path: "/v1/signals",
			body: `{"signals":[{"eventId":"e1","principalId":"alice","event":"login_success","category":"authentication","impact":2}]}`,
			out:  []string{"e1        alice      login_success  accepted", "1 accepted, 1 duplicate, 0 rejected"}},
		{name: "signal file in batches", args: []string{"signal", "send", "--file", signalsFile, "--batch", "2", "-o", "json"},
			method: "POST", path: "/v1/signals", requests: 2,
			body: `{"signals":[{"eventId":"e3","principalId":"bob","event":"policy_violation","category":"compliance","impact":-10}]}`,
			out:  []string{`"batches": 2`, `"accepted": 2`, `"duplicate": 2`}},
		{name: "signals from stdin", args: []string{"signal", "send", "--file", "-", "--quiet"},
			stdin: `{"principalId":"alice","event":"x","category":"behavior","impact":1}` + "\n", method: "POST", path: "/v1/signals",
			out: []string{"duplicate", "1 accepted, 1 duplicate"}},
		{name: "factors", args: []string{"factors", "set", "alice", "--authentication", `{"mfa_enabled":true}`, "--risk", `["new_device"]`},
			method: "PUT", path: "/v1/principals/alice/factors",
			body: `{"authenticationFactors":{"mfa_enabled":true},"riskIndicators":["new_device"]}`, out: []string{"Factors of alice reported at index 10."}},
		{name: "factors by their API names", args: []string{"factors", "set", "alice", "--authentication-factors", `{"mfa_enabled":true}`,
			"--risk-indicators", `["new_device"]`}, method: "PUT", path: "/v1/principals/alice/factors",
			body: `{"authenticationFactors":{"mfa_enabled":true},"riskIndicators":["new_device"]}`, out: []string{"Factors of alice reported at index 10."}},
		{name: "endorse", args: []string{"endorse", "bob", "alice", "--weight", "3", "--reason", "same team"}, method: "POST", path: "/v1/endorsements",
			body: `{"endorserId":"bob","endorseeId":"alice","weight":3,"reason":"same team"}`, out: []string{"bob endorses alice: endorsement end-11 at index 11."}},
		{name: "endorse revoke", args: []string{"endorse", "revoke", "end-11"}, method: "DELETE", path: "/v1/endorsements/end-11",
			out: []string{"Endorsement end-11 revoked at index 12."}},
		{name: "modifier add", args: []string{"modifier", "add", "alice", "--amount", "-10", "--reason", "investigation", "--expires", "+24h"},
			method: "POST", path: "/v1/principals/alice/modifiers",
			body: `{"amount":-10,"reason":"investigation","expiresAt":"2026-03-02T12:00:00.000Z"}`,
			out:  []string{"Modifier mod-15 (-10 points until 2026-03-02T12:00:00.000Z) on alice at index 15."}},
		{name: "modifier remove", args: []string{"modifier", "remove", "alice", "mod-15"}, method: "DELETE", path: "/v1/principals/alice/modifiers/mod-15",
			out: []string{"Modifier mod-15 removed from alice at index 16."}},
		{name: "decide", args: []string{"decide", "alice", "--action", "deploy", "--sensitivity", "high"}, method: "POST", path: "/v1/decisions",
			body: `{"principalId":"alice","action":"deploy","sensitivity":"high"}`,
			out:  []string{"Decision        STEP_UP", "Session         max 4h, idle timeout 15m", "Permissions     read,write", "authenticate at aal2"}},
		{name: "simulate", args: []string{"simulate", "alice", "--signal", "mfa_failed:authentication:-5", "--at", "+1h", "--factors", `{"riskIndicators":["new_device"]}`},
			method: "POST", path: "/v1/simulate", query: "at=2026-03-01T13%3A00%3A00.000Z",
			body: `{"principalId":"alice","signals":[{"principalId":"alice","event":"mfa_failed","category":"authentication","impact":-5}],"factors":{"riskIndicators":["new_device"]}}`,
			out:  []string{"Simulated — nothing was written.", "before  70     high", "after   64     medium  18", "Change: -6", "simulated-0", "Factor report: applied"}},
		{name: "alerts", args: []string{"alerts", "--status", "open"}, method: "GET", path: "/v1/alerts", query: "status=open",
			out: []string{"al-1   alice      high      sharp_drop  open"}},
		{name: "alerts review", args: []string{"alerts", "review", "al-1", "--action", "confirm-safe", "--note", "travel"},
			method: "POST", path: "/v1/alerts/al-1/review", body: `{"action":"confirm-safe","note":"travel"}`},
		{name: "alerts review by the status it sets", args: []string{"alerts", "review", "al-1", "--action", "confirmed_safe"},
			method: "POST", path: "/v1/alerts/al-1/review", body: `{"action":"confirm-safe"}`},
		{name: "alerts review remediate", args: []string{"alerts", "review", "al-1", "--action", "remediate"},
			method: "POST", path: "/v1/alerts/al-1/review", body: `{"action":"remediate"}`, out: []string{"Alert al-1: remediate recorded at index 13."}},
		{name: "list overdue", args: []string{"principal", "list", "--overdue"}, method: "GET", path: "/v1/principals", query: "overdue=true",
			out: []string{"REVIEW  ACTIVE  OVERDUE", "yes     yes     no"}},
		{name: "list not overdue", args: []string{"principal", "list", "--overdue=false", "--requires-review"}, method: "GET", path: "/v1/principals",
			query: "overdue=false&requiresReview=true"},
		{name: "detections", args: []string{"detections"}, method: "GET", path: "/v1/detections",
			out: []string{"DETECTION  PRINCIPAL  TYPE           SOURCE  LEVEL  STATE         HOLDS  DETECTED", "alt-1      alice      anomaly_score  signal  high   acknowledged  no     2026-03-01T11:00:00.000Z  anomaly score 95 on login"}},
		{name: "detections list with every filter", args: []string{"detections", "list", "--state", "open", "--principal", "alice", "--type", "anomaly_score",
			"--source", "signal", "--consistency", "stale", "-o", "json"}, method: "GET", path: "/v1/detections",
			query: "consistency=stale&principalId=alice&source=signal&state=open&type=anomaly_score",
			out:   []string{`"detections": [`, `"detectionId": "alt-1"`, `"eventIds": [`}},
		{name: "detections get", args: []string{"detections", "get", "alt-1"}, method: "GET", path: "/v1/detections/alt-1",
			out: []string{"Detection    alt-1", "Type         anomaly_score (source signal, level high)", "Events       e7", "Transitions:",
				"  acknowledged  2026-03-01T11:30:00.000Z  analyst-1  checking"}},
		{name: "detections review", args: []string{"detections", "review", "alt-1", "--action", "confirm-compromised", "--reason", "stolen laptop"},
			method: "POST", path: "/v1/detections/alt-1/review", body: `{"action":"confirm-compromised","reason":"stolen laptop"}`,
			out: []string{"Detection alt-1: confirm-compromised recorded at index 18.", "State now confirmed_compromised.",
				"It holds alice's decisions until it is remediated."}},
		{name: "detections review by the state it sets", args: []string{"detections", "review", "alt-1", "--action", "remediated"},
			method: "POST", path: "/v1/detections/alt-1/review", body: `{"action":"remediate"}`},
		{name: "policy get", args: []string{"policy", "get"}, method: "GET", path: "/v1/policy", out: []string{"\"caps\": {\n    \"authentication\": 25"}},
		{name: "policy set from stdin", args: []string{"policy", "set", "-"}, stdin: `{"version":0}`, method: "PUT", path: "/v1/policy",
			body: `{"version":0}`, out: []string{"Policy set at index 14."}},
		{name: "token create", args: []string{"token", "create", "--role", "writer", "--org", "acme,globex", "--description", "hr feed"},
			method: "POST", path: "/v1/tokens", body: `{"role":"writer","orgs":["acme","globex"],"description":"hr feed"}`,
			out: []string{"tl_s3cret", "shown only this once"}},
		{name: "token list", args: []string{"token", "list"}, method: "GET", path: "/v1/tokens", out: []string{"admin-bootstrap  admin"}},
		{name: "token revoke", args: []string{"token", "revoke", "tok-1"}, method: "DELETE", path: "/v1/tokens/tok-1"},
		{name: "status", args: []string{"status"}, method: "GET", path: "/v1/status", out: []string{"State           leader", "Digest          ab12", "policy v0, scoring model v1", "Entries 9, Rejected 1"}},
		{name: "ledger", args: []string{"ledger", "--limit", "5"}, method: "GET", path: "/v1/ledger", query: "limit=5", out: []string{"create_token"}},
		{name: "import", args: []string{"import", "-"}, stdin: `[{"principalId":"p1"},{"principalId":"p2"}]`, method: "POST", path: "/v1/import",
			body: `{"records":[{"principalId":"p1"},{"principalId":"p2"}]}`, out: []string{"p2         imported  17     warnings: trustHistory dropped", "2 of 2 record(s) imported, last at index 17."}},

		{name: "import quietly", args: []string{"import", "-", "--quiet"}, stdin: `[{"principalId":"p1"},{"principalId":"p2"}]`, method: "POST", path: "/v1/import",
			body: `{"records":[{"principalId":"p1"},{"principalId":"p2"}]}`, out: []string{"PRINCIPAL  STATUS  INDEX  REASON\n\n2 of 2 record(s) imported"}},

		{name: "no command", args: nil, code: 2, err: []string{"Usage: trustctl"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, err: []string{`unknown command "frobnicate"`}},
		{name: "missing sub-command", args: []string{"token"}, code: 2, err: []string{"needs a sub-command: create, list, revoke"}},
		{name: "missing id", args: []string{"principal", "get"}, code: 2, err: []string{"missing argument: ID"}},
		{name: "missing type", args: []string{"principal", "register", "x"}, code: 2, err: []string{"--type is required"}},
		{name: "bad number", args: []string{"org", "set", "acme", "--base", "high"}, code: 2, err: []string{`--base: "high" is not a number`}},
		{name: "bad json", args: []string{"factors", "set", "alice", "--risk", `{"a":1}`}, code: 2, err: []string{"--risk: must be a JSON array"}},
		{name: "bad output", args: []string{"status", "-o", "yaml"}, code: 2, err: []string{"--output must be table or json"}},
		{name: "unknown flag", args: []string{"status", "--bogus"}, code: 2, err: []string{"unknown flag: --bogus"}},
		{name: "bad review action", args: []string{"alerts", "review", "al-1", "--action", "ignore"}, code: 2, err: []string{"--action must be"}},
		{name: "bad detection state", args: []string{"detections", "list", "--state", "closed"}, code: 2,
			err: []string{`--state must be open, acknowledged, remediated, dismissed, confirmed_compromised or confirmed_safe, not "closed"`}},
		{name: "bad detection source", args: []string{"detections", "--source", "siem"}, code: 2,
			err: []string{`--source must be rule, signal, partner or import, not "siem"`}},
		{name: "detection review without action", args: []string{"detections", "review", "alt-1"}, code: 2, err: []string{"--action is required"}},
		{name: "bad detection review action", args: []string{"detections", "review", "alt-1", "--action", "ignore"}, code: 2,
			err: []string{`--action must be acknowledge, remediate, dismiss, confirm-compromised or confirm-safe, not "ignore"`}},
		{name: "detection get without id", args: []string{"detections", "get"}, code: 2, err: []string{"missing argument: DETECTION_ID"}},
		{name: "help", args: []string{"help"}, out: []string{"principal register", "signal send", "Exit codes"}},
		{name: "command help", args: []string{"decide", "-h"}, out: []string{"Usage: trustctl decide ID", "\n  --sensitivity low|medium|high|critical\n"}},
		{name: "version", args: []string{"--version"}, out: []string{"trustctl "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(*got)
			args := tt.args
			if len(args) > 0 && args[0] != "help" && !contains(args, "--addr") {
				args = append(append([]string{}, g...), args...)
			}
			code, out, errOut := runCLI(tt.stdin, args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			for _, s := range tt.out {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.err {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			reqs := (*got)[before:]
			if tt.method == "" {
				if len(reqs) != 0 {
					t.Errorf("unexpected requests: %v", reqs)
				}
				return
			}
			want := max(tt.requests, 1)
			if len(reqs) != want {
				t.Fatalf("%d requests, want %d", len(reqs), want)
			}
			last := reqs[len(reqs)-1]
			if last.method != tt.method || last.path != tt.path || last.query != tt.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", last.method, last.path, last.query, tt.method, tt.path, tt.query)
			}
			if last.auth != "Bearer tl_admin" {
				t.Errorf("Authorization %q", last.auth)
			}
			if tt.body != "" {
				assertJSON(t, last.body, tt.body)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("request body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("request body\n got %s\nwant %s", ja, jb)
	}
}

func TestServerErrors(t *testing.T) {
	clearEnv(t)
	problem := func(status int, slug, title, detail, extra string) answer {
		return answer{status, `{"type":"https://trustledger.dev/problems/` + slug + `","title":"` + title + `","status":` +
			itoa(status) + `,"detail":"` + detail + `"` + extra + `}`}
	}
	tests := []struct {
		name string
		ans  answer
		args []string
		want []string
	}{
		{"401", problem(401, "unauthorized", "Authentication required", "the token is not valid", ""),
			[]string{"status"}, []string{"Error: token rejected: the token is not valid — set --token, --token-file or TRUSTLEDGER_TOKEN"}},
		{"403", problem(403, "forbidden", "Forbidden", "a reader token may not call PUT /v1/policy", `,"code":"role"`),
			[]string{"status"}, []string{"permission denied: a reader token may not call PUT /v1/policy"}},
		{"404", problem(404, "not-found", "Not found", `unknown principal \"zed\"`, `,"field":"principalId"`),
			[]string{"status"}, []string{`not found: unknown principal "zed" [field principalId]`}},
		{"400 with several faults", problem(400, "invalid-field", "Invalid field", "signals[0].impact: is required (and 1 more; see errors)",
			`,"field":"signals[0].impact","errors":[{"field":"signals[0].impact","detail":"is required"},{"field":"signals[1].category","detail":"must be one of authentication, behavior"}]`),
			[]string{"status"}, []string{"Invalid field: signals[0].impact: is required", "  - signals[1].category: must be one of", "invalid-field"}},
		{"503", answer{503, `{"type":"https://trustledger.dev/problems/no-leader","title":"No leader","status":503,"detail":"the cluster has no leader"}`},
			[]string{"status"}, []string{"service unavailable: the cluster has no leader"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := fakeServer(t, map[string]answer{"GET /v1/status": tt.ans})
			code, _, errOut := runCLI("", append([]string{"--addr", addr, "--token", "tl_x"}, tt.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestRejectedSignalsExitOne(t *testing.T) {
	clearEnv(t)
	addr, _ := fakeServer(t, map[string]answer{"POST /v1/signals": {200,
		`{"index":4,"results":[{"eventId":"e9","status":"rejected","reason":"observedAt is older than the dedup window"}]}`}})
	code, out, _ := runCLI("", "--addr", addr, "signal", "send", "alice", "--event", "x", "--category", "behavior", "--impact", "-1", "--event-id", "e9")
	if code != 1 || !strings.Contains(out, "Signal e9 (alice x -1): rejected at index 4: observedAt is older than the dedup window.") {
		t.Fatalf("exit %d, stdout:\n%s", code, out)
	}
}

func TestUnreachable(t *testing.T) {
	clearEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	_ = ln.Close()
	code, _, errOut := runCLI("", "--addr", addr, "status")
	want := "Error: cannot reach trustd at " + addr + ": connection refused — is it running? set --addr or TRUSTLEDGER_ADDR"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// A node that is reached but whose TLS does not check out gets advice
// about TLS, not "is it running?": an untrusted certificate names the CA
// flags, https:// to a plain-HTTP port says to use http://, and http:// to
// an HTTPS-only port says to use https://.
func TestTLSHints(t *testing.T) {
	clearEnv(t)
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	for _, c := range []struct{ addr, want string }{
		{tlsSrv.URL, "not signed by a CA this client trusts — pass --ca-cert FILE"},
		{strings.Replace(plain.URL, "http://", "https://", 1), "it answers plain HTTP on that port — use an http:// address"},
		{strings.Replace(tlsSrv.URL, "https://", "http://", 1), "trustd speaks HTTPS on that port — use an https:// address"},
	} {
		code, _, errOut := runCLI("", "--addr", c.addr, "--token", "tl_x", "status")
		if code != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "is it running") {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.addr, code, errOut, c.want)
		}
	}
}

func TestTokenSources(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(file, []byte("tl_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, got := fakeServer(t, map[string]answer{"GET /v1/status": {200, `{"nodeId":"n1","state":"leader"}`}})
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"env addr and token", map[string]string{"TRUSTLEDGER_ADDR": addr, "TRUSTLEDGER_TOKEN": "tl_env"}, nil, "Bearer tl_env"},
		{"token file flag beats env token", map[string]string{"TRUSTLEDGER_ADDR": addr, "TRUSTLEDGER_TOKEN": "tl_env"},
			[]string{"--token-file", file}, "Bearer tl_fromfile"},
		{"token flag beats all", map[string]string{"TRUSTLEDGER_ADDR": addr, "TRUSTLEDGER_TOKEN": "tl_env"},
			[]string{"--token", "tl_flag", "--token-file", file}, "Bearer tl_flag"},
		{"no token", map[string]string{"TRUSTLEDGER_ADDR": addr}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, _, errOut := runCLI("", append(tt.args, "status")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if a := (*got)[len(*got)-1].auth; a != tt.want {
				t.Errorf("Authorization %q, want %q", a, tt.want)
			}
		})
	}
	code, _, errOut := runCLI("", "--addr", addr, "--token-file", filepath.Join(dir, "missing"), "status")
	if code != 1 || !strings.Contains(errOut, "read token file") {
		t.Errorf("missing token file: exit %d, %q", code, errOut)
	}
}

func TestRunUsesRealStreams(t *testing.T) {
	clearEnv(t)
	var out, errb bytes.Buffer
	if code := run([]string{"help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "trustctl") {
		t.Fatalf("run(help) = %d, %q", code, out.String())
	}
}
