package client

import (
	"context"
	"encoding/json"
	"errors"
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

// These tests check the client's side of the wire format against a fake
// server: request methods, paths, queries, bodies and headers, and the
// decoding of answers and problems. The client against a real trustd is
// exercised by TestClientAgreesWithServerOnWalkthrough in cmd/trustctl.

// captured is one request as the fake server saw it.
type captured struct {
	Method, Path, RawPath, Query, Auth, ContentType string
	Body                                            []byte
}

// fake starts a server that records each request and answers with status,
// headers and body.
func fake(t *testing.T, status int, header map[string]string, body string) (*Client, *[]captured) {
	t.Helper()
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, captured{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: b})
		for k, v := range header {
			w.Header().Set(k, v)
		}
		if _, ok := header["Content-Type"]; !ok {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Address: srv.URL, Token: "tl_secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c, &got
}

func jsonEq(t *testing.T, got []byte, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("body %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("body\n got %s\nwant %s", ja, jb)
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"", DefaultAddress, false},
		{"127.0.0.1:8470", "http://127.0.0.1:8470", false},
		{"http://node1:8470/", "http://node1:8470", false},
		{"https://trust.example.com/prefix/", "https://trust.example.com/prefix", false},
		{"ftp://node1", "", true},
		{"http://", "", true},
		{"http://node1:8470/?x=1", "", true},
	}
	for _, tt := range tests {
		u, err := ParseAddress(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseAddress(%q) = %v, want an error", tt.in, u)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
		}
	}
}

func TestDefaultConfigFromEnvironment(t *testing.T) {
	t.Setenv(EnvAddr, "http://10.1.2.3:9000")
	t.Setenv(EnvToken, "tl_abc")
	t.Setenv(EnvTokenFile, "")
	cfg := DefaultConfig()
	if cfg.Address != "http://10.1.2.3:9000" || cfg.Token != "tl_abc" {
		t.Fatalf("DefaultConfig() = %+v", cfg)
	}
	t.Setenv(EnvAddr, "")
	if got := DefaultConfig().Address; got != DefaultAddress {
		t.Fatalf("address without env = %q, want %q", got, DefaultAddress)
	}
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(path, []byte("tl_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{TokenFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "tl_fromfile" {
		t.Fatalf("token = %q", c.token)
	}
	c, err = New(Config{Token: "tl_explicit", TokenFile: path})
	if err != nil || c.token != "tl_explicit" {
		t.Fatalf("explicit token should win: %q, %v", c.token, err)
	}
	if _, err := New(Config{TokenFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("missing token file: want an error")
	}
}

func TestRegisterPrincipalSendsNumbersAsJSONNumbers(t *testing.T) {
	c, got := fake(t, http.StatusCreated, nil,
		`{"index":7,"record":{"@type":"PrincipalTrust","principalId":"alice","trustScore":72,"trustLevel":"high","baseTrustScore":72.5}}`)
	active := true
	res, err := c.RegisterPrincipal(context.Background(), Registration{
		PrincipalID: "alice", PrincipalType: "user", OrgID: "acme",
		BaseTrustScore: "72.5", TrustDecayRate: "0.005", IsActive: &active, Metadata: json.RawMessage(`{"team":"sre"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := (*got)[0]
	if r.Method != "POST" || r.Path != "/v1/principals" || r.Auth != "Bearer tl_secret" || r.ContentType != "application/json" {
		t.Fatalf("request = %+v", r)
	}
	jsonEq(t, r.Body, `{"principalId":"alice","principalType":"user","orgId":"acme","baseTrustScore":72.5,
		"trustDecayRate":0.005,"isActive":true,"metadata":{"team":"sre"}}`)
	if res.Index != 7 || res.Record.PrincipalID != "alice" || res.Record.TrustScore != 72 || res.Record.BaseTrustScore != "72.5" {
		t.Fatalf("result = %+v %+v", res, res.Record)
	}
}

func TestGetPrincipalOptionsAndMeta(t *testing.T) {
	c, got := fake(t, http.StatusOK, map[string]string{
		"X-Trust-Index": "42", "X-Trust-Known-Leader": "true", "X-Trust-Last-Contact": "15",
	}, `{"@type":"PrincipalTrust","principalId":"svc/a b","scoreComponents":{"authentication":20,"behavior":18,"compliance":15,"history":10,"context":5}}`)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	rec, meta, err := c.GetPrincipal(context.Background(), "svc/a b", &ReadOptions{
		Consistency: ConsistencyStale, At: at, WaitIndex: 41, WaitTime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := (*got)[0]
	if r.RawPath != "/v1/principals/svc%2Fa%20b" {
		t.Errorf("escaped path = %q", r.RawPath)
	}
	if r.Query != "at=2026-03-01T11%3A00%3A00.000Z&consistency=stale&index=41&wait=30s" {
		t.Errorf("query = %q", r.Query)
	}
	if meta.Index != 42 || !meta.KnownLeader || meta.LastContact != 15*time.Millisecond {
		t.Errorf("meta = %+v", meta)
	}
	if rec.ScoreComponents.Sum() != 68 {
		t.Errorf("components = %+v", rec.ScoreComponents)
	}
}

func TestListPrincipalsQuery(t *testing.T) {
	c, got := fake(t, http.StatusOK, nil, `{"principals":[{"principalId":"a"},{"principalId":"b"}],"nextCursor":"b"}`)
	review := true
	page, _, err := c.ListPrincipals(context.Background(), ListFilter{Type: "user", Level: "low", OrgID: "acme",
		RequiresReview: &review, Limit: 2, Cursor: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q := (*got)[0].Query; q != "cursor=0&level=low&limit=2&orgId=acme&requiresReview=true&type=user" {
		t.Errorf("query = %q", q)
	}
	if len(page.Principals) != 2 || page.NextCursor != "b" {
		t.Errorf("page = %+v", page)
	}
}

func TestListPrincipalsOverdue(t *testing.T) {
	for _, overdue := range []bool{true, false} {
		c, got := fake(t, http.StatusOK, nil, `{"principals":[],"nextCursor":""}`)
		if _, _, err := c.ListPrincipals(context.Background(), ListFilter{Overdue: &overdue}, nil); err != nil {
			t.Fatal(err)
		}
		if q, want := (*got)[0].Query, "overdue="+map[bool]string{true: "true", false: "false"}[overdue]; q != want {
			t.Errorf("query = %q, want %q", q, want)
		}
	}
}

func TestDetections(t *testing.T) {
	ctx := context.Background()
	c, _ := fake(t, http.StatusOK, nil, `{"detections":[{"detectionId":"alt-1","principalId":"alice","type":"anomaly_score",
		"source":"signal","level":"high","state":"confirmed_compromised","detectedAt":"2026-03-01T11:00:00.000Z","eventIds":["e7"],
		"evidence":"anomaly score 95","holds":true,"transitions":[{"state":"confirmed_compromised","at":"2026-03-01T11:30:00.000Z","by":"an-1","reason":"laptop"}]}]}`)
	ds, _, err := c.Detections(ctx, DetectionFilter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].DetectionID != "alt-1" || ds[0].State != DetectionConfirmedCompromised || !ds[0].Holds ||
		len(ds[0].Transitions) != 1 || ds[0].Transitions[0].Reason != "laptop" || ds[0].EventIDs[0] != "e7" {
		t.Errorf("detections = %+v", ds)
	}

	c, _ = fake(t, http.StatusNotFound, map[string]string{"Content-Type": "application/problem+json"},
		`{"type":"https://trustledger.dev/problems/not-found","title":"Not found","status":404,"detail":"unknown detection \"x\"","field":"detectionId"}`)
	if _, _, err := c.Detection(ctx, "x", nil); !IsNotFound(err) {
		t.Errorf("an unknown detection: %v", err)
	}

	c, _ = fake(t, http.StatusConflict, map[string]string{"Content-Type": "application/problem+json"},
		`{"type":"https://trustledger.dev/problems/conflict","title":"Conflict","status":409,"detail":"detection alt-1 is remediated: dismiss is not allowed from it","field":"action"}`)
	_, err = c.ReviewDetection(ctx, "alt-1", ReviewDismiss, "")
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusConflict || pe.Problem.Field != "action" ||
		!strings.Contains(pe.Problem.Detail, "dismiss is not allowed") {
		t.Errorf("a refused review: %v", err)
	}

	c, _ = fake(t, http.StatusOK, nil, `{"index":9,"detection":{"detectionId":"alt-1","state":"acknowledged","transitions":[]}}`)
	res, err := c.ReviewDetection(ctx, "alt-1", ReviewAcknowledge, "")
	if err != nil || res.Index != 9 || res.Detection == nil || res.Detection.State != DetectionAcknowledged {
		t.Errorf("review = %+v, %v", res, err)
	}
}

func TestReviewActionFor(t *testing.T) {
	for status, want := range map[string]string{DetectionAcknowledged: ReviewAcknowledge, DetectionRemediated: ReviewRemediate,
		DetectionDismissed: ReviewDismiss, DetectionConfirmedCompromised: ReviewConfirmCompromised, DetectionConfirmedSafe: ReviewConfirmSafe} {
		if got, ok := ReviewActionFor(status); !ok || got != want {
			t.Errorf("ReviewActionFor(%q) = %q, %v; want %q", status, got, ok, want)
		}
	}
	if _, ok := ReviewActionFor(DetectionOpen); ok {
		t.Error("no review sets open")
	}
}

func TestSendSignals(t *testing.T) {
	c, got := fake(t, http.StatusOK, nil, `{"index":9,"results":[{"eventId":"e1","status":"accepted"},
		{"eventId":"e2","status":"duplicate"},{"eventId":"e3","status":"rejected","reason":"unknown principal"}]}`)
	res, err := c.SendSignals(context.Background(), []Signal{
		{EventID: "e1", PrincipalID: "alice", Event: "login_success", Category: CategoryAuthentication, Impact: "2"},
		{EventID: "e2", PrincipalID: "alice", Event: "mfa_failed", Category: CategoryAuthentication, Impact: "-10",
			ObservedAt: "2026-03-01T12:00:00Z", Attributes: json.RawMessage(`{"ip":"10.0.0.1"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, (*got)[0].Body, `{"signals":[
		{"eventId":"e1","principalId":"alice","event":"login_success","category":"authentication","impact":2},
		{"eventId":"e2","principalId":"alice","event":"mfa_failed","category":"authentication","impact":-10,
		 "observedAt":"2026-03-01T12:00:00Z","attributes":{"ip":"10.0.0.1"}}]}`)
	a, d, r := res.Counts()
	if res.Index != 9 || a != 1 || d != 1 || r != 1 || res.Results[2].Reason != "unknown principal" {
		t.Errorf("result = %+v", res)
	}
}

func TestWritesUseTheRightRoutes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name         string
		call         func(c *Client) error
		method, path string
		body         string // "" when no body is expected
	}{
		{"update", func(c *Client) error {
			org := ""
			_, err := c.UpdatePrincipal(ctx, "alice", PrincipalUpdate{OrgID: &org, MaxTrustScore: "90"})
			return err
		}, "PATCH", "/v1/principals/alice", `{"orgId":"","maxTrustScore":90}`},
		{"org", func(c *Client) error {
			_, err := c.PutOrg(ctx, "acme", OrgSpec{BaseTrustScore: "70", Name: "Acme"})
			return err
		}, "PUT", "/v1/orgs/acme", `{"baseTrustScore":70,"name":"Acme"}`},
		{"factors", func(c *Client) error {
			_, err := c.SetFactors(ctx, "alice", Factors{AuthenticationFactors: json.RawMessage(`{"mfa_enabled":true}`),
				RiskIndicators: json.RawMessage(`["new_device"]`)})
			return err
		}, "PUT", "/v1/principals/alice/factors", `{"authenticationFactors":{"mfa_enabled":true},"riskIndicators":["new_device"]}`},
		{"endorse", func(c *Client) error {
			_, err := c.Endorse(ctx, EndorsementRequest{EndorserID: "bob", EndorseeID: "alice", Weight: "3"})
			return err
		}, "POST", "/v1/endorsements", `{"endorserId":"bob","endorseeId":"alice","weight":3}`},
		{"unendorse", func(c *Client) error { _, err := c.RevokeEndorsement(ctx, "end-1"); return err },
			"DELETE", "/v1/endorsements/end-1", ""},
		{"decide", func(c *Client) error {
			_, _, err := c.Decide(ctx, DecisionRequest{PrincipalID: "alice", Action: "read", Sensitivity: "high"}, nil)
			return err
		}, "POST", "/v1/decisions", `{"principalId":"alice","action":"read","sensitivity":"high"}`},
		{"simulate", func(c *Client) error {
			_, _, err := c.Simulate(ctx, SimulateRequest{PrincipalID: "alice", Signals: []Signal{{PrincipalID: "alice",
				Event: "e", Category: "behavior", Impact: "-5"}}}, nil)
			return err
		}, "POST", "/v1/simulate", `{"principalId":"alice","signals":[{"principalId":"alice","event":"e","category":"behavior","impact":-5}]}`},
		{"review", func(c *Client) error {
			_, err := c.ReviewAlert(ctx, "al-1", Review{Action: ReviewConfirmSafe, Note: "checked"})
			return err
		}, "POST", "/v1/alerts/al-1/review", `{"action":"confirm-safe","note":"checked"}`},
		{"review remediate", func(c *Client) error {
			_, err := c.ReviewAlert(ctx, "al-1", Review{Action: ReviewRemediate})
			return err
		}, "POST", "/v1/alerts/al-1/review", `{"action":"remediate"}`},
		{"review detection", func(c *Client) error {
			_, err := c.ReviewDetection(ctx, "alt/1", ReviewConfirmCompromised, "stolen laptop")
			return err
		}, "POST", "/v1/detections/alt%2F1/review", `{"action":"confirm-compromised","reason":"stolen laptop"}`},
		{"review detection without a reason", func(c *Client) error {
			_, err := c.ReviewDetection(ctx, "alt-1", ReviewAcknowledge, "")
			return err
		}, "POST", "/v1/detections/alt-1/review", `{"action":"acknowledge"}`},
		{"policy", func(c *Client) error { _, err := c.SetPolicy(ctx, json.RawMessage(`{"caps":{}}`)); return err },
			"PUT", "/v1/policy", `{"caps":{}}`},
		{"token", func(c *Client) error {
			_, err := c.CreateToken(ctx, TokenRequest{Role: RoleWriter, Orgs: []string{"acme"}})
			return err
		}, "POST", "/v1/tokens", `{"role":"writer","orgs":["acme"]}`},
		{"revoke token", func(c *Client) error { _, err := c.RevokeToken(ctx, "tok-1"); return err },
			"DELETE", "/v1/tokens/tok-1", ""},
		{"partner", func(c *Client) error {
			_, err := c.PutPartner(ctx, "idp", PartnerSpec{Issuer: "https://idp.example", Audience: "trustledger",
				JWKS: json.RawMessage(`{"keys":[]}`), Weight: "0.5", MaxInfluence: "10"})
			return err
		}, "PUT", "/v1/federation/partners/idp",
			`{"issuer":"https://idp.example","audience":"trustledger","jwks":{"keys":[]},"weight":0.5,"maxInfluence":10}`},
		{"remove partner", func(c *Client) error { _, err := c.RemovePartner(ctx, "idp"); return err },
			"DELETE", "/v1/federation/partners/idp", ""},
		{"import", func(c *Client) error {
			_, err := c.Import(ctx, []json.RawMessage{json.RawMessage(`{"principalId":"p1"}`)})
			return err
		}, "POST", "/v1/import", `{"records":[{"principalId":"p1"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fake(t, http.StatusOK, nil, `{"index":3}`)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := (*got)[0]
			if r.Method != tt.method || r.RawPath != tt.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			if tt.body == "" {
				if len(r.Body) != 0 {
					t.Errorf("unexpected body %s", r.Body)
				}
				return
			}
			jsonEq(t, r.Body, tt.body)
		})
	}
}

func TestReadsUseTheRightRoutes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, path, query string
		call              func(c *Client) error
	}{
		{"history", "/v1/principals/alice/history", "", func(c *Client) error { _, _, err := c.History(ctx, "alice", nil); return err }},
		{"events", "/v1/principals/alice/events", "after=5&limit=10", func(c *Client) error {
			_, _, err := c.Events(ctx, "alice", Page{After: 5, Limit: 10}, nil)
			return err
		}},
		{"org", "/v1/orgs/acme", "", func(c *Client) error { _, _, err := c.GetOrg(ctx, "acme", nil); return err }},
		{"alerts", "/v1/alerts", "principalId=alice&status=open", func(c *Client) error {
			_, _, err := c.Alerts(ctx, AlertFilter{Status: "open", PrincipalID: "alice"}, nil)
			return err
		}},
		{"detections", "/v1/detections", "principalId=alice&source=signal&state=open&type=anomaly_score", func(c *Client) error {
			_, _, err := c.Detections(ctx, DetectionFilter{State: DetectionOpen, PrincipalID: "alice", Type: "anomaly_score", Source: SourceSignal}, nil)
			return err
		}},
		{"detection", "/v1/detections/alt-1", "consistency=stale", func(c *Client) error {
			_, _, err := c.Detection(ctx, "alt-1", &ReadOptions{Consistency: ConsistencyStale})
			return err
		}},
		{"policy", "/v1/policy", "consistency=linearizable", func(c *Client) error {
			_, _, err := c.GetPolicy(ctx, &ReadOptions{Consistency: ConsistencyLinearizable})
			return err
		}},
		{"tokens", "/v1/tokens", "", func(c *Client) error { _, err := c.ListTokens(ctx); return err }},
		{"partners", "/v1/federation/partners", "", func(c *Client) error { _, _, err := c.ListPartners(ctx, nil); return err }},
		{"partner", "/v1/federation/partners/idp", "", func(c *Client) error { _, _, err := c.GetPartner(ctx, "idp", nil); return err }},
		{"endorsement", "/v1/endorsements/end-1", "at=2026-01-02T03%3A04%3A05.000Z", func(c *Client) error {
			_, _, err := c.GetEndorsement(ctx, "end-1", &ReadOptions{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
			return err
		}},
		{"status", "/v1/status", "", func(c *Client) error { _, _, err := c.Status(ctx); return err }},
		{"ledger", "/v1/ledger", "after=100&limit=50", func(c *Client) error {
			_, _, err := c.Ledger(ctx, Page{After: 100, Limit: 50}, nil)
			return err
		}},
		{"health", "/healthz", "", func(c *Client) error { return c.Health(ctx) }},
		{"ready", "/readyz", "", func(c *Client) error { return c.Ready(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fake(t, http.StatusOK, nil, `{}`)
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			r := (*got)[0]
			if r.Method != "GET" || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("request %s %s?%s, want GET %s?%s", r.Method, r.Path, r.Query, tt.path, tt.query)
			}
		})
	}
}

func TestProblemIsTypedError(t *testing.T) {
	c, _ := fake(t, http.StatusBadRequest, map[string]string{"Content-Type": "application/problem+json"},
		`{"type":"https://trustledger.dev/problems/invalid","title":"Invalid input","status":400,
		  "detail":"must be one of user, service, device, application, network","field":"principalType"}`)
	_, err := c.RegisterPrincipal(context.Background(), Registration{PrincipalID: "x", PrincipalType: "robot"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want *Error", err, err)
	}
	if e.StatusCode != 400 || e.Problem.Field != "principalType" || e.Problem.Type != "https://trustledger.dev/problems/invalid" {
		t.Errorf("problem = %+v", e)
	}
	want := "POST /v1/principals: 400 Invalid input: must be one of user, service, device, application, network (field principalType)"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
}

func TestNonProblemErrorAndRetryAfter(t *testing.T) {
	c, _ := fake(t, http.StatusServiceUnavailable, map[string]string{"Content-Type": "text/plain", "Retry-After": "2"},
		"no leader\n")
	_, _, err := c.Status(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 503 || e.RetryAfter != 2*time.Second || e.Problem.Detail != "no leader" {
		t.Fatalf("error = %#v", err)
	}
	if IsNotFound(err) || StatusCode(err) != 503 {
		t.Errorf("helpers disagree on %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	c, err := New(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Status(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %T %v, want *UnreachableError", err, err)
	}
	if ue.Reason() != "connection refused" || !strings.Contains(err.Error(), addr+" is unreachable") {
		t.Errorf("message %q, reason %q", err, ue.Reason())
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers
	}))
	defer srv.Close()
	c, err := New(Config{Address: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Status(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer from trustd") {
		t.Fatalf("error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err = c.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: error = %v", err)
	}
}

func TestDoRaw(t *testing.T) {
	c, got := fake(t, http.StatusOK, nil, `{"members":[]}`)
	var out json.RawMessage
	if _, err := c.Do(context.Background(), "GET", "/v1/cluster", nil, nil, &out); err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"members":[]}` || (*got)[0].Path != "/v1/cluster" {
		t.Errorf("out = %s", out)
	}
}
