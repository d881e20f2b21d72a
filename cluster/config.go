package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// Defaults applied by Open to zero Config fields.
const (
	// DefaultSnapshotThreshold is the number of new log entries that makes
	// Raft take a snapshot at its next check.
	DefaultSnapshotThreshold = 8192
	// DefaultSnapshotInterval is how often Raft checks whether to snapshot.
	DefaultSnapshotInterval = 30 * time.Second
	// DefaultTrailingLogs is the number of log entries kept behind a
	// snapshot, so a briefly lagging follower catches up from the log
	// rather than by a snapshot transfer.
	DefaultTrailingLogs = 10240
	// DefaultReconcileInterval is how often the leader reconciles the
	// gossip membership into the Raft configuration.
	DefaultReconcileInterval = 5 * time.Second
	// DefaultGossipReconnectInterval is how often a node tries to reach
	// members gossip reports dead or gone.
	DefaultGossipReconnectInterval = 5 * time.Second
	// gossipReconnectFor is how long a gone member is tried.
	gossipReconnectFor = 24 * time.Hour
)

// Config configures a node. NodeID, DataDir and RaftAddr are required.
type Config struct {
	// NodeID is the node's Raft server id; it must not change for the
	// lifetime of the data directory.
	NodeID string
	// DataDir holds the Raft stores, snapshots and the ledger archive.
	DataDir string
	// RaftAddr is the host:port the Raft transport listens on. Port 0 picks
	// a free port (see Node.RaftAddr).
	RaftAddr string
	// RaftAdvertise is the host:port other nodes dial; empty means the
	// listener's address, which must then not be a wildcard address.
	RaftAdvertise string
	// Region is reported to clients and peers; it does not affect Raft.
	Region string
	// Bootstrap makes the node form a single-voter cluster of itself when
	// its data directory has no Raft state. Ignored when state exists.
	Bootstrap bool
	// Voter tells whether the node takes part in elections and quorum. A
	// bootstrapping node must be a voter.
	Voter bool
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune Raft
	// snapshots; zero selects the Default* values above.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// Logger receives the node's and Raft's logs; nil discards them.
	Logger *slog.Logger

	// GossipAddr is the host:port memberlist listens on (UDP and TCP).
	// Empty turns gossip off: the node then learns its peers only from
	// join requests. Port 0 picks a free port (see Node.GossipAddr).
	GossipAddr string
	// GossipAdvertise is the host:port other nodes reach the gossip
	// listener at; empty means the listener's address.
	GossipAdvertise string
	// GossipKey, when set, encrypts and authenticates gossip (memberlist's
	// AES-GCM keyring): 16, 24 or 32 bytes, the same on every node. A node
	// without it, or with another key, cannot join the pool.
	GossipKey []byte
	// APIAddr is the base URL of this node's HTTP API (for example
	// http://10.0.0.2:8470). It is gossiped, so that followers can forward
	// requests to the leader.
	APIAddr string
	// DeadServerGrace is how long a server must be reported dead (or gone)
	// by gossip before the leader removes it from the Raft configuration,
	// and then only when the remaining voters keep a quorum. Zero (the
	// default) never removes a server automatically: an operator does.
	DeadServerGrace time.Duration
	// ReconcileInterval is how often the leader reconciles gossip members
	// into the Raft configuration; zero selects DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// GossipReconnectInterval is how often a node tries to reach members
	// gossip reports dead or gone (a restarted node starts with a pool of
	// its own: the others find it again this way); zero selects
	// DefaultGossipReconnectInterval.
	GossipReconnectInterval time.Duration

	// EncryptionKeys, when set, seal data at rest with AES-256-GCM: the
	// payloads of Raft log records, Raft snapshots, ledger archive records
	// and the identity directory's keys. Each is 32 random bytes, per node
	// (data in transit between nodes is protected by RaftTLS, not by these
	// keys). The first is the primary, which seals what is written; the
	// others open what they sealed before (rotation: Node.
	// ReloadEncryptionKeys). The data directory remembers whether it was
	// written with keys, and which: a node started with other keys,
	// without a key it still holds records under, or with keys on a data
	// directory written without, fails to start. A lost key loses the
	// data directory.
	EncryptionKeys [][]byte

	// RaftTLS, when set, is the operator's own PKI for the Raft transport
	// instead of the automatic cluster identity: this node presents
	// Certificates[0] as a server and as a client, and accepts only peers
	// whose certificates chain to RootCAs and name (in a trustledger node
	// URI SAN, else the subject common name) a node id of the Raft
	// configuration. Nil: the automatic cluster identity (see identity.go),
	// or plain TCP with Insecure.
	RaftTLS *tls.Config
	// Insecure runs Raft over plain TCP and gossip without encryption
	// unless GossipKey is set: anyone who reaches the ports can join the
	// cluster. Only for loopback experiments; trustd refuses it off
	// loopback.
	Insecure bool
	// APIHosts are extra host names or addresses the node's API is reached
	// at, named in its certificate besides the hosts of its addresses.
	APIHosts []string

	// TuneRaft and TuneGossip, when set, adjust the Raft and memberlist
	// configurations before the node starts. Production leaves them nil;
	// tests shorten timeouts with them.
	TuneRaft   func(*raft.Config)
	TuneGossip func(*memberlist.Config)

	// tune, when set, adjusts the Raft configuration (this package's tests
	// use it for shorter election timeouts); handshakeTimeout, when set,
	// bounds inbound Raft TLS handshakes instead of raftHandshakeTimeout.
	tune             func(*raft.Config)
	handshakeTimeout time.Duration
}

func (c *Config) applyDefaults() {
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.GossipReconnectInterval == 0 {
		c.GossipReconnectInterval = DefaultGossipReconnectInterval
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("NodeID is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("DataDir is required"))
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		errs = append(errs, fmt.Errorf("RaftAddr %q: want host:port: %w", c.RaftAddr, err))
	}
	if c.RaftAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.RaftAdvertise); err != nil {
			errs = append(errs, fmt.Errorf("RaftAdvertise %q: want host:port: %w", c.RaftAdvertise, err))
		}
	}
	if c.Bootstrap && !c.Voter {
		errs = append(errs, errors.New("a non-voter cannot bootstrap a cluster: set Voter or clear Bootstrap"))
	}
	if c.SnapshotInterval < 0 {
		errs = append(errs, errors.New("SnapshotInterval must not be negative"))
	}
	if c.GossipAddr != "" {
		if _, _, err := net.SplitHostPort(c.GossipAddr); err != nil {
			errs = append(errs, fmt.Errorf("GossipAddr %q: want host:port: %w", c.GossipAddr, err))
		}
	}
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		errs = append(errs, fmt.Errorf("GossipKey is %d bytes; want 16, 24 or 32", n))
	}
	for i, k := range c.EncryptionKeys {
		if n := len(k); n != EncryptionKeySize {
			errs = append(errs, fmt.Errorf("EncryptionKeys[%d] is %d bytes; want %d", i, n, EncryptionKeySize))
		}
	}
	if c.GossipAdvertise != "" {
		if err := hostPort(c.GossipAdvertise); err != nil {
			errs = append(errs, fmt.Errorf("GossipAdvertise %q: %w", c.GossipAdvertise, err))
		}
	}
	if c.APIAddr != "" {
		if err := apiURL(c.APIAddr); err != nil {
			errs = append(errs, fmt.Errorf("APIAddr %q: %w", c.APIAddr, err))
		}
	}
	if c.RaftTLS != nil {
		if err := checkRaftTLS(c.RaftTLS); err != nil {
			errs = append(errs, err)
		}
		if c.Insecure {
			errs = append(errs, errors.New("RaftTLS and Insecure exclude each other"))
		}
	}
	if c.DeadServerGrace < 0 || c.ReconcileInterval < 0 || c.GossipReconnectInterval < 0 {
		errs = append(errs, errors.New("DeadServerGrace, ReconcileInterval and GossipReconnectInterval must not be negative"))
	}
	return errors.Join(errs...)
}
