package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthReadyAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustJSON("GET", "/healthz", "", nil, http.StatusOK, nil)
	var ready map[string]any
	h.mustJSON("GET", "/readyz", "", nil, http.StatusOK, &ready)
	if ready["status"] != "ready" || ready["leaderId"] != "n1" {
		t.Errorf("readyz: %+v", ready)
	}
	r := h.do("GET", "/v1/nothing", h.admin, nil)
	if p := r.problem(t); r.status != http.StatusNotFound || p.Type != ProblemNotFound.URI() {
		t.Errorf("unknown route: %d %+v", r.status, p)
	}
	r = h.do("DELETE", "/v1/policy", h.admin, nil)
	if p := r.problem(t); r.status != http.StatusMethodNotAllowed || p.Type != ProblemMethodNotAllowed.URI() ||
		r.header.Get("Allow") != "GET, PUT" {
		t.Errorf("wrong method: %d %+v Allow %q", r.status, p, r.header.Get("Allow"))
	}
}

func TestMetricsAndAudit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	h.mustJSON("POST", "/v1/signals", h.token("writer"), signal("m1", "alice", -1), http.StatusOK, nil)
	h.do("GET", "/v1/principals/alice", "tl_wrong", nil)
	h.do("GET", "/v1/policy", h.token("partner"), nil)

	r := h.do("GET", "/metrics", h.token("operator"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	body := string(r.body)
	for _, want := range []string{
		`trustledger_api_requests_total{method="POST",route="/v1/signals",status="200"} 1`,
		`trustledger_api_requests_total{method="GET",route="/v1/principals/{id}",status="401"} 1`,
		`trustledger_api_request_duration_seconds_count{method="POST",route="/v1/signals"} 1`,
		`trustledger_raft_state{state="leader"} 1`,
		`trustledger_raft_has_leader 1`,
		`trustledger_cluster_voters 1`,
		`trustledger_build_info{`,
		`trustledger_ledger_signals_total{status="accepted"} 1`,
		`trustledger_ledger_entries_total{outcome="applied"}`,
		`trustledger_ledger_applied_index`,
		`trustledger_ledger_principals 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	// OCSF API Activity events (class 6003): the operation, the response
	// code, the token and its role, and what OCSF has no attribute for in
	// "unmapped".
	get := func(m map[string]any, path ...string) any {
		var v any = m
		for _, k := range path {
			o, _ := v.(map[string]any)
			v = o[k]
		}
		return v
	}
	find := func(op string, status float64) map[string]any {
		for _, m := range lines {
			if get(m, "api", "operation") == op && get(m, "api", "response", "code") == status {
				return m
			}
		}
		t.Errorf("no audit event for %s %v", op, status)
		return nil
	}
	if m := find("POST /v1/signals", 200); m != nil && (m["class_uid"] != 6003.0 || m["type_uid"] != 600301.0 ||
		m["activity_name"] != "Create" || m["status"] != "Success" || get(m, "actor", "user", "type") != "writer" ||
		get(m, "actor", "user", "uid") == "" || get(m, "unmapped", "principal") != "alice" || get(m, "unmapped", "index") == nil ||
		m["time"] == nil || get(m, "metadata", "version") != "1.3.0" || get(m, "src_endpoint", "ip") != "127.0.0.1" ||
		get(m, "http_request", "url", "path") != "/v1/signals") {
		t.Errorf("signal audit event: %+v", m)
	}
	if m := find("GET /v1/principals/{id}", 401); m != nil && (m["message"] != "authentication failed" || m["status_id"] != 2.0) {
		t.Errorf("401 audit event: %+v", m)
	}
	if m := find("GET /v1/policy", 403); m != nil && (get(m, "actor", "user", "type") != "partner" || m["status"] != "Failure") {
		t.Errorf("403 audit event: %+v", m)
	}
	if strings.Contains(h.audit.String(), "tl_") {
		t.Error("the audit log holds a token secret")
	}
}

// EnsureAdminToken makes the bootstrap token once, with its secret in a
// 0600 file, and never again.
func TestEnsureAdminToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // made the token already
	path := filepath.Join(t.TempDir(), "again.token")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := EnsureAdminToken(ctx, h.node, path)
	if err != nil || created {
		t.Errorf("second call: created=%v err=%v", created, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("second call wrote a file: %v", err)
	}
	toks := h.node.Ledger().Tokens()
	if len(toks) != 1 || toks[0].ID != BootstrapTokenID || toks[0].Role != "admin" {
		t.Errorf("tokens: %+v", toks)
	}
	if !strings.HasPrefix(h.admin, "tl_") || len(h.admin) != 3+43 {
		t.Errorf("secret %d bytes", len(h.admin))
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*"))
	if len(matches) != 0 {
		t.Errorf("left files: %v", matches)
	}
}

func TestEnsureAdminTokenFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "admin.token")
	if err := writeSecret(path, "tl_x"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// Every trust alert a write raises is written to the audit log as its own
// OCSF Detection Finding, for SIEM.
func TestAlertsInAuditLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("bob", "user", "")
	body := map[string]any{"eventId": "a1", "principalId": "bob", "event": "impossible_travel", "category": "context",
		"impact": -20, "attributes": map[string]any{"anomaly_score": 95}}
	h.mustJSON("POST", "/v1/signals", h.token("writer"), body, http.StatusOK, nil)
	types := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if m["class_uid"] == 2004.0 { // OCSF Detection Finding
			fi, _ := m["finding_info"].(map[string]any)
			un, _ := m["unmapped"].(map[string]any)
			res, _ := m["resources"].([]any)
			if fi == nil || fi["uid"] == "" || m["severity"] != "High" || m["severity_id"] != 4.0 || un["index"] == nil ||
				un["principal"] != "bob" || len(res) != 1 || m["type_uid"] != 200401.0 {
				t.Errorf("alert event: %+v", m)
				continue
			}
			types[fi["title"].(string)] = true
		}
	}
	if !types["anomaly_score"] || !types["sharp_drop"] {
		t.Fatalf("alert lines for types %v, want anomaly_score and sharp_drop", types)
	}
}

// The default registry carries the Go runtime and process collectors.
func TestRuntimeMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := h.do("GET", "/metrics", h.token("operator"), nil)
	if r.status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	for _, want := range []string{"go_goroutines ", "go_memstats_heap_alloc_bytes ", "process_resident_memory_bytes "} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Every decision is in the audit log: the API Activity event of POST
// /v1/decisions carries the action, the sensitivity, the decision and its
// reasons.
func TestDecisionsInAuditLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("carol", "user", "")
	body := map[string]any{"principalId": "carol", "action": "deploy", "sensitivity": "critical"}
	h.mustJSON("POST", "/v1/decisions", h.token("reader"), body, http.StatusOK, nil)
	for _, l := range strings.Split(strings.TrimSpace(h.audit.String()), "\n") {
		var m struct {
			API struct {
				Operation string `json:"operation"`
			} `json:"api"`
			Unmapped struct {
				Principal string `json:"principal"`
				Decision  struct {
					DecisionID, Action, Sensitivity, Decision, ContextDigest string
					LedgerIndex                                              uint64
					ReasonCodes                                              []string
					Reasons                                                  []struct{ Code, Message string }
				} `json:"decision"`
			} `json:"unmapped"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if m.API.Operation != "POST /v1/decisions" {
			continue
		}
		d := m.Unmapped.Decision
		if m.Unmapped.Principal != "carol" || d.Action != "deploy" || d.Sensitivity != "critical" || d.Decision == "" ||
			len(d.Reasons) == 0 || d.Reasons[0].Code == "" || len(d.ReasonCodes) != len(d.Reasons) || d.DecisionID == "" ||
			d.LedgerIndex == 0 || !strings.HasPrefix(d.ContextDigest, "sha256:") {
			t.Fatalf("decision audit event: %s", l)
		}
		return
	}
	t.Fatalf("no audit event for the decision:\n%s", h.audit.String())
}

// A live audit stream that falls auditStreamBuffer events behind is
// dropped (its channel closed); the log itself is not held up and loses
// nothing.
func TestAuditStreamDropsSlowSubscriber(t *testing.T) {
	var file strings.Builder
	a := &auditLog{w: &file}
	slow, _ := a.subscribe()
	fast, stop := a.subscribe()
	defer stop()
	for i := range auditStreamBuffer + 10 {
		a.write(map[string]int{"n": i})
		<-fast
	}
	n := 0
	for range slow {
		n++
	}
	if n != auditStreamBuffer {
		t.Errorf("the slow stream got %d events before it was dropped, want %d", n, auditStreamBuffer)
	}
	if got := strings.Count(file.String(), "\n"); got != auditStreamBuffer+10 {
		t.Errorf("the log has %d lines", got)
	}
}
