package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

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

	// tune, when set, adjusts the Raft configuration (tests use it for
	// shorter election timeouts).
	tune func(*raft.Config)
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
	return errors.Join(errs...)
}
