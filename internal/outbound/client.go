package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/trustledger/trustledger/internal/version"
)

// Defaults of the Options left zero.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// Connection limits of every transport: a partner is called by a few
// workers at a time, and a slow one must not take a node's sockets.
const (
	maxIdleConns        = 64
	maxIdleConnsPerHost = 4
	maxConnsPerHost     = 16
	idleConnTimeout     = 90 * time.Second
	maxHeaderBytes      = 64 << 10
)

// Errors a request can end in, to test for with errors.Is.
var (
	// ErrTooLarge: the response body is larger than Options.MaxResponseBytes.
	// The rest of the body is not read: the connection it came on is
	// closed (reused only if the whole response had already arrived).
	ErrTooLarge = errors.New("the response body is larger than the limit")
	// ErrRedirect: the server redirected, and the redirect is not
	// followed (none are by default).
	ErrRedirect = errors.New("redirect refused")
	// ErrTimeout: the request did not complete within Options.Timeout or
	// its context's deadline.
	ErrTimeout = errors.New("the request timed out")
)

// Options tunes a Client. Every zero field takes its default.
type Options struct {
	// Timeout bounds a whole request: connecting, sending, and reading
	// the whole response (default DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes is the largest response body read (default
	// DefaultMaxResponseBytes); a larger one is ErrTooLarge.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects a request may follow (default 0:
	// a redirect is ErrRedirect).
	MaxRedirects int
	// UserAgent is the User-Agent header of requests that set none
	// (default "trustledger/<version>").
	UserAgent string
	// RootCAs verifies servers' certificates (default: the system's).
	RootCAs *x509.CertPool
	// Resolver looks up host names instead of the system resolver (tests
	// point names at local servers with it). The loopback check at dial
	// time applies to the addresses it returns.
	Resolver Resolver
}

// withDefaults returns o with its zero (or negative) fields defaulted.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	o.MaxRedirects = max(o.MaxRedirects, 0)
	if o.UserAgent == "" {
		o.UserAgent = defaultUserAgent()
	}
	return o
}

// defaultUserAgent is "trustledger/<module version>", "trustledger/devel"
// for a build from a checkout.
func defaultUserAgent() string {
	v, _, _ := version.Info()
	v = strings.Trim(v, "()")
	if v == "" {
		v = "devel"
	}
	return "trustledger/" + v
}

// Client sends requests under a Policy. It is safe for concurrent use;
// make one per node and keep it, so that connections are reused.
type Client struct {
	policy    Policy
	opts      Options
	hc        *http.Client
	transport *schemeTransport
}

// Response is a response read whole.
type Response struct {
	// StatusCode is the HTTP status, e.g. 200.
	StatusCode int
	// Header is the response's header.
	Header http.Header
	// Body is the whole body, at most Options.MaxResponseBytes long.
	Body []byte
}

// New returns a Client that enforces p, tuned by opts.
func New(p Policy, opts Options) *Client {
	opts = opts.withDefaults()
	c := &Client{policy: p, opts: opts}
	c.transport = &schemeTransport{
		plain: newTransport(opts, newDial(opts.Timeout, opts.Resolver, !p.AllowInsecure), nil),
		tls:   newTransport(opts, newDial(opts.Timeout, opts.Resolver, false), tlsConfig(opts)),
	}
	c.hc = &http.Client{Transport: c.transport, Timeout: opts.Timeout, CheckRedirect: c.checkRedirect}
	return c
}

// tlsConfig is the client TLS configuration: TLS 1.2 at least.
func tlsConfig(o Options) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs}
}

// newTransport returns a transport dialing with dial; tlsConf nil makes
// the plain-http one, which never negotiates HTTP/2.
func newTransport(o Options, dial dialFunc, tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // requests carry credentials: never an environment proxy
		DialContext:            dial,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      tlsConf != nil, // a custom DialContext turns HTTP/2 off otherwise
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        idleConnTimeout,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		MaxConnsPerHost:        maxConnsPerHost,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
}

// schemeTransport sends http requests on the plain transport, whose dialer
// may be loopback-only, and https requests on the TLS one.
type schemeTransport struct {
	plain, tls *http.Transport
}

// RoundTrip sends req on the transport of its scheme.
func (t *schemeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Scheme {
	case "http":
		return t.plain.RoundTrip(req)
	case "https":
		return t.tls.RoundTrip(req)
	}
	if req.Body != nil {
		_ = req.Body.Close() // a RoundTripper closes the body, even on error
	}
	return nil, fmt.Errorf("scheme %q is not allowed", req.URL.Scheme)
}

// CloseIdleConnections closes both transports' idle connections.
func (t *schemeTransport) CloseIdleConnections() {
	t.plain.CloseIdleConnections()
	t.tls.CloseIdleConnections()
}

// CloseIdleConnections closes the connections kept for reuse, e.g. when a
// node shuts down.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Do sends req, after checking its URL against the policy, and reads the
// whole response. A status other than 2xx is not an error here. The
// caller sets any header, Authorization included (as its full value, e.g.
// an SSF receiver's authorization_header); req itself is not modified.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if req == nil || req.URL == nil {
		return nil, errors.New("outbound: a request with no URL")
	}
	if err := c.checkURL(req.URL); err != nil {
		return nil, requestError(req, err)
	}
	req = req.Clone(req.Context())
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, requestError(req, c.sendError(err))
	}
	defer resp.Body.Close()
	body, err := c.readBody(resp)
	if err != nil {
		return nil, requestError(req, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// checkURL applies the policy and the length limit to a parsed URL.
func (c *Client) checkURL(u *url.URL) error {
	if n := len(u.String()); n > MaxURLLength {
		return refuse("the URL is %d bytes long; at most %d are allowed", n, MaxURLLength)
	}
	return c.policy.check(u)
}

// sendError unwraps the *url.Error of http.Client (which quotes the whole
// URL, query included) and marks a timeout with ErrTimeout.
func (c *Client) sendError(err error) error {
	timeout := isTimeout(err)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if timeout {
		return fmt.Errorf("%w (limit %s): %w", ErrTimeout, c.opts.Timeout, err)
	}
	return err
}

// isTimeout reports whether err is a network timeout or a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readBody reads resp's body whole, refusing one over the limit: the body
// is then closed unread, which closes its connection.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.opts.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: the server announced %d bytes; the limit is %d", ErrTooLarge, resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read the response: %w", c.sendError(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// requestError prefixes err with the method and the URL it was for.
func requestError(req *http.Request, err error) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	return fmt.Errorf("outbound: %s %s: %w", method, where(req.URL), err)
}

// where is u for an error message: scheme, host and path, without
// userinfo, query or fragment, which may hold credentials.
func where(u *url.URL) string {
	s := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	if u.RawQuery != "" {
		s += "?..."
	}
	return s
}
