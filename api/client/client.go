package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Client talks to one trustd node. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	timeout   time.Duration
	userAgent string
	// certIgnored holds what a node said about a client certificate it
	// did not use (X-Trust-Client-Certificate).
	certIgnored atomic.Pointer[string]
}

// ClientCertificateIgnored returns, once a node has said so, why the
// client certificate this client presents was not used ("" otherwise):
// a certificate from neither the cluster CA nor the node's client CA is
// ignored, and the token alone authenticates.
func (c *Client) ClientCertificateIgnored() string {
	if p := c.certIgnored.Load(); p != nil {
		return *p
	}
	return ""
}

// noteAnswer records what an answer's headers say about the client.
func (c *Client) noteAnswer(resp *http.Response) {
	if v := resp.Header.Get("X-Trust-Client-Certificate"); v != "" && c.certIgnored.Load() == nil {
		c.certIgnored.Store(&v)
	}
}

// New returns a Client for cfg. It fails when the address does not parse,
// the token file cannot be read, or the TLS files do not load.
func New(cfg Config) (*Client, error) {
	base, err := ParseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(cfg.Token)
	if tok == "" && cfg.TokenFile != "" {
		if tok, err = ReadTokenFile(cfg.TokenFile); err != nil {
			return nil, err
		}
	}
	hc, err := cfg.httpClient()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "trustledger-client"
	}
	return &Client{base: base, token: tok, http: hc, timeout: timeout, userAgent: ua}, nil
}

// Address returns the node's base URL.
func (c *Client) Address() string { return c.base.String() }

// Meta is what the consistency headers of a read say (docs/api.md, "Reads").
type Meta struct {
	// Index is X-Trust-Index: the ledger index the answer reflects. Pass
	// it as ReadOptions.WaitIndex for a blocking read.
	Index uint64
	// KnownLeader is X-Trust-Known-Leader: whether the serving node knew
	// of a leader.
	KnownLeader bool
	// LastContact is X-Trust-Last-Contact: how long ago the serving node
	// last heard from the leader (zero on the leader, negative when it
	// never has).
	LastContact time.Duration
	// EvaluatedAt is X-Trust-Evaluated-At: the instant scores were
	// evaluated at (RFC 3339), on reads that evaluate scores.
	EvaluatedAt string
	// EvaluationClock is X-Trust-Evaluation-Clock: "request" when the
	// instant came from ReadOptions.At, "node" when from the node's clock.
	EvaluationClock string
	// ServedBy is X-Trust-Served-By: the node that answered (the leader,
	// when the node asked forwarded the request).
	ServedBy string
}

func parseMeta(h http.Header) *Meta {
	m := &Meta{}
	if v := h.Get("X-Trust-Index"); v != "" {
		m.Index, _ = strconv.ParseUint(v, 10, 64)
	}
	m.KnownLeader = h.Get("X-Trust-Known-Leader") == "true"
	if v := h.Get("X-Trust-Last-Contact"); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			m.LastContact = time.Duration(ms) * time.Millisecond
		}
	}
	m.EvaluatedAt = h.Get("X-Trust-Evaluated-At")
	m.EvaluationClock = h.Get("X-Trust-Evaluation-Clock")
	m.ServedBy = h.Get("X-Trust-Served-By")
	return m
}

// Consistency levels of reads (docs/api.md, "Reads").
const (
	// ConsistencyDefault: answered by the leader (a follower forwards).
	ConsistencyDefault = "default"
	// ConsistencyStale: answered from the serving node's own state.
	ConsistencyStale = "stale"
	// ConsistencyLinearizable: the leader confirms its leadership with a
	// quorum and catches up with the commit index first.
	ConsistencyLinearizable = "linearizable"
)

// ReadOptions are the options common to reads. A nil *ReadOptions means
// the defaults.
type ReadOptions struct {
	// Consistency is one of the Consistency* constants; empty means the
	// server's default.
	Consistency string
	// At evaluates scores at this instant instead of the serving node's
	// clock (records, lists, decisions). The zero time means now.
	At time.Time
	// WaitIndex and WaitTime make a blocking read: the answer comes when
	// the node's applied index passes WaitIndex, or after WaitTime.
	WaitIndex uint64
	WaitTime  time.Duration
}

// FormatTime formats an instant the way the API expects it: RFC 3339 in
// UTC with milliseconds.
func FormatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (o *ReadOptions) apply(q url.Values) {
	if o == nil {
		return
	}
	if o.Consistency != "" {
		q.Set("consistency", o.Consistency)
	}
	if !o.At.IsZero() {
		q.Set("at", FormatTime(o.At))
	}
	if o.WaitIndex > 0 {
		q.Set("index", strconv.FormatUint(o.WaitIndex, 10))
	}
	if o.WaitTime > 0 {
		q.Set("wait", o.WaitTime.String())
	}
}

func (o *ReadOptions) wait() time.Duration {
	if o == nil || o.WaitIndex == 0 {
		return 0
	}
	if o.WaitTime > 0 {
		return o.WaitTime + o.WaitTime/8
	}
	return 5 * time.Minute // the server bounds an unspecified wait
}

// request is one API call.
type request struct {
	method string
	path   string // already escaped
	query  url.Values
	body   any           // JSON-encoded unless raw
	raw    []byte        // sent as is when non-nil
	extra  time.Duration // added to the timeout (blocking reads)
}

// errRequestTimeout is the cause of the client's own per-request deadline.
var errRequestTimeout = errors.New("request timeout")

// maxResponseBody bounds a successful answer.
const maxResponseBody = 256 << 20

// do performs r and decodes a 2xx answer into out (when out is not nil).
func (c *Client) do(ctx context.Context, r *request, out any) (*Meta, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = ""
	if p, err := url.PathUnescape(u.Path); err == nil && p != u.Path {
		u.RawPath, u.Path = u.Path, p
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	switch {
	case r.raw != nil:
		body = bytes.NewReader(r.raw)
	case r.body != nil:
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout+r.extra, errRequestTimeout)
		defer cancel()
	}
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	req, err := c.newRequest(ctx, r.method, r.path, &u, body, contentType, "application/json")
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, r, err)
	}
	defer func() { _ = resp.Body.Close() }()
	c.noteAnswer(resp)
	meta := parseMeta(resp.Header)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return meta, decodeError(r.method, r.path, resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return meta, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return meta, c.transportError(ctx, r, err)
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		return meta, nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return meta, fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
	}
	return meta, nil
}

// newRequest builds a request to u (path, as the caller named it, is for
// errors) with the client's User-Agent and token, and the Content-Type and
// Accept headers when they are not empty.
func (c *Client) newRequest(ctx context.Context, method, path string, u *url.URL, body io.Reader, contentType, accept string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// call performs r and decodes the answer into a new T.
func call[T any](ctx context.Context, c *Client, r *request) (*T, error) {
	var out T
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// read performs the read r with opts: their query parameters are added to
// r's, and a blocking read has the longer timeout it needs. It decodes the
// answer into a new T.
func read[T any](ctx context.Context, c *Client, r *request, opts *ReadOptions) (*T, *Meta, error) {
	if r.query == nil {
		r.query = url.Values{}
	}
	opts.apply(r.query)
	r.extra = opts.wait()
	var out T
	meta, err := c.do(ctx, r, &out)
	if err != nil {
		return nil, meta, err
	}
	return &out, meta, nil
}

func (c *Client) transportError(ctx context.Context, r *request, err error) error {
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), errRequestTimeout) {
			return fmt.Errorf("%s %s: no answer from trustd at %s within %s: %w",
				r.method, r.path, c.Address(), c.timeout+r.extra, context.DeadlineExceeded)
		}
		return fmt.Errorf("%s %s: %w", r.method, r.path, context.Cause(ctx))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &UnreachableError{Address: c.Address(), Err: err}
}

// Do sends a request to any API path and decodes the JSON answer into out
// (a *json.RawMessage receives the body as is). It is the escape hatch for
// endpoints this package does not wrap; path is relative to the base URL,
// for example "/v1/cluster". A []byte or json.RawMessage body is sent as
// is; any other non-nil body is JSON-encoded.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) (*Meta, error) {
	r := &request{method: method, path: path, query: query}
	switch b := body.(type) {
	case nil:
	case []byte:
		r.raw = b
	case json.RawMessage:
		r.raw = b
	default:
		r.body = b
	}
	return c.do(ctx, r, out)
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }
