package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// Config configures a Server. The zero value is usable: every zero field
// takes the default named in its comment.
type Config struct {
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger bodies
	// get 413.
	MaxBodyBytes int64
	// ProposeTimeout bounds how long a write waits to commit (default 10s).
	ProposeTimeout time.Duration
	// DefaultWait is the wait of a blocking read that names no wait=
	// (default 5m); MaxWait is the longest wait= accepted (default 10m).
	DefaultWait, MaxWait time.Duration
	// ReadyMaxLag is how many entries the applied index may trail the
	// commit index with /readyz still answering ready (default 100).
	ReadyMaxLag uint64
	// StreamHeartbeat is the interval of keep-alive comments on
	// /v1/ledger/stream (default 15s).
	StreamHeartbeat time.Duration
	// Logger receives operational logs (default slog.Default()).
	Logger *slog.Logger
	// AuditLog receives one JSON line per authenticated request (and per
	// failed authentication); nil discards them.
	AuditLog io.Writer
	// Registry is where the API registers its metrics and which /metrics
	// serves; nil makes a registry of the server's own.
	Registry *prometheus.Registry
	// Now is the node's clock for reads without ?at= (default time.Now).
	Now func() time.Time
	// ClusterProbeTimeout bounds how long GET /v1/cluster waits for each
	// member's status (default 2s).
	ClusterProbeTimeout time.Duration
	// MaxRestoreBytes bounds a snapshot uploaded to POST
	// /v1/cluster/restore (default 16 GiB); RestoreTimeout bounds the
	// restore (default 10m).
	MaxRestoreBytes int64
	RestoreTimeout  time.Duration
	// BodyReadTimeout bounds the time a request's body may take to
	// arrive, counted from when its handling starts (default 30s). A body
	// that is late answers 503 timeout (code body_timeout) and the
	// connection is closed. The bound covers only bodies: responses that
	// last (ledger streams, blocking reads) are not cut by it, which is why
	// the http.Server that serves Handler should leave ReadTimeout unset
	// and bound headers with ReadHeaderTimeout. POST /v1/cluster/restore
	// takes RestoreTimeout instead.
	BodyReadTimeout time.Duration
	// MaxStreamsPerToken and MaxStreamsPerNode bound the open
	// /v1/ledger/stream connections of one token and of the node
	// (defaults 4 and 64); a stream over either answers 429 rate-limited
	// with Retry-After.
	MaxStreamsPerToken, MaxStreamsPerNode int
	// DefaultMaxStale bounds how long ago a follower may last have heard
	// from the leader and still answer consistency=stale reads (default
	// 30s). It is the bound when the client names no max_stale; a
	// client's max_stale may tighten it, never loosen it, so a token
	// revoked on the leader stops working on an isolated follower within
	// this bound.
	DefaultMaxStale time.Duration
	// SSF configures the Shared Signals transmitter.
	SSF SSFConfig
}

func (c Config) withDefaults() Config {
	c.SSF = c.SSF.withDefaults()
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ProposeTimeout <= 0 {
		c.ProposeTimeout = 10 * time.Second
	}
	if c.DefaultWait <= 0 {
		c.DefaultWait = 5 * time.Minute
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 10 * time.Minute
	}
	if c.ReadyMaxLag == 0 {
		c.ReadyMaxLag = 100
	}
	if c.StreamHeartbeat <= 0 {
		c.StreamHeartbeat = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AuditLog == nil {
		c.AuditLog = io.Discard
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ClusterProbeTimeout <= 0 {
		c.ClusterProbeTimeout = 2 * time.Second
	}
	if c.MaxRestoreBytes <= 0 {
		c.MaxRestoreBytes = 16 << 30
	}
	if c.RestoreTimeout <= 0 {
		c.RestoreTimeout = 10 * time.Minute
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = 30 * time.Second
	}
	if c.MaxStreamsPerToken <= 0 {
		c.MaxStreamsPerToken = 4
	}
	if c.MaxStreamsPerNode <= 0 {
		c.MaxStreamsPerNode = 64
	}
	if c.DefaultMaxStale <= 0 {
		c.DefaultMaxStale = 30 * time.Second
	}
	return c
}

// Server is the HTTP API of one node.
type Server struct {
	cfg     Config
	node    Backend
	log     *slog.Logger
	audit   *auditLog
	metrics *metrics
	router  *chi.Mux
	handler http.Handler
	// streams counts open ledger streams per token and in all.
	streams *streamSlots
	// polls counts the SSF long polls waiting, per token and in all.
	polls *streamSlots
	// cluster is the node's membership side (nil when it has none);
	// proxy forwards requests to the leader, client asks other members.
	cluster ClusterBackend
	proxy   *httputil.ReverseProxy
	client  *http.Client
	peers   *peerTransports // node-to-node HTTP, one transport per member
	// setVerifier and setLimiter verify and rate-limit pushed Security
	// Event Tokens.
	setVerifier federation.Verifier
	setLimiter  federation.Limiter
	// tx delivers SSF push streams while this node leads; iss is the
	// transmitter's issuer when configured.
	tx  *transmitter
	rx  *receiver
	iss atomic.Pointer[string]
	// done is closed by Close to end long-lived streams.
	done   context.Context
	cancel context.CancelFunc
}

// New returns the API server for node. It registers its metrics in
// cfg.Registry; call it once per registry.
func New(cfg Config, node Backend) *Server {
	cfg = cfg.withDefaults()
	done, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		node:   node,
		log:    cfg.Logger.With(slog.String("component", "api")),
		audit:  &auditLog{w: cfg.AuditLog},
		done:   done,
		cancel: cancel,
	}
	s.cluster, _ = node.(ClusterBackend)
	s.proxy, s.client = s.newForwarder()
	s.metrics = newMetrics(cfg.Registry, node)
	s.router = s.newRouter()
	s.handler = s.limitBodyTime(s.router)
	s.streams = newStreamSlots(cfg.MaxStreamsPerToken, cfg.MaxStreamsPerNode)
	s.polls = newStreamSlots(maxPollsPerToken, maxPollsPerNode)
	if cfg.SSF.Issuer != "" {
		s.SetIssuer(cfg.SSF.Issuer)
	}
	s.tx = newTransmitter(s)
	s.rx = newReceiver()
	go s.tx.run(done)
	go s.runPartnerPolls(done)
	return s
}

// Handler returns the HTTP handler serving every route. It bounds the time
// to read request bodies (Config.BodyReadTimeout).
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends the server's long-lived responses (ledger streams) so that
// http.Server.Shutdown can finish. It does not close the node.
func (s *Server) Close() error {
	s.cancel()
	if s.peers != nil {
		s.peers.closeIdle()
	}
	return nil
}

func (s *Server) ledger() *fsm.Ledger { return s.node.Ledger() }

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	// Encoded whole first, the body goes out in one write with its
	// Content-Length, not chunked in pieces.
	buf := jsonBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			jsonBuffers.Put(buf)
		}
	}()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// jsonBuffers pools the buffers answers are encoded into; one grown past
// maxPooledBuffer (a large list) is left to the collector.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 64 << 10

// propose commits cmd on behalf of the request's token. It returns the
// node's error when nothing (or nothing known) was committed, and the
// ledger's *fsm.RejectError, with the result, when the entry committed as
// rejected; callers hand either to fail.
func (s *Server) propose(r *http.Request, cmd fsm.Command) (*fsm.Result, error) {
	info := requestInfoFrom(r.Context())
	// A write that is under way finishes even if the client goes away:
	// the audit log then records where it committed.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.ProposeTimeout)
	defer cancel()
	res, err := s.node.Propose(ctx, cmd, info.tokenID())
	if err != nil {
		return nil, err
	}
	info.index = res.Index
	if res.Err != nil {
		return res, res.Err
	}
	s.auditAlerts(res)
	return res, nil
}

// requireLeader fails fast on a node that cannot take writes, before
// state-dependent checks that a follower might answer from stale state.
func (s *Server) requireLeader() error {
	if s.node.IsLeader() {
		return nil
	}
	id, addr := s.node.Leader()
	p := newProblem(ProblemNotLeader, "", "this node is not the leader; send writes to the leader")
	p.LeaderID, p.LeaderAddr, p.retryAfter = id, addr, 1
	if id == "" {
		p = newProblem(ProblemNoLeader, "", "the cluster has no leader at the moment; retry shortly")
		p.retryAfter = 2
	}
	return p
}

// bodyTimeFor is how long the body of r may take to arrive: the restore
// upload, which may be gigabytes, has the restore's own bound.
func (s *Server) bodyTimeFor(r *http.Request) time.Duration {
	path := r.URL.RawPath // what the router matches
	if path == "" {
		path = r.URL.Path
	}
	if r.Method == http.MethodPost && path == "/v1/cluster/restore" {
		return s.cfg.RestoreTimeout
	}
	return s.cfg.BodyReadTimeout
}

// limitBodyTime sets a read deadline on requests that carry a body, so a
// client that announces a body and sends it slowly, or not at all, cannot
// hold a connection and a goroutine for ever. The deadline is lifted once
// the body has been read to its end: after that the connection's reads
// only watch for the client going away, and a deadline there would cancel
// long responses. Requests without a body get no deadline.
func (s *Server) limitBodyTime(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			d := s.bodyTimeFor(r)
			deadline := time.Now().Add(d)
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(deadline) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, deadline: deadline, timeout: d}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body read under a deadline. Reads past the
// deadline fail with a timeout problem; reaching the end lifts it.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	deadline time.Time
	timeout  time.Duration
	done     bool // read to its end, the deadline lifted
}

// Read reads from the body, mapping a missed deadline to a problem.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if err != nil && err != io.EOF && isTimeout(err) {
		return n, bodyTimeout(b.timeout)
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bodyTimeout is the problem of a body that did not arrive in time.
func bodyTimeout(d time.Duration) *Problem {
	p := withCode(newProblem(ProblemTimeout, "", "the request body did not arrive within %s; nothing was done", d),
		"body_timeout")
	p.retryAfter = 1
	return p
}

// holdReadDeadline lifts the connection's read deadline while a request
// waits on the server (a blocking read's wait, a stream's life), so that
// neither a body deadline nor an http.Server ReadTimeout cuts it. The
// returned function puts back what was left of the body deadline, if the
// body is still to be read.
func holdReadDeadline(w http.ResponseWriter, r *http.Request) (resume func()) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	b, ok := r.Body.(*deadlineBody)
	if !ok || b.done {
		return func() {}
	}
	left := max(time.Until(b.deadline), 0)
	return func() {
		b.deadline = time.Now().Add(left)
		_ = b.rc.SetReadDeadline(b.deadline)
	}
}
