package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
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
	// PeerTLS configures TLS to other members' https API addresses
	// (forwarding to the leader, probing members): the CAs to verify
	// them against (RootCAs; nil means the system roots) and the client
	// certificate to present if asked. Nil means Go's defaults.
	PeerTLS *tls.Config
}

func (c Config) withDefaults() Config {
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
	return c
}

// Server is the HTTP API of one node.
type Server struct {
	cfg     Config
	node    Backend
	log     *slog.Logger
	audit   *slog.Logger
	metrics *metrics
	router  *chi.Mux
	// cluster is the node's membership side (nil when it has none);
	// proxy forwards requests to the leader, client asks other members.
	cluster ClusterBackend
	proxy   *httputil.ReverseProxy
	client  *http.Client
	// setVerifier and setLimiter verify and rate-limit pushed Security
	// Event Tokens.
	setVerifier federation.Verifier
	setLimiter  federation.Limiter
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
		audit:  slog.New(slog.NewJSONHandler(cfg.AuditLog, nil)),
		done:   done,
		cancel: cancel,
	}
	s.cluster, _ = node.(ClusterBackend)
	s.proxy, s.client = s.newForwarder()
	s.metrics = newMetrics(cfg.Registry, node)
	s.router = s.newRouter()
	return s
}

// Handler returns the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.router }

// Close ends the server's long-lived responses (ledger streams) so that
// http.Server.Shutdown can finish. It does not close the node.
func (s *Server) Close() error {
	s.cancel()
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
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

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
	if s.node.State() == "leader" {
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
