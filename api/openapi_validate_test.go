package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/internal/pki"
)

// loadSpec loads docs/openapi.yaml with kin-openapi and validates it as an
// OpenAPI document.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatalf("load docs/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// docs/openapi.yaml is a valid OpenAPI document, as kin-openapi reads it.
func TestOpenAPIValidates(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
}

// specValidator validates every exchange of the clients it wraps
// (validatingTransport) against docs/openapi.yaml with kin-openapi's
// openapi3filter: the request (parameters, body), and the response (a
// documented status, the headers declared for it, the JSON body against
// its schema, and no property the schema does not declare). A request the
// document refuses must be refused by the server too. It records which
// operations it validated, with which statuses and headers.
type specValidator struct {
	t      *testing.T
	router routers.Router

	mu sync.Mutex
	// seen maps "METHOD /pattern" to the statuses validated.
	seen map[string][]int
	// headersSeen maps "METHOD /pattern STATUS" to the response headers
	// sent, for the check that declared headers are sent.
	headersSeen map[string]map[string]bool
	responses   map[string]*openapi3.Response
	exchanges   int
}

var registerSETDecoder sync.Once

// newSpecValidator routes the clients of srvs (httptest.Server.Client)
// through a specValidator.
func newSpecValidator(t *testing.T, srvs ...*httptest.Server) *specValidator {
	t.Helper()
	doc := loadSpec(t)
	// The router matches the servers' own addresses.
	doc.Servers = nil
	for _, srv := range srvs {
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: srv.URL})
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	registerSETDecoder.Do(func() {
		openapi3filter.RegisterBodyDecoder(federation.MediaType, openapi3filter.PlainBodyDecoder)
		// The console's files.
		for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	})
	v := &specValidator{t: t, router: router, seen: map[string][]int{},
		headersSeen: map[string]map[string]bool{}, responses: map[string]*openapi3.Response{}}
	for _, srv := range srvs {
		client := srv.Client()
		client.Transport = &validatingTransport{v: v, base: client.Transport}
	}
	return v
}

// validatingTransport validates the exchanges of one client.
type validatingTransport struct {
	v    *specValidator
	base http.RoundTripper
}

func (vt *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return vt.v.roundTrip(vt.base, req)
}

// streamed reports whether a response's body is not validated: a ledger
// stream never ends and a snapshot is opaque bytes.
func streamed(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/event-stream" || mt == "application/octet-stream"
}

// roundTrip sends req with base and validates the exchange.
func (v *specValidator) roundTrip(base http.RoundTripper, req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The copy the validator reads.
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.RequestURI()

	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		v.t.Errorf("%s: no operation in docs/openapi.yaml: %v", what, err)
		return resp, nil
	}
	key := route.Method + " " + route.Path
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true,
		SkipSettingDefaults: true, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)

	status := resp.StatusCode
	noBody := streamed(resp.Header.Get("Content-Type"))
	var respBody []byte
	if !noBody {
		respBody, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(respBody))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: noBody}}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s (%s) answered %d, which docs/openapi.yaml does not describe: %v\nbody: %.2000s", what, key, status, err, respBody)
	} else if schema := responseSchema(route, status, resp.Header.Get("Content-Type")); schema != nil && !noBody {
		var value any
		if json.Unmarshal(respBody, &value) == nil {
			if extra := undeclared(schema, value, ""); len(extra) > 0 {
				v.t.Errorf("%s (%s) answered %d with properties docs/openapi.yaml does not declare: %s", what, key, status,
					strings.Join(extra, ", "))
			}
		}
	}
	if reqErr != nil && status < 400 {
		v.t.Errorf("%s (%s): docs/openapi.yaml refuses the request, the server answered %d: %v", what, key, status, reqErr)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	v.exchanges++
	v.seen[key] = append(v.seen[key], status)
	skey := fmt.Sprintf("%s %d", key, status)
	if v.headersSeen[skey] == nil {
		v.headersSeen[skey] = map[string]bool{}
	}
	for name := range resp.Header {
		v.headersSeen[skey][http.CanonicalHeaderKey(name)] = true
	}
	if ref := route.Operation.Responses.Status(status); ref != nil {
		v.responses[skey] = ref.Value
	}
	return resp, nil
}

// responseSchema is the schema docs/openapi.yaml gives the body of an
// answer (nil when it gives none).
func responseSchema(route *routers.Route, status int, contentType string) *openapi3.Schema {
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return nil
	}
	mt := ref.Value.Content.Get(contentType)
	if mt == nil || mt.Schema == nil {
		return nil
	}
	return mt.Schema.Value
}

// undeclared lists the members of the JSON value v that schema does not
// declare, where it declares properties and leaves additionalProperties
// unsaid: an answer must not carry fields the reference does not name.
// siblings are the properties the schemas of an enclosing allOf declare.
func undeclared(schema *openapi3.Schema, v any, path string, siblings ...string) []string {
	if schema == nil {
		return nil
	}
	declared := slices.Clone(siblings)
	for name := range schema.Properties {
		declared = append(declared, name)
	}
	for _, sub := range schema.AllOf {
		for name := range sub.Value.Properties {
			declared = append(declared, name)
		}
	}
	var out []string
	for _, sub := range schema.AllOf {
		out = append(out, undeclared(sub.Value, v, path, declared...)...)
	}
	for _, alts := range []openapi3.SchemaRefs{schema.OneOf, schema.AnyOf} {
		for _, sub := range alts {
			if sub.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()) == nil {
				out = append(out, undeclared(sub.Value, v, path)...)
				break
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for name := range x {
			prop, ok := schema.Properties[name]
			switch {
			case ok:
				out = append(out, undeclared(prop.Value, x[name], path+"/"+name)...)
			case schema.AdditionalProperties.Schema != nil:
				out = append(out, undeclared(schema.AdditionalProperties.Schema.Value, x[name], path+"/"+name)...)
			case len(schema.Properties) > 0 && schema.AdditionalProperties.Has == nil && !slices.Contains(declared, name):
				out = append(out, path+"/"+name)
			}
		}
	case []any:
		if schema.Items != nil {
			for i, e := range x {
				out = append(out, undeclared(schema.Items.Value, e, fmt.Sprintf("%s/%d", path, i))...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Routes the single-node harness can only exercise for their error
// answers, and what a success would need.
var errorOnlyRoutes = map[string]string{
	"GET /v1/cluster/enrollment":           "a node that has not joined a cluster yet",
	"GET /v1/cluster/ca-key":               "a second voter, asking with its node certificate",
	"GET /v1/cluster/checkpoint-key":       "a second voter, asking with its node certificate",
	"PUT /v1/cluster/gossip-keys":          "the leader's node certificate, from another node",
	"POST /v1/cluster/transfer-leadership": "a second voter",
}

// Routes that have no error answer on a healthy node that has a cluster
// CA.
var noErrorRoutes = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /v1/cluster/ca": true}

// check fails for every route of the route table not validated with a
// success and an error answer, and for every header declared on an answer
// that was validated and never carried it.
func (v *specValidator) check() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, rt := range routeTable() {
		key := rt.Method + " " + rt.Pattern
		statuses := v.seen[key]
		ok := slices.ContainsFunc(statuses, func(s int) bool { return s < 400 })
		failed := slices.ContainsFunc(statuses, func(s int) bool { return s >= 400 })
		_, errorOnly := errorOnlyRoutes[key]
		switch {
		case len(statuses) == 0:
			v.t.Errorf("%s: no exchange validated against docs/openapi.yaml", key)
		case !ok && !errorOnly:
			v.t.Errorf("%s: no success answer validated (only %v)", key, statuses)
		case ok && errorOnly:
			v.t.Errorf("%s: a success answer was validated (%v): take it off errorOnlyRoutes", key, statuses)
		case !failed && !noErrorRoutes[key]:
			v.t.Errorf("%s: no error answer validated (only %v)", key, statuses)
		}
	}
	keys := make([]string, 0, len(v.responses))
	for k := range v.responses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for name := range v.responses[k].Headers {
			if !v.headersSeen[k][http.CanonicalHeaderKey(name)] {
				v.t.Errorf("%s: docs/openapi.yaml declares the header %s, which no validated answer carried", k, name)
			}
		}
	}
	v.t.Logf("%d exchanges validated against docs/openapi.yaml", v.exchanges)
}

// Every route of the route table, with a success and a typical error
// case, answers as docs/openapi.yaml says, to requests it describes.
func TestOpenAPIExchanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The same API over TLS, which the routes that carry secrets need. It
	// asks for client certificates: a node certificate proves role node.
	tlsSrv := httptest.NewUnstartedServer(h.api.Handler())
	tlsSrv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	tlsTransport := tlsSrv.Client().Transport.(*http.Transport)
	hs := *h
	hs.srv = tlsSrv
	v := newSpecValidator(t, h.srv, tlsSrv)
	admin := h.admin
	reader, writer, auditor, operator := h.token("reader"), h.token("writer"), h.token("auditor"), h.token("operator")

	callOn := func(h *harness, method, path, token string, body any, want int, headers ...string) response {
		t.Helper()
		r := h.do(method, path, token, body, headers...)
		if r.status != want {
			t.Errorf("%s %s: status %d, want %d: %.500s", method, path, r.status, want, r.body)
		}
		return r
	}
	call := func(method, path, token string, body any, want int, headers ...string) response {
		t.Helper()
		return callOn(h, method, path, token, body, want, headers...)
	}
	// callTLS calls over TLS.
	callTLS := func(method, path, token string, body any, want int, headers ...string) response {
		t.Helper()
		return callOn(&hs, method, path, token, body, want, headers...)
	}
	decode := func(r response, out any) {
		t.Helper()
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}

	// Operations.
	call("GET", "/healthz", "", nil, 200)
	call("GET", "/ui", "", nil, 200)
	call("GET", "/ui?x=1", "", nil, 400)
	call("GET", "/ui/app.js", "", nil, 200)
	call("GET", "/ui/nothing.js", "", nil, 404)
	call("GET", "/ui/vendor/uPlot.iife.min.js", "", nil, 200)
	call("GET", "/ui/vendor/README.md", "", nil, 404)
	call("GET", "/readyz", "", nil, 200)
	call("GET", "/metrics", operator, nil, 200)
	call("GET", "/metrics", reader, nil, 403)
	call("GET", "/v1/status", reader, nil, 200)
	call("GET", "/v1/status", "", nil, 401)
	call("GET", "/v1/status", "tl_not-a-token", nil, 401)

	// Principals.
	call("POST", "/v1/principals", writer, map[string]any{"principalId": "alice", "principalType": "user", "orgId": "acme",
		"baseTrustScore": 60, "metadata": map[string]any{"team": "blue"}}, 201)
	call("POST", "/v1/principals", writer, map[string]any{"principalId": "bob", "principalType": "service",
		"metadata": `{"tier": 1}`, "isActive": true}, 201)
	call("POST", "/v1/principals", writer, map[string]any{"principalId": "alice", "principalType": "user"}, 409)
	call("POST", "/v1/principals", writer, map[string]any{"principalId": "carol", "principalType": "robot"}, 400)
	call("POST", "/v1/principals", writer, "principalId=carol", 415, "Content-Type", "text/plain")
	call("POST", "/v1/principals", reader, map[string]any{"principalId": "carol", "principalType": "user"}, 403)
	var page struct {
		NextCursor string `json:"nextCursor"`
	}
	decode(call("GET", "/v1/principals?limit=1", reader, nil, 200), &page)
	if page.NextCursor == "" {
		t.Error("a page of one of two principals has no nextCursor")
	}
	call("GET", "/v1/principals?cursor="+url.QueryEscape(page.NextCursor)+"&requiresReview=false", reader, nil, 200)
	call("GET", "/v1/principals?limit=0", reader, nil, 400)
	call("GET", "/v1/principals/alice?at=2030-01-01T00:00:00Z", reader, nil, 200)
	call("GET", "/v1/principals/alice?consistency=linearizable", reader, nil, 200)
	call("GET", "/v1/principals/alice?consistency=stale&max_stale=5s&index=1&wait=1ms", reader, nil, 200)
	call("GET", "/v1/principals/nobody", reader, nil, 404)
	call("GET", "/v1/principals/alice?consistency=eventual", reader, nil, 400)
	call("PATCH", "/v1/principals/alice", writer, map[string]any{"maxTrustScore": 95, "assessmentFrequency": "daily"}, 200)
	call("PATCH", "/v1/principals/nobody", writer, map[string]any{"isActive": false}, 404)
	call("PATCH", "/v1/principals/alice", writer, map[string]any{"minTrustScore": 99}, 422)
	call("PUT", "/v1/principals/alice/factors", writer, map[string]any{
		"authenticationFactors": map[string]any{"mfa_enabled": true}, "riskIndicators": `["new_device"]`}, 200)
	call("PUT", "/v1/principals/nobody/factors", writer, map[string]any{"riskIndicators": []string{}}, 404)
	call("PUT", "/v1/principals/alice/factors", writer, map[string]any{"posture": 1}, 400)
	analyst := h.token("analyst")
	var mod struct {
		ModifierID string `json:"modifierId"`
	}
	decode(call("POST", "/v1/principals/alice/modifiers", analyst, map[string]any{"amount": -3.5, "reason": "investigation",
		"expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 201), &mod)
	call("POST", "/v1/principals/alice/modifiers", analyst, map[string]any{"amount": 0, "reason": "x", "expiresAt": "2030-01-01T00:00:00Z"}, 400)
	call("DELETE", "/v1/principals/alice/modifiers/"+mod.ModifierID, analyst, nil, 200)
	call("DELETE", "/v1/principals/alice/modifiers/"+mod.ModifierID, analyst, nil, 404)

	// Organizations.
	call("PUT", "/v1/orgs/acme", admin, map[string]any{"baseTrustScore": 65, "name": "Acme"}, 201)
	call("PUT", "/v1/orgs/acme", admin, map[string]any{"baseTrustScore": 66.5}, 200)
	call("PUT", "/v1/orgs/acme", admin, map[string]any{"baseTrustScore": 101}, 400)
	call("GET", "/v1/orgs/acme", reader, nil, 200)
	call("GET", "/v1/orgs/initech", reader, nil, 404)

	// Signals.
	sig := func(id, principal string, impact any) map[string]any {
		return map[string]any{"eventId": id, "principalId": principal, "event": "failed_login", "category": "authentication",
			"impact": impact, "observedAt": time.Now().UTC().Format(time.RFC3339), "attributes": map[string]any{"ip": "192.0.2.1"}}
	}
	call("POST", "/v1/signals", writer, map[string]any{"signals": []any{sig("s1", "alice", -30), sig("s1", "alice", -30),
		sig("s2", "nobody", -1), sig("s3", "bob", 2.5)}}, 200)
	call("POST", "/v1/signals", writer, sig("s4", "alice", -40), 200)
	// A producer's batch: applied once however often it is sent; a session
	// fenced by a newer one, or a batch 64 behind, is refused.
	epoch := time.Now().UnixMilli() - 1000
	pbatch := func(id string, epoch int64, seq int) map[string]any {
		return map[string]any{"signals": []any{sig(fmt.Sprintf("ps-%s-%d-%d", id, epoch, seq), "alice", 1)},
			"producer": map[string]any{"id": id, "epoch": epoch, "sequence": seq}}
	}
	var presults struct {
		Results []struct{ Status string } `json:"results"`
	}
	decode(call("POST", "/v1/signals", writer, pbatch("ingest", epoch, 1), 200), &presults)
	decode(call("POST", "/v1/signals", writer, pbatch("ingest", epoch, 1), 200), &presults)
	if len(presults.Results) != 1 || presults.Results[0].Status != "duplicate" {
		t.Errorf("a producer's retried batch: %+v", presults)
	}
	call("POST", "/v1/signals", writer, pbatch("ingest", epoch, 70), 200)
	call("POST", "/v1/signals", writer, pbatch("ingest", epoch, 5), 409)
	call("POST", "/v1/signals", writer, pbatch("ingest", epoch+1, 1), 200)
	call("POST", "/v1/signals", writer, pbatch("ingest", epoch, 71), 409)
	call("POST", "/v1/signals", writer, pbatch("ingest", 0, 1), 400)
	call("POST", "/v1/signals", writer, map[string]any{"signals": []any{sig("ps-x", "alice", 1)}, "producer": map[string]any{"id": "x"}}, 400)
	call("POST", "/v1/signals", writer, map[string]any{"principalId": "alice", "event": "x", "category": "authentication", "impact": 1}, 400)
	call("POST", "/v1/signals", writer, `{"signals": [`, 400)
	call("POST", "/v1/signals", writer, `{"signals": [`+strings.Repeat(" ", 1<<20)+`]}`, 413)

	// History and ledger entries of a principal.
	call("GET", "/v1/principals/alice/history", reader, nil, 200)
	call("GET", "/v1/principals/nobody/history", reader, nil, 404)
	call("GET", "/v1/principals/alice/events?after=0&limit=2", reader, nil, 200)
	call("GET", "/v1/principals/alice/events?after=-1", reader, nil, 400)
	call("GET", "/v1/principals/nobody/events", reader, nil, 404)

	// Endorsements.
	var endorsed struct {
		EndorsementID string `json:"endorsementId"`
	}
	decode(call("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "bob", "endorseeId": "alice", "weight": 2,
		"reason": "pairs with alice", "expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 201), &endorsed)
	call("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "bob", "endorseeId": "nobody"}, 404)
	call("POST", "/v1/endorsements", writer, map[string]any{"endorserId": "bob", "endorseeId": "bob"}, 400)
	call("GET", "/v1/endorsements/"+endorsed.EndorsementID, reader, nil, 200)
	call("GET", "/v1/endorsements/e-unknown", reader, nil, 404)
	call("DELETE", "/v1/endorsements/"+endorsed.EndorsementID, writer, nil, 200)
	call("DELETE", "/v1/endorsements/e-unknown", writer, nil, 404)

	// Decisions and what-if.
	call("POST", "/v1/decisions", reader, map[string]any{"principalId": "alice", "action": "read", "sensitivity": "high",
		"context": map[string]any{"resource": "payroll"}}, 200)
	call("POST", "/v1/decisions", reader, map[string]any{"principalId": "nobody", "action": "read", "sensitivity": "low"}, 200)
	call("POST", "/v1/decisions", reader, map[string]any{"principalId": "alice", "action": "read", "sensitivity": "extreme"}, 400)
	gateway := h.token("gateway")
	call("POST", "/v1/principals", writer, map[string]any{"principalId": "gw-user", "principalType": "user", "baseTrustScore": 80}, 201)
	call("GET", "/v1/authz", gateway, nil, 200, "X-Trust-Principal", "gw-user", "X-Original-Method", "GET", "X-Original-URI", "/docs")
	call("GET", "/v1/authz", gateway, nil, 401, "X-Trust-Principal", "gw-user", "X-Original-URI", "/docs", "X-Trust-Device-Compliant", "false")
	call("GET", "/v1/authz", gateway, nil, 403, "X-Trust-Principal", "nobody", "X-Real-IP", "192.0.2.1")
	call("GET", "/v1/authz", gateway, nil, 400)
	call("GET", "/v1/authz", reader, nil, 403, "X-Trust-Principal", "alice")
	call("POST", "/v1/simulate?at=2030-01-01T00:00:00Z", reader, map[string]any{"principalId": "alice",
		"signals": []any{map[string]any{"principalId": "alice", "event": "mfa_ok", "category": "authentication", "impact": 5}},
		"factors": map[string]any{"riskIndicators": []string{"tor_exit"}}}, 200)
	call("POST", "/v1/simulate", reader, map[string]any{"principalId": "nobody"}, 404)
	call("POST", "/v1/simulate", reader, map[string]any{"principalId": "alice", "signals": []any{map[string]any{"impact": 500}}}, 400)

	// Alerts: the sharp drops above raised some.
	var alerts struct {
		Alerts []struct {
			AlertID string `json:"alertId"`
		} `json:"alerts"`
	}
	decode(call("GET", "/v1/alerts?status=open&principalId=alice", reader, nil, 200), &alerts)
	call("GET", "/v1/alerts?status=closed", reader, nil, 400)
	if len(alerts.Alerts) == 0 {
		t.Fatal("the signals raised no alert")
	}
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", admin, map[string]any{"action": "acknowledge", "note": "on it"}, 200)
	call("POST", "/v1/alerts/a-unknown/review", admin, map[string]any{"action": "dismiss"}, 404)
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", admin, map[string]any{"action": "close"}, 400)
	// The alerts follow the detections' state machine: acknowledged only
	// from open; remediate from acknowledged, and then nothing more.
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", analyst, map[string]any{"action": "acknowledge"}, 409)
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", analyst, map[string]any{"action": "remediate", "note": "password reset"}, 200)
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", analyst, map[string]any{"action": "dismiss"}, 409)
	call("POST", "/v1/alerts/"+alerts.Alerts[0].AlertID+"/review", analyst, map[string]any{"action": "dismiss", "reason": "x"}, 400)
	call("GET", "/v1/alerts?status=remediated", reader, nil, 200)

	// Detections: the same records. An anomaly score raises one of source
	// signal on bob.
	anomalous := sig("s5", "bob", -1)
	anomalous["event"], anomalous["category"], anomalous["attributes"] = "bulk_export", "behavior", map[string]any{"anomaly_score": 95}
	call("POST", "/v1/signals", writer, anomalous, 200)
	type detectionView struct {
		DetectionID string `json:"detectionId"`
		State       string `json:"state"`
		Holds       bool   `json:"holds"`
		Transitions []struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"transitions"`
	}
	var dets struct {
		Detections []detectionView `json:"detections"`
	}
	decode(call("GET", "/v1/detections?state=open&principalId=bob&type=anomaly_score&source=signal", reader, nil, 200), &dets)
	if len(dets.Detections) != 1 {
		t.Fatalf("bob's anomaly score raised %d open detections of type anomaly_score, want 1", len(dets.Detections))
	}
	det := dets.Detections[0].DetectionID
	call("GET", "/v1/detections", reader, nil, 200)
	call("GET", "/v1/detections?state=closed", reader, nil, 400)
	call("GET", "/v1/detections?source=sensor", reader, nil, 400)
	call("GET", "/v1/detections/"+det, reader, nil, 200)
	call("GET", "/v1/detections/d-unknown", reader, nil, 404)
	review := func(token, action string, want int) response {
		t.Helper()
		return call("POST", "/v1/detections/"+det+"/review", token, map[string]any{"action": action, "reason": "review " + action}, want)
	}
	var reviewed struct {
		Index     int           `json:"index"`
		Detection detectionView `json:"detection"`
	}
	decode(review(analyst, "acknowledge", 200), &reviewed)
	if reviewed.Detection.State != "acknowledged" || len(reviewed.Detection.Transitions) != 1 {
		t.Errorf("acknowledged detection: %+v", reviewed.Detection)
	}
	review(analyst, "acknowledge", 409) // acknowledged only from open
	review(admin, "confirm-compromised", 200)
	// A confirmed compromise holds bob's decisions until it is remediated.
	var bob struct {
		Holds []struct {
			DetectionID string `json:"detectionId"`
		} `json:"holds"`
	}
	decode(call("GET", "/v1/principals/bob", reader, nil, 200), &bob)
	if len(bob.Holds) != 1 || bob.Holds[0].DetectionID != det {
		t.Errorf("bob's holds %+v, want %s", bob.Holds, det)
	}
	type reason struct {
		Code string `json:"code"`
	}
	var held struct {
		Decision        string   `json:"decision"`
		Reasons         []reason `json:"reasons"`
		WhatWouldChange []reason `json:"whatWouldChange"`
	}
	decode(call("POST", "/v1/decisions", reader, map[string]any{"principalId": "bob", "action": "read"}, 200), &held)
	if held.Decision != "deny" || !slices.Contains(held.Reasons, reason{"remediation_required"}) ||
		!slices.Contains(held.WhatWouldChange, reason{"remediate"}) {
		t.Errorf("bob's decision while held: %+v", held)
	}
	review(analyst, "confirm-safe", 409) // confirmed_compromised only → remediated
	// A credential rotation does not lift a compromise an analyst
	// confirmed (the default remediations); the analyst's review does.
	rotated := sig("s6", "bob", 1)
	rotated["event"] = "credential_rotated"
	call("POST", "/v1/signals", writer, rotated, 200)
	var remediated detectionView
	decode(call("GET", "/v1/detections/"+det, reader, nil, 200), &remediated)
	if remediated.State != "confirmed_compromised" || !remediated.Holds {
		t.Errorf("detection after credential_rotated: %+v", remediated)
	}
	review(analyst, "remediate", 200)
	decode(call("GET", "/v1/detections/"+det, reader, nil, 200), &remediated)
	if remediated.State != "remediated" || remediated.Holds || len(remediated.Transitions) != 3 {
		t.Errorf("detection after the analyst's remediate: %+v", remediated)
	}
	// Pages: one detection at a time, following the cursor.
	var dpage struct {
		Detections []detectionView `json:"detections"`
		NextCursor string          `json:"nextCursor"`
	}
	decode(call("GET", "/v1/detections?limit=1", reader, nil, 200), &dpage)
	if len(dpage.Detections) != 1 || dpage.NextCursor == "" {
		t.Errorf("first page: %+v", dpage)
	}
	first := dpage.Detections[0].DetectionID
	decode(call("GET", "/v1/detections?limit=1&cursor="+dpage.NextCursor, reader, nil, 200), &dpage)
	if len(dpage.Detections) == 1 && dpage.Detections[0].DetectionID == first {
		t.Errorf("the second page repeats the first: %+v", dpage)
	}
	call("GET", "/v1/detections?cursor=bm90LWEtY3Vyc29y", reader, nil, 400)
	call("GET", "/v1/alerts?limit=1", reader, nil, 200)
	call("GET", "/v1/alerts?limit=0", reader, nil, 400)
	review(analyst, "remediate", 409) // remediated is final
	review(admin, "dismiss", 409)
	call("POST", "/v1/detections/d-unknown/review", analyst, map[string]any{"action": "dismiss"}, 404)
	call("POST", "/v1/detections/"+det+"/review", analyst, map[string]any{"action": "close"}, 400)
	call("POST", "/v1/detections/"+det+"/review", analyst, map[string]any{"action": "dismiss", "note": "a detection takes reason"}, 400)
	call("POST", "/v1/detections/"+det+"/review", reader, map[string]any{"action": "dismiss"}, 403)
	// A second detection, reviewed by the remediate action.
	anomalous["eventId"] = "s7"
	call("POST", "/v1/signals", writer, anomalous, 200)
	decode(call("GET", "/v1/detections?state=open&principalId=bob&type=anomaly_score", reader, nil, 200), &dets)
	if len(dets.Detections) != 1 {
		t.Fatalf("bob's second anomaly score: %d open detections, want 1", len(dets.Detections))
	}
	det = dets.Detections[0].DetectionID
	review(analyst, "remediate", 200)
	review(analyst, "acknowledge", 409)

	// Federation.
	p := h.addPartner("p9", nil)
	edJWK, err := federation.PublicJWK(p.ed, "ed1")
	if err != nil {
		t.Fatal(err)
	}
	call("PUT", "/v1/federation/partners/p9", admin, map[string]any{"issuer": p.issuer, "audience": setAudience, "weight": 0.3,
		"maxInfluence": 10, "status": "active", "rateLimit": 1_000_000,
		"jwks": map[string]any{"keys": []json.RawMessage{edJWK}}}, 200)
	call("PUT", "/v1/federation/partners/p10", admin, map[string]any{"issuer": "https://p10.example", "audience": "x",
		"weight": 2, "maxInfluence": 10, "jwks": map[string]any{"keys": []any{}}}, 400)
	call("GET", "/v1/federation/partners", admin, nil, 200)
	call("GET", "/v1/federation/partners", reader, nil, 403)
	call("GET", "/v1/federation/partners/p9", admin, nil, 200)
	call("GET", "/v1/federation/partners/p404", admin, nil, 404)
	h.addPartner("p11", nil)
	call("DELETE", "/v1/federation/partners/p11", admin, nil, 200)
	call("DELETE", "/v1/federation/partners/p11", admin, nil, 404)
	set := p.sign(t, "EdDSA", p.claims("jti-1", "alice", federation.EventTrustAssessment, assessment(40)))
	call("POST", "/v1/federation/events", p.token, set, 202, "Content-Type", federation.MediaType)
	call("POST", "/v1/federation/events", p.token, set, 400, "Content-Type", federation.MediaType)
	call("POST", "/v1/federation/events", p.token, p.sign(t, "EdDSA", p.claims("jti-2", "alice",
		"https://schemas.openid.net/secevent/ssf/event-type/verification", map[string]any{"state": "x"})), 202,
		"Content-Type", federation.MediaType)
	call("POST", "/v1/federation/events", reader, set, 403, "Content-Type", federation.MediaType)

	// The ledger.
	call("GET", "/v1/ledger?after=1&limit=5", auditor, nil, 200)
	call("GET", "/v1/ledger", reader, nil, 403)
	call("GET", "/v1/ledger?limit=5000", auditor, nil, 400)
	streamLedger(t, h, auditor)
	streamAudit(t, h, auditor)
	call("GET", "/v1/audit/stream", reader, nil, 403)
	call("GET", "/v1/ledger/stream", "", nil, 401)

	// The ledger's Merkle tree: checkpoints and proofs.
	call("GET", "/v1/ledger/checkpoint", reader, nil, 200)
	call("GET", "/v1/ledger/checkpoint?treeSize=2", reader, nil, 200)
	call("GET", "/v1/ledger/checkpoint?treeSize=x", reader, nil, 400)
	call("GET", "/v1/ledger/checkpoint/key", reader, nil, 200)
	call("GET", "/v1/ledger/checkpoint/key", "", nil, 401)
	call("GET", "/v1/ledger/proof/inclusion?sequence=1&treeSize=2", reader, nil, 200)
	call("GET", "/v1/ledger/proof/inclusion?sequence=3&treeSize=2", reader, nil, 400)
	call("GET", "/v1/ledger/proof/inclusion?treeSize=2", reader, nil, 400)
	call("GET", "/v1/ledger/proof/consistency?from=1&to=2", reader, nil, 200)
	call("GET", "/v1/ledger/proof/consistency?from=1&to=999999", reader, nil, 400)
	call("GET", "/v1/principals/alice/proof", auditor, nil, 200)
	call("GET", "/v1/principals/alice/proof?treeSize=x", auditor, nil, 400)
	call("GET", "/v1/principals/alice/proof?treeSize=999999", auditor, nil, 400)
	call("GET", "/v1/principals/nobody/proof", auditor, nil, 404)
	call("GET", "/v1/principals/alice/proof", reader, nil, 403)

	// Import.
	seed := map[string]any{"@type": "PrincipalTrust", "trustId": "trust_dave", "principalId": "dave", "principalType": "user",
		"trustScore": 78, "trustLevel": "high",
		"scoreComponents":       `{"authentication":18,"behavior":20,"compliance":15,"history":18,"context":7}`,
		"authenticationFactors": `{"mfa_enabled":true}`, "riskIndicators": `["multiple_devices"]`,
		"positiveSignals": `[{"event":"completed_security_training","timestamp":"2024-02-01T10:00:00Z","impact":10}]`,
		"negativeSignals": []any{map[string]any{"event": "failed_mfa", "timestamp": "2024-03-10T08:00:00Z", "impact": "-5"}},
		"trustHistory":    []any{map[string]any{"timestamp": "2024-03-01T00:00:00Z", "score": 75}},
		"trustTrend":      "stable", "baseTrustScore": "70", "trustDecayRate": 0.005, "trustRecoveryRate": "0.1",
		"maxTrustScore": 100, "minTrustScore": nil, "trustModifiers": "[]", "endorsements": nil, "trustAlerts": []any{},
		"federatedTrust":   map[string]any{"partner-x": 60, "partner-y": "55", "partner-z": map[string]any{"score": 50}},
		"lastAssessmentAt": "2024-03-15T12:00:00Z", "nextAssessmentAt": "2024-03-15T13:00:00Z",
		"assessmentFrequency": "hourly", "requiresReview": "false", "isActive": "true", "metadata": map[string]any{"tenure_years": 3},
		"confidence": 80, "evaluatedAt": "2024-03-15T12:00:00Z", "ledgerIndex": 3}
	call("POST", "/v1/import", admin, seed, 201)
	call("POST", "/v1/import", admin, seed, 409)
	call("POST", "/v1/import", admin, map[string]any{"records": []any{
		map[string]any{"principalId": "erin", "principalType": "device", "trustScore": 50},
		map[string]any{"principalId": "dave", "principalType": "user", "trustScore": 50},
	}}, 200)
	call("POST", "/v1/import", admin, []any{map[string]any{"principalId": "frank", "principalType": "device", "trustScore": "50"}}, 201)
	call("POST", "/v1/import", admin, map[string]any{"principalId": "gina", "principalType": "user"}, 400)
	// dave's next assessment (hourly after 2024-03-15T12:00:00Z) is long
	// past.
	type overdueView struct {
		PrincipalID       string `json:"principalId"`
		AssessmentOverdue bool   `json:"assessmentOverdue"`
	}
	var overdue struct {
		Principals []overdueView `json:"principals"`
	}
	decode(call("GET", "/v1/principals?overdue=true", reader, nil, 200), &overdue)
	if !slices.Contains(overdue.Principals, overdueView{"dave", true}) {
		t.Errorf("GET /v1/principals?overdue=true: %+v lacks dave", overdue.Principals)
	}
	call("GET", "/v1/principals?overdue=false&type=user", reader, nil, 200)
	call("GET", "/v1/principals?overdue=maybe", reader, nil, 400)

	// Policy.
	var pol struct {
		Version int `json:"version"`
	}
	decode(call("GET", "/v1/policy", reader, nil, 200), &pol)
	call("GET", "/v1/policy", "", nil, 401)
	call("PUT", "/v1/policy", admin, map[string]any{"version": pol.Version, "sharpDrop": 15, "decayGrace": "48h"}, 200)
	call("PUT", "/v1/policy", admin, map[string]any{"version": pol.Version, "sharpDrop": 16}, 409)
	call("PUT", "/v1/policy", admin, map[string]any{"sharpness": 16}, 400)
	// The detection rules and holds of scoring model 2.
	call("PUT", "/v1/policy", admin, map[string]any{"cumulativeDrop": 20, "cumulativeWindow": "12h", "baselineDeviation": 15,
		"baselineMinEvents": 5, "baselineSmoothing": 8, "privilegeEvents": []string{"sudo", "role_granted"}, "privilegeBurst": 4,
		"privilegeWindow": "30m", "holdTypes": []string{"partner_credential_compromise"},
		"remediations": []any{map[string]any{"event": "credential_rotated", "clears": []string{"confirmed_compromised", "partner_credential_compromise"}}},
		"decision":     map[string]any{"hold": "step_up"}}, 200)
	call("PUT", "/v1/policy", admin, map[string]any{"decision": map[string]any{"hold": "allow"}}, 400)
	call("PUT", "/v1/policy", admin, map[string]any{"remediations": []any{map[string]any{"event": "credential_rotated", "clears": []string{}}}}, 400)
	call("POST", "/v1/policy/simulate", admin, map[string]any{"policy": map[string]any{"decision": map[string]any{"allow": map[string]any{"low": 45}}},
		"action": "read", "context": map[string]any{"device": map[string]any{"compliant": true}}, "limit": 5}, 200)
	call("POST", "/v1/policy/simulate", admin, map[string]any{"policy": map[string]any{"decision": map[string]any{"allow": map[string]any{"low": 160}}},
		"action": "read"}, 400)

	// Tokens.
	var tok struct {
		ID string `json:"id"`
	}
	decode(call("POST", "/v1/tokens", admin, map[string]any{"role": "writer", "orgs": []string{"acme"}, "description": "ci"}, 201), &tok)
	call("POST", "/v1/tokens", admin, map[string]any{"role": "superuser"}, 400)
	call("POST", "/v1/tokens", admin, map[string]any{"role": "partner", "partnerId": "p404"}, 404)
	call("GET", "/v1/tokens", admin, nil, 200)
	call("GET", "/v1/tokens", writer, nil, 403)
	call("DELETE", "/v1/tokens/"+tok.ID, admin, nil, 200)
	call("DELETE", "/v1/tokens/t-unknown", admin, nil, 404)

	// The cluster.
	call("GET", "/v1/cluster", operator, nil, 200)
	call("GET", "/v1/cluster", reader, nil, 403)
	var ca struct {
		Certificate string `json:"certificate"`
	}
	decode(call("GET", "/v1/cluster/ca", "", nil, 200), &ca)
	call("GET", "/v1/cluster/enrollment", "", nil, 409) // the node has its identity
	// A retried enrollment with the identity the node has already is a
	// success; another CA's is refused.
	gossipKey := "AAAAAAAAAAAAAAAAAAAAAA=="
	callTLS("POST", "/v1/cluster/enrollment", "", map[string]any{"nodeId": "n1", "certificate": "x",
		"caCertificate": ca.Certificate, "gossipKeys": []string{gossipKey}}, 200)
	callTLS("POST", "/v1/cluster/enrollment", "", map[string]any{"nodeId": "n1", "certificate": "x",
		"caCertificate": "-----BEGIN CERTIFICATE-----", "gossipKeys": []string{gossipKey}}, 409)
	call("POST", "/v1/cluster/enrollment", "", map[string]any{"nodeId": "n1"}, 400) // tls-required
	// A certificate for a new node, n2.
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NewCSR(key, "n2", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	var grant struct {
		Certificate string `json:"certificate"`
	}
	decode(callTLS("POST", "/v1/cluster/identity", operator, map[string]any{"nodeId": "n2", "csr": string(csr), "voter": false}, 200), &grant)
	callTLS("POST", "/v1/cluster/identity", operator, map[string]any{"nodeId": "n1", "csr": string(csr)}, 409) // a member
	callTLS("POST", "/v1/cluster/identity", operator, map[string]any{"nodeId": "n3"}, 400)
	call("POST", "/v1/cluster/identity", operator, map[string]any{"nodeId": "n3", "csr": string(csr)}, 400) // tls-required
	call("POST", "/v1/cluster/identity", reader, map[string]any{"nodeId": "n3", "csr": "x"}, 403)
	call("POST", "/v1/cluster/identity", "", map[string]any{"nodeId": "n3", "csr": "x"}, 401)
	// n2 joins as a read replica (never started: nothing answers at its
	// address), which makes its certificate a member's.
	replica := map[string]any{"nodeId": "n2", "raftAddr": "127.0.0.1:9", "apiAddr": "https://127.0.0.1:9", "voter": false, "region": "test"}
	call("POST", "/v1/cluster/join", operator, replica, 201)
	call("POST", "/v1/cluster/join", operator, replica, 200)
	call("POST", "/v1/cluster/join", operator, map[string]any{"nodeId": "n4", "raftAddr": "nowhere", "apiAddr": "ftp://x"}, 400)
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(grant.Certificate), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tlsTransport.TLSClientConfig.Certificates = []tls.Certificate{cert}
	tlsTransport.CloseIdleConnections()
	callTLS("GET", "/v1/status", "", nil, 200)                                                      // role node
	callTLS("GET", "/v1/cluster/ca-key", "", nil, 403)                                              // n2 is no voter
	callTLS("GET", "/v1/cluster/checkpoint-key", "", nil, 403)                                      // n2 is no voter
	callTLS("PUT", "/v1/cluster/gossip-keys", "", map[string]any{"keys": []string{gossipKey}}, 403) // n2 is not the leader
	call("GET", "/v1/cluster/ca-key", "", nil, 401)
	call("GET", "/v1/cluster/ca-key", admin, nil, 403)
	call("GET", "/v1/cluster/checkpoint-key", "", nil, 401)
	call("GET", "/v1/cluster/checkpoint-key", admin, nil, 403)
	call("PUT", "/v1/cluster/gossip-keys", "", map[string]any{"keys": []string{gossipKey}}, 401)
	call("PUT", "/v1/cluster/gossip-keys", admin, map[string]any{"keys": []string{gossipKey}}, 403)
	call("DELETE", "/v1/cluster/nodes/n2", operator, nil, 200)
	call("DELETE", "/v1/cluster/nodes/n404", operator, nil, 404)
	call("POST", "/v1/cluster/gossip-key/rotate", operator, nil, 200)
	call("POST", "/v1/cluster/gossip-key/rotate", operator, map[string]any{"keys": 1}, 400)
	call("POST", "/v1/cluster/gossip-key/rotate", reader, nil, 403)
	call("POST", "/v1/cluster/transfer-leadership", operator, nil, 409)
	call("POST", "/v1/cluster/transfer-leadership", operator, map[string]any{"id": "n1", "force": true}, 400)
	snap := call("GET", "/v1/cluster/snapshot", operator, nil, 200)
	call("GET", "/v1/cluster/snapshot?consistency=stale", writer, nil, 403)
	call("POST", "/v1/cluster/restore", admin, "not a snapshot", 400, "Content-Type", "application/octet-stream")
	call("POST", "/v1/cluster/restore", admin, snap.body, 200, "Content-Type", "application/octet-stream")

	// Shared Signals: the transmitter.
	rcv := h.token("receiver")
	call("GET", "/.well-known/ssf-configuration", "", nil, 200)
	call("GET", "/.well-known/ssf-configuration?x=1", "", nil, 400)
	call("GET", "/v1/ssf/jwks?x=1", "", nil, 400)
	call("POST", "/v1/ssf/streams", rcv, map[string]any{"delivery": map[string]any{"method": "urn:smtp"}}, 400)
	call("POST", "/v1/ssf/streams", reader, map[string]any{"delivery": map[string]any{"method": "urn:ietf:rfc:8936"}}, 403)
	var stream struct {
		ID string `json:"stream_id"`
	}
	decode(call("POST", "/v1/ssf/streams", rcv, map[string]any{"delivery": map[string]any{"method": "urn:ietf:rfc:8936"},
		"events_requested": []string{"https://schemas.openid.net/secevent/caep/event-type/risk-level-change"}, "description": "rp"}, 201), &stream)
	push := call("POST", "/v1/ssf/streams", rcv, map[string]any{"delivery": map[string]any{"method": "urn:ietf:rfc:8935",
		"endpoint_url": "https://rp.example/ssf", "authorization_header": "Bearer rp"}}, 201)
	var pushed struct {
		ID string `json:"stream_id"`
	}
	decode(push, &pushed)
	call("GET", "/v1/ssf/jwks", "", nil, 200)
	call("GET", "/v1/ssf/streams", rcv, nil, 200)
	call("GET", "/v1/ssf/streams?stream_id="+stream.ID, rcv, nil, 200)
	call("GET", "/v1/ssf/streams?stream_id=nope", rcv, nil, 404)
	call("PATCH", "/v1/ssf/streams", rcv, map[string]any{"stream_id": stream.ID, "description": "rp 2"}, 200)
	call("PATCH", "/v1/ssf/streams", rcv, map[string]any{"description": "x"}, 400)
	call("PUT", "/v1/ssf/streams", rcv, map[string]any{"stream_id": stream.ID, "delivery": map[string]any{"method": "urn:ietf:rfc:8936"}}, 200)
	call("PUT", "/v1/ssf/streams", rcv, map[string]any{"stream_id": "nope", "delivery": map[string]any{"method": "urn:ietf:rfc:8936"}}, 404)
	call("GET", "/v1/ssf/status?stream_id="+stream.ID, rcv, nil, 200)
	call("GET", "/v1/ssf/status", rcv, nil, 400)
	call("POST", "/v1/ssf/status", rcv, map[string]any{"stream_id": stream.ID, "status": "paused", "reason": "maintenance"}, 200)
	call("POST", "/v1/ssf/status", rcv, map[string]any{"stream_id": stream.ID, "status": "asleep"}, 400)
	call("POST", "/v1/ssf/status", rcv, map[string]any{"stream_id": stream.ID, "status": "enabled"}, 200)
	call("POST", "/v1/ssf/subjects/add", rcv, map[string]any{"stream_id": stream.ID, "subject": map[string]any{"format": "opaque", "id": "alice"}}, 200)
	call("POST", "/v1/ssf/subjects/add", rcv, map[string]any{"stream_id": stream.ID, "subject": map[string]any{"id": "alice"}}, 400)
	call("POST", "/v1/ssf/subjects/remove", rcv, map[string]any{"stream_id": stream.ID, "subject": map[string]any{"format": "email", "email": "bob@example.com"}}, 204)
	call("POST", "/v1/ssf/subjects/remove", rcv, map[string]any{"stream_id": "nope", "subject": map[string]any{"format": "opaque", "id": "alice"}}, 404)
	call("POST", "/v1/ssf/verify", rcv, map[string]any{"stream_id": stream.ID, "state": "s1"}, 204)
	call("POST", "/v1/ssf/verify", rcv, map[string]any{"stream_id": stream.ID, "state": "s2"}, 429)
	call("POST", "/v1/ssf/poll/"+stream.ID, rcv, map[string]any{"returnImmediately": true}, 200)
	call("POST", "/v1/ssf/poll/"+stream.ID, rcv, map[string]any{"ack": []string{"x"}}, 400)
	call("POST", "/v1/ssf/poll/"+pushed.ID, rcv, map[string]any{"returnImmediately": true}, 409)
	call("POST", "/v1/ssf/keys/rotate", operator, nil, 200)
	call("POST", "/v1/ssf/keys/rotate", rcv, nil, 403)
	call("DELETE", "/v1/ssf/streams?stream_id="+pushed.ID, rcv, nil, 204)
	call("DELETE", "/v1/ssf/streams?stream_id="+pushed.ID, rcv, nil, 404)

	v.check()
}

// streamLedger opens the ledger stream, reads its first event and closes
// it: the validator sees the status and the headers.
func streamLedger(t *testing.T, h *harness, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/ledger/stream?after=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ledger stream: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			return
		}
	}
	t.Errorf("the ledger stream sent no event: %v", sc.Err())
}

// Every route's query parameters (Route.Query, and readParams on a Read
// route) are the ones docs/openapi.yaml declares for its operation, no
// more and no fewer, and every operation declares the 400 an unknown one
// gets.
func TestRouteQueryParametersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	for _, rt := range routeTable() {
		item := doc.Paths.Find(rt.Pattern)
		if item == nil {
			t.Errorf("%s %s: not in docs/openapi.yaml", rt.Method, rt.Pattern)
			continue
		}
		op := item.GetOperation(rt.Method)
		if op == nil {
			t.Errorf("%s %s: no such operation in docs/openapi.yaml", rt.Method, rt.Pattern)
			continue
		}
		var documented []string
		for _, p := range append(item.Parameters, op.Parameters...) {
			if p.Value != nil && p.Value.In == "query" {
				documented = append(documented, p.Value.Name)
			}
		}
		if op.Responses.Value("400") == nil {
			t.Errorf("%s %s: docs/openapi.yaml declares no 400 (an unknown query parameter is one)", rt.Method, rt.Pattern)
		}
		taken := slices.Clone(rt.Query)
		if rt.Read {
			taken = append(taken, readParams...)
		}
		slices.Sort(documented)
		slices.Sort(taken)
		if !slices.Equal(documented, taken) {
			t.Errorf("%s %s: the route takes %v, docs/openapi.yaml declares %v", rt.Method, rt.Pattern, taken, documented)
		}
	}
}

// A query parameter a route does not take is refused, naming it, before
// the route does anything: a misspelt filter or consistency level does
// not quietly give another answer, and a write takes no ?at=.
func TestUnknownQueryParameters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	reader, writer := h.token("reader"), h.token("writer")
	for _, c := range []struct {
		method, path, token, param string
	}{
		{"GET", "/v1/alerts?principal=alice", reader, "principal"},
		{"GET", "/v1/principals/alice?consistancy=stale", reader, "consistancy"},
		{"GET", "/v1/ledger/checkpoint?tree_size=1", reader, "tree_size"},
		{"POST", "/v1/signals?at=2030-01-01T00:00:00Z", writer, "at"},
		{"GET", "/v1/status?x=1", reader, "x"},
	} {
		var body any
		if c.method == "POST" {
			body = signal("q-"+c.param, "alice", 1)
		}
		r := h.do(c.method, c.path, c.token, body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
			continue
		}
		if p := r.problem(t); p.Field != c.param || !strings.Contains(p.Detail, c.param) {
			t.Errorf("%s %s: problem %+v does not name %s", c.method, c.path, p, c.param)
		}
	}
	// Nothing was written by the refused signal.
	if r := h.do("GET", "/v1/principals/alice/events", reader, nil); !strings.Contains(string(r.body), `"entries"`) ||
		strings.Contains(string(r.body), "q-at") {
		t.Errorf("the refused write reached the ledger: %s", r.body)
	}
	// The parameters a route does take still work.
	if r := h.do("GET", "/v1/alerts?principalId=alice&consistency=stale", reader, nil); r.status != http.StatusOK {
		t.Errorf("documented parameters: %d %s", r.status, r.body)
	}
}

// streamAudit opens the audit stream, makes a request, and reads the
// stream until the request's audit event arrives.
func streamAudit(t *testing.T, h *harness, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/audit/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("audit stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.do("GET", "/v1/principals/audited-nobody", h.token("reader"), nil)
	}()
	defer func() { <-done }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && strings.Contains(line, "/v1/principals/audited-nobody"):
			var e struct {
				ClassUID int `json:"class_uid"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil || e.ClassUID != 6003 || event != "audit" {
				t.Errorf("audit stream event %q: %s (%v)", event, line, err)
			}
			return
		}
	}
	t.Errorf("the audit stream did not carry the request's event: %v", sc.Err())
}
