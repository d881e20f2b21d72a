package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"github.com/trustledger/trustledger/internal/testnode"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
)

// rawExchange writes head (and nothing more) on a fresh connection to addr
// and reads until the server closes it, for at most guard. It returns what
// the server sent, how long until the connection closed, and whether it
// closed (false: still open at the guard).
func rawExchange(t *testing.T, addr, head string, guard time.Duration) (reply string, took time.Duration, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatalf("write the request head: %v", err)
	}
	_ = conn.SetReadDeadline(start.Add(guard))
	data, err := io.ReadAll(conn)
	took = time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(data), took, false
	}
	return string(data), took, true
}

// A client that announces a body and sends none (or part of one) has its
// connection closed once the body deadline passes, whether or not the
// route reads the body; a body that arrives in time is served.
func TestSlowBodyClosedWithinDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 400 * time.Millisecond
	h := newHarnessConfig(t, Config{BodyReadTimeout: deadline})
	h.register("alice", "user", "")
	writer := h.token("writer")
	addr := h.srv.Listener.Addr().String()
	// A body that arrives is served.
	h.mustJSON("POST", "/v1/signals", writer, signal("in-time", "alice", 1), http.StatusOK, nil)
	before := h.state()

	for _, c := range []struct {
		name, head string
		// status is the answer expected before the close (0: none
		// expected, the route never reads the body).
		status int
	}{
		{"read by the handler", "POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer +
			"\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n", http.StatusServiceUnavailable},
		{"part of a body", "POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer +
			"\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n{\"eventId\":", http.StatusServiceUnavailable},
		{"chunked", "POST /v1/signals HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + writer +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"eve", http.StatusServiceUnavailable},
		{"refused before reading", "POST /v1/signals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
			"Content-Length: 200000\r\n\r\n", 0},
		{"route without a body", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			reply, took, closed := rawExchange(t, addr, c.head, 10*time.Second)
			if !closed {
				t.Fatalf("the connection was still open after %s (deadline %s): %q", took, deadline, reply)
			}
			if took > deadline+2*time.Second {
				t.Errorf("the connection closed %s after the request, deadline %s", took, deadline)
			}
			if c.status != 0 {
				if !strings.HasPrefix(reply, "HTTP/1.1 "+strconv.Itoa(c.status)+" ") ||
					!strings.Contains(reply, ProblemTimeout.URI()) || !strings.Contains(reply, `"code":"body_timeout"`) {
					t.Errorf("answer before the close: %q", reply)
				}
				if took < deadline-50*time.Millisecond {
					t.Errorf("closed after %s, before the deadline %s", took, deadline)
				}
			}
		})
	}
	t.Cleanup(func() {
		if h.state() != before {
			t.Error("a request whose body never arrived changed the ledger")
		}
	})
}

// The body deadline does not cut what is meant to last: a blocking read
// waits longer than the deadline and then reads a body that was not
// buffered yet, and a ledger stream outlives both the body deadline and an
// http.Server ReadTimeout.
func TestLongResponsesOutliveBodyDeadline(t *testing.T) {
	t.Parallel()
	const deadline = 300 * time.Millisecond
	h := newHarnessConfig(t, Config{BodyReadTimeout: deadline, StreamHeartbeat: 50 * time.Millisecond})
	h.register("alice", "user", "")
	reader, auditor := h.token("reader"), h.token("auditor")
	// A server that sets ReadTimeout too, as an operator might.
	srv := httptest.NewUnstartedServer(h.api.Handler())
	srv.Config.ReadTimeout = deadline
	srv.Start()
	t.Cleanup(srv.Close)

	t.Run("blocking decision", func(t *testing.T) {
		t.Parallel()
		// 64 KiB of padding: more than the server buffers with the
		// headers, so the body is read from the connection after the wait.
		body := `{"principalId":"alice","action":"read","sensitivity":"low"` + strings.Repeat(" ", 64<<10) + `}`
		idx := h.node.AppliedIndex()
		for _, base := range []string{h.srv.URL, srv.URL} {
			req, _ := http.NewRequest("POST", base+"/v1/decisions?index="+strconv.FormatUint(idx, 10)+"&wait=1s", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+reader)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("blocking decision: %v", err)
			}
			data, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || time.Since(start) < 900*time.Millisecond {
				t.Errorf("blocking decision on %s: %d after %s: %s", base, resp.StatusCode, time.Since(start), data)
			}
		}
	})

	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		for _, base := range []string{h.srv.URL, srv.URL} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/ledger/stream", nil)
			req.Header.Set("Authorization", "Bearer "+auditor)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("stream: %d", resp.StatusCode)
			}
			// Read heart-beats for well past both deadlines.
			sc := bufio.NewScanner(resp.Body)
			start := time.Now()
			for time.Since(start) < 4*deadline {
				if !sc.Scan() {
					t.Fatalf("the stream on %s ended after %s: %v", base, time.Since(start), sc.Err())
				}
			}
			_ = resp.Body.Close()
			cancel()
		}
	})
}

// connCounter counts the connections an http.Server has open, and the most
// it had at once.
type connCounter struct {
	mu        sync.Mutex
	open, max int
}

func (c *connCounter) track(_ net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.open++
		c.max = max(c.max, c.open)
	case http.StateClosed, http.StateHijacked:
		c.open--
	}
}

func (c *connCounter) get() (open, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.max
}

// serveLimited serves handler on a fresh loopback listener capped at
// limit connections. It returns the address and the server's connection
// count.
func serveLimited(t *testing.T, handler http.Handler, limit int, headerTimeout time.Duration) (string, *connCounter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counter := &connCounter{}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: headerTimeout, IdleTimeout: time.Minute,
		ConnState: counter.track}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(LimitListener(ln, limit)) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), counter
}

// openGossipNode opens a single-voter node with Raft and gossip listening
// on loopback and waits for it to lead.
func openGossipNode(t *testing.T) *cluster.Node {
	t.Helper()
	node, err := cluster.Open(cluster.Config{NodeID: "n1", DataDir: filepath.Join(t.TempDir(), "data"), RaftAddr: "127.0.0.1:0",
		GossipAddr: "127.0.0.1:0", Region: "test", Bootstrap: true, Voter: true})
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	t.Cleanup(func() {
		if err := node.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatalf("wait for leader: %v", err)
	}
	return node
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// refusedPromptly reports whether a fresh connection to addr is closed by
// the server within d without an answer.
func refusedPromptly(t *testing.T, addr string, d time.Duration) bool {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return true // refused outright
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	_, err = conn.Read(b[:])
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// getStatus asks addr for /healthz on a new connection.
func getStatus(addr string) (int, error) {
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// 2,000 idle connections against an API capped at 256: the server never
// has more than 256 open, the rest are closed at once, the node's Raft and
// gossip listeners still accept, and a normal request is served once the
// idle connections go.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	const (
		limit = 256
		idle  = 2000
	)
	node := openGossipNode(t)
	if node.GossipAddr() == "" {
		t.Fatal("the node has no gossip listener")
	}
	api := New(Config{Registry: prometheus.NewRegistry()}, node)
	t.Cleanup(func() { _ = api.Close() })
	addr, counter := serveLimited(t, api.Handler(), limit, time.Minute)
	if code, err := getStatus(addr); err != nil || code != http.StatusOK {
		t.Fatalf("a request before the flood: %d %v", code, err)
	}

	conns := make([]net.Conn, 0, idle)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range idle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	waitUntil(t, 10*time.Second, "the server to hold its cap of connections", func() bool {
		open, _ := counter.get()
		return open == limit
	})
	// Every connection over the cap is closed by the server; the ones it
	// holds stay open.
	held := make(chan bool, idle)
	for _, c := range conns {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			var b [1]byte
			_, err := c.Read(b[:])
			var ne net.Error
			held <- errors.As(err, &ne) && ne.Timeout()
		}()
	}
	nHeld := 0
	for range idle {
		if <-held {
			nHeld++
		}
	}
	if nHeld != limit {
		t.Errorf("%d idle connections held open, want the cap %d", nHeld, limit)
	}
	if _, most := counter.get(); most > limit {
		t.Errorf("the server had %d connections open at once, cap %d", most, limit)
	}
	if !refusedPromptly(t, addr, 2*time.Second) {
		t.Error("a connection over the cap was left waiting")
	}
	// The node's own listeners are not the API's: they still accept.
	for name, a := range map[string]string{"raft": node.RaftAddr(), "gossip": node.GossipAddr()} {
		c, err := net.DialTimeout("tcp", a, 2*time.Second)
		if err != nil {
			t.Errorf("%s listener at %s during the flood: %v", name, a, err)
			continue
		}
		_ = c.Close()
	}
	if !node.IsLeader() {
		t.Error("the node lost leadership during the flood")
	}

	for _, c := range conns {
		_ = c.Close()
	}
	waitUntil(t, 10*time.Second, "a request to be served after the idle connections closed", func() bool {
		code, err := getStatus(addr)
		return err == nil && code == http.StatusOK
	})
	if _, most := counter.get(); most > limit {
		t.Errorf("the server had %d connections open at once, cap %d", most, limit)
	}
}

// Idle connections that never send a request are timed out by the
// server's ReadHeaderTimeout and give their slots back.
func TestConnectionCapFreedByTimeout(t *testing.T) {
	t.Parallel()
	const limit = 4
	h := newHarness(t)
	addr, counter := serveLimited(t, h.api.Handler(), limit, 300*time.Millisecond)
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	waitUntil(t, 5*time.Second, "the cap to fill", func() bool {
		open, _ := counter.get()
		return open == limit
	})
	if !refusedPromptly(t, addr, 250*time.Millisecond) {
		t.Error("a connection over the cap was left waiting")
	}
	waitUntil(t, 10*time.Second, "a request to be served once the idle connections timed out", func() bool {
		code, err := getStatus(addr)
		return err == nil && code == http.StatusOK
	})
	if _, most := counter.get(); most > limit {
		t.Errorf("the server had %d connections open at once, cap %d", most, limit)
	}
}

// LimitListener with no cap applies DefaultMaxConns and passes on the
// inner listener's errors.
func TestLimitListenerDefaults(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(ln, 0).(*limitListener)
	if cap(l.slots) != DefaultMaxConns {
		t.Errorf("cap %d, want DefaultMaxConns %d", cap(l.slots), DefaultMaxConns)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.slots) != 1 {
		t.Errorf("%d slots taken after one accept", len(l.slots))
	}
	_ = got.Close()
	_ = got.Close()
	if len(l.slots) != 0 {
		t.Errorf("%d slots taken after closing twice", len(l.slots))
	}
	_ = l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("accept on a closed listener: %v", err)
	}
}

// metricsSize returns the size of /metrics.
func metricsSize(t *testing.T, h *harness) (int, string) {
	t.Helper()
	r := h.do("GET", "/metrics", h.admin, nil)
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	return len(r.body), string(r.body)
}

// 3,000 requests with made-up methods and paths add a bounded handful of
// series to /metrics, never one per method or path.
func TestMetricsBoundedUnderRandomMethods(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before, _ := metricsSize(t, h)
	rng := rand.New(rand.NewPCG(9, 9)) // #nosec G404 -- reproducible made-up methods, not secrets
	word := func(n int, letters string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	methods := []string{}
	for i := range 3000 {
		method := word(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
		switch i % 4 {
		case 1:
			method = "GET"
		case 2:
			method = "DELETE"
		}
		if i%4 != 1 && i%4 != 2 {
			methods = append(methods, method)
		}
		req, err := http.NewRequest(method, h.srv.URL+"/"+word(12, "abcdefghijklmnopqrstuvwxyz0123456789")+
			"/"+strconv.Itoa(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s: %d", method, req.URL.Path, resp.StatusCode)
		}
	}
	after, text := metricsSize(t, h)
	// A new series of the latency histogram is about 1.5 KB; the random
	// requests may add a few (unmatched × {GET, DELETE, other}, and their
	// counters by {404, 405}).
	if after-before > 16<<10 {
		t.Errorf("/metrics grew from %d to %d bytes under random methods and paths", before, after)
	}
	for _, m := range methods[:50] {
		if strings.Contains(text, m) {
			t.Fatalf("/metrics names the made-up method %s", m)
		}
	}
	if !strings.Contains(text, `method="other"`) || !strings.Contains(text, `route="unmatched"`) {
		t.Error(`/metrics lacks the method="other" and route="unmatched" series`)
	}
}

// Labels come from fixed sets.
func TestMetricLabels(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"GET", "GET"}, {"OPTIONS", "OPTIONS"}, {"get", "other"}, {"CONNECT", "other"}, {"BREW", "other"}, {"", "other"},
	} {
		if got := methodLabel(c.in); got != c.want {
			t.Errorf("methodLabel(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"/v1/principals/{id}", "/v1/principals/{id}"}, {"unmatched", "unmatched"}, {"/v1/principals/alice", "unmatched"},
	} {
		if got := routeLabel(c.in); got != c.want {
			t.Errorf("routeLabel(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   int
		want string
	}{{200, "200"}, {429, "429"}, {418, "4xx"}, {299, "2xx"}, {99, "other"}, {1000, "other"}, {-1, "other"}} {
		if got := statusLabel(c.in); got != c.want {
			t.Errorf("statusLabel(%d) = %q, want %q", c.in, got, c.want)
		}
	}
}

// stream is an open /v1/ledger/stream.
type stream struct {
	resp   *http.Response
	cancel context.CancelFunc
	ended  chan time.Time // gets the time the body reached its end
}

// openStream opens a ledger stream on base with token. It returns the
// stream when the server answers 200, else the answer.
func openStream(t *testing.T, base, token string) (*stream, response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/ledger/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open a stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return nil, response{status: resp.StatusCode, header: resp.Header, body: data}
	}
	s := &stream{resp: resp, cancel: cancel, ended: make(chan time.Time, 1)}
	go func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.ended <- time.Now()
	}()
	t.Cleanup(s.close)
	return s, response{status: resp.StatusCode, header: resp.Header}
}

func (s *stream) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// newToken creates a token of role through the API and returns its id and
// secret.
func (h *harness) newToken(role string) (id, secret string) {
	h.t.Helper()
	var out struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/v1/tokens", h.admin, map[string]any{"role": role}, http.StatusCreated, &out)
	return out.ID, out.Token
}

// A token has at most MaxStreamsPerToken streams open and the node at most
// MaxStreamsPerNode; over either the answer is 429 rate-limited with
// Retry-After, and a closed stream frees its slot.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	h := newHarnessConfig(t, Config{MaxStreamsPerToken: 2, MaxStreamsPerNode: 3})
	aID, a := h.newToken("auditor")
	_, b := h.newToken("auditor")
	overCap := func(token, code string) {
		t.Helper()
		s, r := openStream(t, h.srv.URL, token)
		if s != nil {
			t.Fatalf("a stream over the cap (%s) was opened", code)
		}
		p := r.problem(t)
		if r.status != http.StatusTooManyRequests || p.Type != ProblemRateLimited.URI() || p.Code != code ||
			r.header.Get("Retry-After") == "" {
			t.Errorf("over the cap: %d %s code %q Retry-After %q: %s", r.status, p.Type, p.Code, r.header.Get("Retry-After"), p.Detail)
		}
	}
	var streams []*stream
	for range 2 {
		s, r := openStream(t, h.srv.URL, a)
		if s == nil {
			t.Fatalf("stream within the cap: %d %s", r.status, r.body)
		}
		streams = append(streams, s)
	}
	overCap(a, "token_streams")
	if s, r := openStream(t, h.srv.URL, b); s == nil {
		t.Fatalf("another token's stream: %d %s", r.status, r.body)
	}
	overCap(b, "node_streams")
	if _, text := metricsSize(t, h); !strings.Contains(text, `trustledger_api_streams_refused_total{reason="token"} 1`) ||
		!strings.Contains(text, `trustledger_api_streams_refused_total{reason="node"} 1`) {
		t.Error("/metrics does not count the refused streams")
	}

	streams[0].close()
	waitUntil(t, 5*time.Second, "the closed stream's slot to free", func() bool {
		ofToken, _ := h.api.streams.open(aID)
		return ofToken == 1
	})
	if s, r := openStream(t, h.srv.URL, a); s == nil {
		t.Fatalf("a stream after one closed: %d %s", r.status, r.body)
	}
}

// A stream ends within 2 s of its token's revocation, on the node that
// revoked it and on a follower; other tokens' streams go on.
func TestStreamEndsOnRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	f := newFollower(t, h, Config{})
	id, secret := h.newToken("auditor")
	_, other := h.newToken("auditor")
	waitUntil(t, 10*time.Second, "the follower to apply the tokens", func() bool {
		return f.node.AppliedIndex() >= h.node.AppliedIndex()
	})
	onLeader, r := openStream(t, h.srv.URL, secret)
	if onLeader == nil {
		t.Fatalf("stream on the leader: %d %s", r.status, r.body)
	}
	onFollower, r := openStream(t, f.srv.URL, secret)
	if onFollower == nil {
		t.Fatalf("stream on the follower: %d %s", r.status, r.body)
	}
	kept, r := openStream(t, h.srv.URL, other)
	if kept == nil {
		t.Fatalf("other stream: %d %s", r.status, r.body)
	}

	revoked := time.Now()
	h.mustJSON("DELETE", "/v1/tokens/"+id, h.admin, nil, http.StatusOK, nil)
	for name, s := range map[string]*stream{"leader": onLeader, "follower": onFollower} {
		select {
		case at := <-s.ended:
			if d := at.Sub(revoked); d > 2*time.Second {
				t.Errorf("the stream on the %s ended %s after the revocation", name, d)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("the stream on the %s is still open 2 s after its token was revoked", name)
		}
	}
	select {
	case <-kept.ended:
		t.Error("another token's stream ended")
	default:
	}
	if s, r := openStream(t, h.srv.URL, secret); s != nil || r.status != http.StatusUnauthorized {
		t.Errorf("a stream with the revoked token: %d", r.status)
	}
}

// newFollower adds a read replica n2 to h's cluster (a non-voter, so
// that h alone stays the quorum and its leadership steady) and serves its
// API with cfg. It has no gossip, so it forwards nothing: it answers stale
// reads and streams itself.
func newFollower(t *testing.T, h *harness, cfg Config) *harness {
	t.Helper()
	n2, err := cluster.Open(cluster.Config{NodeID: "n2", DataDir: filepath.Join(t.TempDir(), "n2"), RaftAddr: "127.0.0.1:0",
		Region: "remote", Voter: false})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n2.Close() })
	testnode.Admit(t, h.node, n2) // the identity a join through the API would hand out
	if err := h.node.Raft().AddNonvoter(raft.ServerID("n2"), raft.ServerAddress(n2.RaftAddr()), 0, 10*time.Second).Error(); err != nil {
		t.Fatalf("add the replica: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n2.WaitForIndex(ctx, h.node.AppliedIndex()); err != nil {
		t.Fatalf("follower catch-up: %v", err)
	}
	if err := n2.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := New(cfg, n2)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { _ = s.Close(); srv.Close() })
	return &harness{t: t, node: n2, api: s, srv: srv, admin: h.admin, audit: h.audit, tokens: h.tokens}
}

// A follower that has lost its leader refuses stale reads once it has not
// heard from it for DefaultMaxStale, with or without max_stale; a larger
// max_stale does not loosen the bound, a smaller one tightens it.
func TestStaleReadDefaultBound(t *testing.T) {
	t.Parallel()
	const bound = time.Second
	h := newHarness(t)
	h.register("alice", "user", "")
	reader := h.token("reader")
	f := newFollower(t, h, Config{DefaultMaxStale: bound})

	get := func(query string) response {
		t.Helper()
		return f.do("GET", "/v1/principals/alice?consistency=stale"+query, reader, nil)
	}
	for _, q := range []string{"", "&max_stale=1h"} {
		if r := get(q); r.status != http.StatusOK {
			t.Fatalf("stale read%s on a follower in touch with its leader: %d %s", q, r.status, r.body)
		}
	}
	if r := get("&max_stale=1ns"); r.status != http.StatusServiceUnavailable || r.problem(t).Type != ProblemStaleRead.URI() {
		t.Errorf("max_stale=1ns: %d %s", r.status, r.body)
	}

	// The leader, the only voter, goes.
	lost := time.Now()
	if err := h.node.Close(); err != nil {
		t.Fatalf("stop the leader: %v", err)
	}
	waitUntil(t, 10*time.Second, "the follower to refuse stale reads", func() bool {
		return get("").status == http.StatusServiceUnavailable
	})
	if since := time.Since(lost); since < bound/2 {
		t.Errorf("stale reads refused %s after the leader went, bound %s", since, bound)
	}
	for _, q := range []string{"", "&max_stale=1h", "&max_stale=10ms"} {
		r := get(q)
		p := r.problem(t)
		if r.status != http.StatusServiceUnavailable || p.Type != ProblemStaleRead.URI() || r.header.Get("Retry-After") == "" ||
			p.Field != "max_stale" {
			t.Errorf("stale read%s without a leader: %d %+v", q, r.status, p)
		}
	}
	if r := get("&max_stale=1h"); !bytes.Contains(r.body, []byte(bound.String())) {
		t.Errorf("the refusal does not name the node's bound %s: %s", bound, r.body)
	}
	if r := get("&max_stale=x"); r.status != http.StatusBadRequest {
		t.Errorf("max_stale=x: %d", r.status)
	}
}
