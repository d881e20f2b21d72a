package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const token = "s3cr3t-token-value"

// server is a test server that records what it was sent.
type server struct {
	*httptest.Server
	hits     atomic.Int32
	newConns atomic.Int32
	mu       sync.Mutex
	auth     []string // the Authorization header of each request
	agents   []string
	protos   []int
}

// newServer starts a plain-http server on 127.0.0.1 running h after
// recording the request.
func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(s.record(h))
	s.Config.ConnState = s.connState
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// newTLSServer starts an https server (HTTP/2 enabled) whose certificate
// names example.com and 127.0.0.1.
func newTLSServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(s.record(h))
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *server) record(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.agents = append(s.agents, r.Header.Get("User-Agent"))
		s.protos = append(s.protos, r.ProtoMajor)
		s.mu.Unlock()
		h(w, r)
	}
}

func (s *server) connState(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		s.newConns.Add(1)
	}
}

func (s *server) authSeen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

func (s *server) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func jsonHandler(v any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// resolveTo is a Resolver answering every name in names with ip.
func resolveTo(ip string, names ...string) Resolver {
	return func(_ context.Context, host string) ([]net.IP, error) {
		for _, n := range names {
			if strings.EqualFold(n, host) {
				return []net.IP{net.ParseIP(ip)}, nil
			}
		}
		return nil, fmt.Errorf("no such host %s", host)
	}
}

// noToken fails the test if err's message carries the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), token) {
		t.Errorf("error carries the bearer token: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxURLLength)
	cases := []struct {
		url      string
		insecure bool
		want     string // a fragment of the refusal, "" when accepted
	}{
		{"https://example.com/.well-known/ssf-configuration", false, ""},
		{"https://EXAMPLE.com:8443/jwks?x=1", false, ""},
		{"HTTPS://example.com/", false, ""},
		{"https://127.0.0.1/", false, ""},
		{"http://127.0.0.1:8080/events", false, ""},
		{"http://127.1.2.3/", false, ""},
		{"http://[::1]:9000/", false, ""},
		{"http://[::ffff:127.0.0.1]:9000/", false, ""},
		{"http://localhost:8080/", false, ""},
		{"http://LocalHost/", false, ""},
		{"http://partner.example.com/", true, ""},
		{"http://10.0.0.1/", true, ""},
		{"https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/")), false, ""},

		{"", false, "empty"},
		{long, false, "at most 2048"},
		{"http://partner.example.com/", false, "only to a loopback host"},
		{"http://10.0.0.1/", false, "only to a loopback host"},
		{"http://localhost.evil.com/", false, "only to a loopback host"},
		{"http://127.0.0.1.nip.io/", false, "only to a loopback host"},
		{"http://0.0.0.0/", false, "only to a loopback host"},
		{"http://[::]/", false, "only to a loopback host"},
		{"http://2130706433/", false, "only to a loopback host"},
		{"ftp://example.com/", false, "scheme \"ftp\""},
		{"file:///etc/passwd", true, "scheme \"file\""},
		{"javascript:alert(1)", true, "scheme \"javascript\""},
		{"example.com/path", false, "scheme \"\""},
		{"//example.com/path", false, "scheme \"\""},
		{"https://user:hunter2@example.com/", false, "user name or password"},
		{"https://user@example.com/", true, "user name or password"},
		{"https://example.com/#frag", false, "fragment"},
		{"https://example.com/#", false, "fragment"},
		{"https:///path", false, "no host"},
		{"https://:443/", false, "no host"},
		{"https:example.com", false, "no host"},
		{"https://example.com:0/", false, "port \"0\""},
		{"https://example.com:70000/", false, "port \"70000\""},
		{"https://exa mple.com/", false, "not a valid URL"},
		{"https://example.com/\x00", false, "not a valid URL"},
		{"https://example.com:abc/", false, "not a valid URL"},
	}
	for _, tc := range cases {
		u, err := Policy{AllowInsecure: tc.insecure}.CheckURL(tc.url)
		name := tc.url
		if len(name) > 60 {
			name = name[:60] + "..."
		}
		if tc.want == "" {
			if err != nil || u == nil {
				t.Errorf("CheckURL(%q, insecure=%v) = %v, want accepted", name, tc.insecure, err)
			}
			continue
		}
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Errorf("CheckURL(%q, insecure=%v) = %v, want a *URLError", name, tc.insecure, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckURL(%q) = %q, want it to say %q", name, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckURL(%q) repeats the password: %q", name, err)
		}
	}
}

func TestHTTPToLoopback(t *testing.T) {
	srv := newServer(t, jsonHandler(map[string]string{"issuer": "https://tx.example"}))
	c := New(Policy{}, Options{})
	var got struct{ Issuer string }
	if err := c.GetJSON(context.Background(), srv.URL+"/.well-known/ssf-configuration", token, &got); err != nil {
		t.Fatalf("GetJSON over http to 127.0.0.1: %v", err)
	}
	if got.Issuer != "https://tx.example" {
		t.Errorf("decoded %+v", got)
	}
	if auth := srv.authSeen(); len(auth) != 1 || auth[0] != "Bearer "+token {
		t.Errorf("server saw Authorization %q, want one %q", auth, "Bearer "+token)
	}
	if ua := srv.agents[0]; !strings.HasPrefix(ua, "trustledger/") {
		t.Errorf("User-Agent %q, want trustledger/<version>", ua)
	}
	// No bearer, no header.
	if err := c.GetJSON(context.Background(), srv.URL, "", nil); err != nil {
		t.Fatal(err)
	}
	if auth := srv.authSeen(); auth[1] != "" {
		t.Errorf("GetJSON with no bearer sent Authorization %q", auth[1])
	}
}

func TestHTTPToNonLoopbackName(t *testing.T) {
	srv := newServer(t, jsonHandler(map[string]int{"n": 1}))
	target := "http://partner.test:" + srv.port(t) + "/jwks"
	resolver := resolveTo("127.0.0.1", "partner.test")

	if _, err := (Policy{}).CheckURL(target); err == nil {
		t.Fatal("CheckURL accepted http to a name that is not localhost")
	}
	c := New(Policy{}, Options{Resolver: resolver})
	if err := c.GetJSON(context.Background(), target, token, nil); err == nil {
		t.Fatal("GetJSON sent http to a name that is not localhost")
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(req)
	var ue *URLError
	if !errors.As(err, &ue) {
		t.Fatalf("Do = %v, want a *URLError", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests", n)
	}

	// An operator's AllowInsecure lets it through.
	ci := New(Policy{AllowInsecure: true}, Options{Resolver: resolver})
	var got map[string]int
	if err := ci.GetJSON(context.Background(), target, token, &got); err != nil {
		t.Fatalf("AllowInsecure: %v", err)
	}
	if got["n"] != 1 || srv.hits.Load() != 1 {
		t.Fatalf("AllowInsecure: got %v, %d hits", got, srv.hits.Load())
	}
}

// A resolver that answers localhost with an address other than loopback
// must not get a plain-http connection: 0.0.0.0 (which Linux connects to
// this machine, so a broken check reaches the test server rather than the
// network) is refused at dial time.
func TestDialTimeLoopbackCheck(t *testing.T) {
	srv := newServer(t, jsonHandler(map[string]int{"n": 1}))
	target := "http://localhost:" + srv.port(t) + "/"

	good := New(Policy{}, Options{Resolver: resolveTo("127.0.0.1", "localhost")})
	if err := good.GetJSON(context.Background(), target, "", nil); err != nil {
		t.Fatalf("localhost resolving to 127.0.0.1: %v", err)
	}

	bad := New(Policy{}, Options{Resolver: resolveTo("0.0.0.0", "localhost")})
	err := bad.GetJSON(context.Background(), target, token, nil)
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("localhost resolving to 0.0.0.0: %v, want ErrNotLoopback", err)
	}
	noToken(t, err)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("the server got %d requests, want only the good one", n)
	}
}

func TestCheckLoopbackDial(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:80":         true,
		"127.200.3.4:8080":     true,
		"[::1]:443":            true,
		"[::ffff:127.0.0.1]:1": true,
		"192.0.2.1:80":         false,
		"10.0.0.1:80":          false,
		"0.0.0.0:80":           false,
		"[::]:80":              false,
		"[::ffff:10.0.0.1]:80": false,
		"[fe80::1%lo]:80":      false,
		"localhost:80":         false,
		"127.0.0.1":            false,
	} {
		err := checkLoopbackDial("tcp", addr, nil)
		if ok && err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
		if !ok && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v, want ErrNotLoopback", addr, err)
		}
	}
}

// Over https a name resolving to loopback is fine, the certificate is
// verified, and HTTP/2 is negotiated.
func TestHTTPS(t *testing.T) {
	srv := newTLSServer(t, jsonHandler(map[string]bool{"ok": true}))
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	c := New(Policy{}, Options{RootCAs: roots, Resolver: resolveTo("127.0.0.1", "example.com")})
	var got map[string]bool
	if err := c.GetJSON(context.Background(), "https://example.com:"+srv.port(t)+"/", token, &got); err != nil {
		t.Fatalf("https to a name resolving to loopback: %v", err)
	}
	if !got["ok"] || srv.protos[0] != 2 {
		t.Errorf("got %v over HTTP/%d, want HTTP/2", got, srv.protos[0])
	}
	// Not trusted: the system roots do not know the test CA.
	untrusted := New(Policy{}, Options{})
	err := untrusted.GetJSON(context.Background(), srv.URL, token, nil)
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) {
		t.Fatalf("untrusted certificate: %v", err)
	}
	noToken(t, err)
}

func TestTransportSettings(t *testing.T) {
	c := New(Policy{}, Options{})
	for name, tr := range map[string]*http.Transport{"plain": c.transport.plain, "tls": c.transport.tls} {
		if tr.Proxy != nil {
			t.Errorf("%s: a proxy function is set", name)
		}
		if tr.MaxConnsPerHost != maxConnsPerHost || tr.MaxIdleConnsPerHost != maxIdleConnsPerHost ||
			tr.ResponseHeaderTimeout != DefaultTimeout || tr.IdleConnTimeout == 0 {
			t.Errorf("%s: limits %d/%d, header timeout %s, idle %s", name,
				tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, tr.ResponseHeaderTimeout, tr.IdleConnTimeout)
		}
	}
	if v := c.transport.tls.TLSClientConfig.MinVersion; v != tls.VersionTLS12 {
		t.Errorf("TLS minimum %x", v)
	}
	o := Options{}.withDefaults()
	if o.Timeout != 10*time.Second || o.MaxResponseBytes != 1<<20 || o.MaxRedirects != 0 || !strings.HasPrefix(o.UserAgent, "trustledger/") {
		t.Errorf("defaults %+v", o)
	}
}

// redirectPair is a server redirecting every request to a second one.
func redirectPair(t *testing.T, code int) (first, second *server) {
	second = newServer(t, jsonHandler(map[string]string{"at": "second"}))
	first = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/landed", code)
			return
		}
		if r.URL.Path == "/landed" {
			jsonHandler(map[string]string{"at": "first"})(w, r)
			return
		}
		http.Redirect(w, r, second.URL+"/target?k=v", code)
	})
	return first, second
}

func TestRedirectRefused(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		first, second := redirectPair(t, code)
		c := New(Policy{}, Options{})
		err := c.GetJSON(context.Background(), first.URL+"/start", token, nil)
		if !errors.Is(err, ErrRedirect) {
			t.Fatalf("%d: %v, want ErrRedirect", code, err)
		}
		noToken(t, err)
		_, err = c.PostJSON(context.Background(), first.URL+"/start", token, map[string]int{"a": 1}, nil)
		if !errors.Is(err, ErrRedirect) {
			t.Fatalf("%d POST: %v, want ErrRedirect", code, err)
		}
		req, _ := http.NewRequest(http.MethodPost, first.URL+"/start", strings.NewReader("jwt"))
		req.Header.Set("Authorization", "SSF "+token)
		if _, err := c.Do(req); !errors.Is(err, ErrRedirect) {
			t.Fatalf("%d Do: %v, want ErrRedirect", code, err)
		}
		if n := second.hits.Load(); n != 0 {
			t.Fatalf("%d: the redirect target got %d requests (Authorization %q)", code, n, second.authSeen())
		}
		if n := first.hits.Load(); n != 3 {
			t.Fatalf("%d: the first server got %d requests, want 3", code, n)
		}
	}
}

// With redirects allowed, the Authorization header stays on the origin:
// another port of the same host does not get it.
func TestRedirectAllowedDropsAuthorization(t *testing.T) {
	first, second := redirectPair(t, http.StatusTemporaryRedirect)
	c := New(Policy{}, Options{MaxRedirects: 1})
	var got map[string]string
	if err := c.GetJSON(context.Background(), first.URL+"/start", token, &got); err != nil {
		t.Fatal(err)
	}
	if got["at"] != "second" {
		t.Fatalf("landed at %v", got)
	}
	if auth := second.authSeen(); len(auth) != 1 || auth[0] != "" {
		t.Fatalf("the redirect target saw Authorization %q", auth)
	}
	// Same origin: the header is kept.
	if err := c.GetJSON(context.Background(), first.URL+"/same", token, &got); err != nil || got["at"] != "first" {
		t.Fatalf("same-origin redirect: %v %v", got, err)
	}
	if auth := first.authSeen(); auth[len(auth)-1] != "Bearer "+token {
		t.Fatalf("same-origin redirect lost Authorization: %q", auth)
	}
	// Two redirects are one too many.
	chain := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, first.URL+"/start", http.StatusFound)
	})
	if err := c.GetJSON(context.Background(), chain.URL, token, nil); !errors.Is(err, ErrRedirect) {
		t.Fatalf("two redirects with MaxRedirects 1: %v", err)
	}
	// A redirect must pass the policy too.
	off := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://partner.test/", http.StatusFound)
	})
	var ue *URLError
	if err := c.GetJSON(context.Background(), off.URL, token, nil); !errors.Is(err, ErrRedirect) || !errors.As(err, &ue) {
		t.Fatalf("redirect to http off loopback: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	const limit = 1000
	for _, chunked := range []bool{false, true} {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			n := limit
			switch {
			case r.URL.Path == "/big" && chunked:
				// Still sending when the client stops reading: the
				// connection cannot be reused.
				n = 20 * limit
			case r.URL.Path == "/big":
				n = limit + 1 // announced, so refused before reading
			}
			if !chunked {
				w.Header().Set("Content-Length", fmt.Sprint(n))
			}
			for i := 0; i < n; i += 100 {
				_, _ = w.Write([]byte(strings.Repeat("x", min(100, n-i))))
				if chunked {
					w.(http.Flusher).Flush()
				}
			}
		})
		c := New(Policy{}, Options{MaxResponseBytes: limit})
		do := func(path string) (*Response, error) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			return c.Do(req)
		}
		resp, err := do("/fits")
		if err != nil || len(resp.Body) != limit {
			t.Fatalf("chunked=%v: a body of exactly the limit: %v", chunked, err)
		}
		if _, err := do("/fits"); err != nil {
			t.Fatal(err)
		}
		if n := srv.newConns.Load(); n != 1 {
			t.Fatalf("chunked=%v: %d connections for two small responses, want 1 reused", chunked, n)
		}
		if _, err := do("/big"); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("chunked=%v: a body over the limit: %v, want ErrTooLarge", chunked, err)
		}
		if _, err := do("/fits"); err != nil {
			t.Fatal(err)
		}
		if n := srv.newConns.Load(); n != 2 {
			t.Fatalf("chunked=%v: %d connections, want the oversize one closed and a new one made", chunked, n)
		}
	}
}

func TestTimeout(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	srv := newServer(t, stall)
	c := New(Policy{}, Options{Timeout: 200 * time.Millisecond})
	for _, path := range []string{"/headers", "/body"} {
		start := time.Now()
		err := c.GetJSON(context.Background(), srv.URL+path, token, nil)
		elapsed := time.Since(start)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("%s: %v, want ErrTimeout", path, err)
		}
		if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
			t.Fatalf("%s: timed out after %s, want about 200ms", path, elapsed)
		}
		noToken(t, err)
	}
}

func TestStatusError(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		// A server echoing the credential, and a long body.
		_, _ = io.WriteString(w, "denied: "+r.Header.Get("Authorization")+" "+strings.Repeat("é", 600))
	})
	c := New(Policy{}, Options{})
	err := c.GetJSON(context.Background(), srv.URL+"/x?access_token=q", token, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("%v, want a 403 *StatusError", err)
	}
	if len(se.Body) > 512 || !strings.HasPrefix(se.Body, "denied: Bearer [redacted] é") {
		t.Errorf("body %d bytes: %.60q", len(se.Body), se.Body)
	}
	noToken(t, err)
	if strings.Contains(err.Error(), "access_token") {
		t.Errorf("error carries the query: %v", err)
	}
	status, err := c.PostJSON(context.Background(), srv.URL, token, map[string]int{}, nil)
	if status != http.StatusForbidden || !errors.As(err, &se) {
		t.Fatalf("PostJSON: %d %v", status, err)
	}
	noToken(t, err)
}

func TestJSONDecoding(t *testing.T) {
	bodies := map[string]string{
		"/ok":       `{"a":1}` + "\n",
		"/trailing": `{"a":1} {"a":2}`,
		"/garbage":  `{"a":1}x`,
		"/empty":    ``,
		"/invalid":  `{"a":`,
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, bodies[r.URL.Path])
	})
	c := New(Policy{}, Options{})
	for path := range bodies {
		var got struct{ A int }
		err := c.GetJSON(context.Background(), srv.URL+path, "", &got)
		if (err == nil) != (path == "/ok") {
			t.Errorf("%s: %v", path, err)
		}
		if path == "/ok" && got.A != 1 {
			t.Errorf("%s: decoded %+v", path, got)
		}
	}
}

func TestPostJSON(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/streams":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]string{"stream_id": "s-" + in["aud"]})
		case "/verify":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		}
	})
	c := New(Policy{}, Options{})
	ctx := context.Background()
	var out struct {
		StreamID string `json:"stream_id"`
	}
	status, err := c.PostJSON(ctx, srv.URL+"/streams", token, map[string]string{"aud": "rp"}, &out)
	if err != nil || status != http.StatusCreated || out.StreamID != "s-rp" {
		t.Fatalf("create: %d %+v %v", status, out, err)
	}
	if status, err = c.PostJSON(ctx, srv.URL+"/verify", token, map[string]string{}, &out); err != nil || status != http.StatusNoContent {
		t.Fatalf("204: %d %v", status, err)
	}
	status, err = c.PostJSON(ctx, srv.URL+"/fail", token, map[string]string{}, &out)
	var se *StatusError
	if status != http.StatusInternalServerError || !errors.As(err, &se) || se.Body != `{"error":"boom"}` {
		t.Fatalf("500: %d %v", status, err)
	}
	if status, err = c.PostJSON(ctx, srv.URL+"/streams", token, func() {}, nil); err == nil || status != 0 {
		t.Fatalf("an unencodable body: %d %v", status, err)
	}
	if auth := srv.authSeen(); auth[0] != "Bearer "+token {
		t.Errorf("Authorization %q", auth[0])
	}
}

// Do sends the caller's full Authorization value as it is, and leaves the
// caller's request unmodified.
func TestDoFullAuthorization(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Seen", "yes")
		w.WriteHeader(http.StatusAccepted)
	})
	c := New(Policy{}, Options{UserAgent: "test-agent"})
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/events", strings.NewReader("a.b.c"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSF-Receiver "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Seen") != "yes" {
		t.Errorf("response %d %v", resp.StatusCode, resp.Header)
	}
	if auth := srv.authSeen(); auth[0] != "SSF-Receiver "+token || srv.agents[0] != "test-agent" {
		t.Errorf("server saw Authorization %q, User-Agent %q", auth[0], srv.agents[0])
	}
	if req.Header.Get("User-Agent") != "" {
		t.Error("Do modified the caller's request")
	}
}

func TestBearerRefused(t *testing.T) {
	srv := newServer(t, jsonHandler(map[string]int{}))
	c := New(Policy{}, Options{})
	err := c.GetJSON(context.Background(), srv.URL, token+"\r\nX-Injected: 1", nil)
	if err == nil || srv.hits.Load() != 0 {
		t.Fatalf("a token with CRLF: %v, %d hits", err, srv.hits.Load())
	}
	noToken(t, err)
}

// Link-local (cloud metadata), multicast and unspecified addresses are
// refused at dial time, over https as over http.
func TestForbiddenAddresses(t *testing.T) {
	for _, addr := range []string{"169.254.169.254:443", "[fe80::1]:443", "224.0.0.1:443", "0.0.0.0:443", "[::ffff:169.254.169.254]:443"} {
		if err := checkForbiddenDial("tcp", addr, nil); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v, want ErrForbiddenAddress", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.1:443", "127.0.0.1:443", "[2001:db8::1]:443"} {
		if err := checkForbiddenDial("tcp", addr, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	c := New(Policy{}, Options{Timeout: 500 * time.Millisecond})
	err := c.GetJSON(context.Background(), "https://169.254.169.254/latest/meta-data", "", nil)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("https to the metadata address: %v", err)
	}
}
