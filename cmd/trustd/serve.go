package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api"
	"github.com/trustledger/trustledger/cluster"
)

const (
	// leaderWait bounds how long a bootstrapping node waits to lead (to
	// create the admin token) before it serves anyway.
	leaderWait = 30 * time.Second
	// adminTokenFile is the bootstrap admin token's file in the data
	// directory.
	adminTokenFile = "admin.token"
)

// serve runs the node and its HTTP API until ctx ends, then shuts down:
// long-lived streams end, HTTP drains (up to cfg.ShutdownTimeout), and the
// node closes (Raft, archive, stores).
func serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) (err error) {
	if err := prepareDataDir(&cfg); err != nil {
		return err
	}
	audit, closeAudit, err := openAuditLog(cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeAudit()) }()

	tlsConf, err := cfg.tlsSetup()
	if err != nil {
		return err
	}
	// Bind before anything slow, so a port in use fails the start at once;
	// the bound port is also the API address the node advertises.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	defer func() { _ = ln.Close() }() // after Serve, a no-op
	// Bridged before the node opens, so that Raft's restore at start is
	// measured too.
	reg, err := api.NewProcessRegistry()
	if err != nil {
		return err
	}
	// The key file as the node reads it: a change from here on is a reload.
	keyStamp := filesStamp(cfg.EncryptionKeyFile)
	node, err := openNode(cfg, tlsConf, ln.Addr(), log)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := node.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close node: %w", cerr))
		}
	}()
	apiServer := api.New(api.Config{Logger: log, AuditLog: audit, Registry: reg,
		SSF: api.SSFConfig{Issuer: cfg.SSFIssuer, AllowInsecureHTTP: cfg.SSFAllowHTTP, SigningAlg: cfg.SSFSigningAlg}}, node)
	httpServer := &http.Server{
		Handler:           apiServer.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.bootstrap() {
		if err := ensureAdminToken(ctx, cfg, node, log, stdout); err != nil {
			_ = ln.Close()
			return err
		}
	}
	served := startHTTP(cfg, tlsConf, node, httpServer, ln, log)
	mctx, cancelMembership := context.WithCancel(ctx)
	defer cancelMembership()
	defer startReloads(mctx, cancelMembership, cfg, keyStamp, tlsConf, node, log)()
	joined := startMembership(mctx, cfg, node, log)

	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case err := <-served:
		return fmt.Errorf("HTTP server: %w", err)
	case err = <-joined:
		log.Error("could not join the cluster; shutting down", "error", err)
	}
	// End ledger streams first: they would otherwise hold Shutdown until
	// its timeout.
	_ = apiServer.Close()
	node.CloseSubscribers()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(sctx); err != nil {
		log.Warn("HTTP requests still running at the shutdown timeout; closing them", "error", err)
		_ = httpServer.Close()
	}
	return err
}

// openNode opens the cluster node on cfg; apiAddr is the bound HTTP
// listener's address, from which the advertised API URL is made.
func openNode(cfg config, tlsConf *tlsSetup, apiAddr net.Addr, log *slog.Logger) (*cluster.Node, error) {
	var raftTLS *tls.Config
	if tlsConf != nil {
		raftTLS = tlsConf.raft
	}
	advertise, _ := cfg.raftAdvertise()         // validated
	gossipAdvertise, _ := cfg.gossipAdvertise() // validated
	gossipKey, err := cfg.gossipKey()
	if err != nil {
		return nil, err
	}
	encryptionKeys, err := cfg.encryptionKeys()
	if err != nil {
		return nil, err
	}
	return cluster.Open(cluster.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, RaftAddr: cfg.RaftAddr, RaftAdvertise: advertise,
		Region: cfg.Region, Bootstrap: cfg.bootstrap(), Voter: cfg.Voter, Logger: log,
		GossipAddr: cfg.GossipAddr, GossipAdvertise: gossipAdvertise, GossipKey: gossipKey, APIAddr: cfg.apiURL(apiAddr),
		SnapshotThreshold: cfg.SnapshotThreshold, SnapshotInterval: cfg.SnapshotInterval, TrailingLogs: cfg.TrailingLogs,
		DeadServerGrace: cfg.DeadServerGrace, RaftTLS: raftTLS, EncryptionKeys: encryptionKeys, Insecure: cfg.Insecure,
	})
}

// startHTTP serves the API on ln — operator TLS, plain HTTP with
// --insecure, or by default plain HTTP and cluster-certificate TLS on one
// port — and logs how. Serve's error arrives on the channel.
func startHTTP(cfg config, tlsConf *tlsSetup, node *cluster.Node, srv *http.Server, ln net.Listener, log *slog.Logger) <-chan error {
	served := make(chan error, 1)
	limited := api.LimitListener(ln, api.DefaultMaxConns)
	apiTLS := "plain http and tls (cluster certificate) on one port"
	switch {
	case tlsConf != nil:
		srv.TLSConfig = tlsConf.api
		apiTLS = "https (operator certificate)"
		go func() { served <- srv.ServeTLS(limited, "", "") }()
	case cfg.Insecure:
		apiTLS = "plain http (insecure)"
		go func() { served <- srv.Serve(limited) }()
	default:
		if cfg.apiTLSOnly() {
			apiTLS = "https (cluster certificate)"
		}
		go func() { served <- srv.Serve(api.NewListener(limited, node.APIServerTLS(), !cfg.apiTLSOnly())) }()
	}
	_, fingerprint := node.ClusterCA()
	log.Info("trustd serving", "node_id", cfg.NodeID, "http_addr", ln.Addr().String(), "api_addr", node.APIAddr(),
		"api_tls", apiTLS, "raft_addr", node.RaftAddr(), "gossip_addr", node.GossipAddr(), "data_dir", cfg.DataDir, "region", cfg.Region,
		"voter", cfg.Voter, "state", node.State(), "ca_fingerprint", fingerprint)
	if cfg.Insecure {
		log.Warn("INSECURE: --insecure runs Raft and gossip with no peer authentication; never use it where other users or hosts can reach these ports")
	}
	return served
}

// startMembership starts, until ctx ends, what makes this node a working
// member: a voter with the cluster identity but not the CA key or the
// checkpoint key asks the leader for them (so that it can admit nodes when
// it leads, and sign checkpoints); with --join,
// the node asks the members for admission until one accepts (it never
// bootstraps a cluster of its own). A node restarted on its data directory
// is a member already: it finds the others from its Raft configuration
// (cluster/rejoin.go) and never depends on --join, which could only fail
// it (a leader elected a moment ago may not know the join token yet). A
// refusal that ends trustd arrives on the channel.
func startMembership(ctx context.Context, cfg config, node *cluster.Node, log *slog.Logger) <-chan error {
	ownCA := !cfg.Insecure && !cfg.tlsEnabled()
	if !cfg.Insecure && cfg.Voter && ((ownCA && !node.HasCAKey()) || !node.HasCheckpointKey()) {
		go fetchClusterKeys(ctx, node, ownCA, log)
	}
	if !cfg.Insecure {
		// Node-to-node calls need the node's certificate: with --insecure a
		// node that installed a snapshot keeps the gap (docs/verification.md).
		go backfill(ctx, node, log)
	}
	joined := make(chan error, 1)
	switch {
	case len(cfg.Join) == 0:
	case node.IsMember():
		log.Info("already a member of the cluster: not joining again; rejoining the members from the Raft configuration")
	default:
		fatal := !node.HasExistingState()
		go func() {
			if err := joinCluster(ctx, cfg, node, log, fatal); err != nil {
				joined <- err
			}
		}()
	}
	return joined
}

// ensureAdminToken waits for this bootstrapping node to lead, then makes the
// bootstrap admin token if the ledger has none, and says where it is.
func ensureAdminToken(ctx context.Context, cfg config, node *cluster.Node, log *slog.Logger, stdout io.Writer) error {
	wctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	if err := node.WaitForLeader(wctx); err != nil {
		if ctx.Err() != nil {
			return nil // shutting down
		}
		log.Warn("no leader yet; serving without checking the admin token", "waited", leaderWait)
		return nil
	}
	if !node.IsLeader() {
		return nil // a member of an existing cluster: its leader has the token
	}
	// A restarted node replays its log only once it leads: wait until it
	// has, so that a token already in the ledger is seen and no second one
	// is proposed (it would land in the ledger as a rejected entry).
	if err := node.VerifyLeader(wctx); err != nil {
		if ctx.Err() != nil {
			return nil // shutting down
		}
		log.Warn("could not catch up with the log; serving without checking the admin token", "error", err)
		return nil
	}
	path := filepath.Join(cfg.DataDir, adminTokenFile)
	created, err := api.EnsureAdminToken(ctx, node, path)
	if err != nil {
		return fmt.Errorf("create the bootstrap admin token: %w", err)
	}
	if created {
		log.Info("created the bootstrap admin token", "path", path)
		fmt.Fprintf(stdout, "trustd: bootstrap admin token written to %s (mode 0600)\n", path)
		if _, fp := node.ClusterCA(); fp != "" {
			fmt.Fprintf(stdout, "trustd: cluster CA fingerprint %s (nodes join with --ca-fingerprint %s)\n", fp, fp)
		}
	}
	return nil
}

// openAuditLog opens the audit log: cfg.AuditLog, "-" for standard output,
// default <data-dir>/audit.log (appended to, mode 0600, rotated by size).
func openAuditLog(cfg config) (io.Writer, func() error, error) {
	path := cfg.AuditLog
	switch path {
	case "-":
		return os.Stdout, func() error { return nil }, nil
	case "":
		path = filepath.Join(cfg.DataDir, "audit.log")
	}
	rw, err := openRotating(path, int64(cfg.AuditLogMaxMB)<<20, int(cfg.AuditLogMaxFiles)) // #nosec G115 -- validated small settings
	if err != nil {
		return nil, nil, fmt.Errorf("open audit log: %w", err)
	}
	return rw, rw.Close, nil
}

// startReloads reloads the operator's certificate (certReloader) and the
// encryption keys (keyReloader) until ctx ends; the function it returns
// cancels ctx and waits for the reloaders.
func startReloads(ctx context.Context, cancel context.CancelFunc, cfg config, keyStamp string, tlsConf *tlsSetup, node *cluster.Node,
	log *slog.Logger) func() {
	var wg sync.WaitGroup
	if tlsConf != nil {
		wg.Go(func() { tlsConf.certs.run(ctx, node.ReloadCertificate, log) })
	}
	if cfg.EncryptionKeyFile != "" {
		keys := &keyReloader{cfg: cfg, stamp: keyStamp}
		wg.Go(func() { runReloads(ctx, cfg.ReloadInterval, func(force bool) { keys.reload(force, node, log) }) })
	}
	return func() { cancel(); wg.Wait() }
}

// prepareDataDir makes the data directory absolute and present (0700) and
// settles the node id it belongs to.
func prepareDataDir(cfg *config) (err error) {
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil { // #nosec G703 -- the operator names the data directory
		return fmt.Errorf("create data directory: %w", err)
	}
	return resolveNodeID(cfg)
}
