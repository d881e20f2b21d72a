package cluster

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Raft and cluster figures for the API's Prometheus collector
// (docs/operations.md, "Metrics"). hashicorp/raft's and memberlist's own
// go-metrics (commit and apply times, replication RPCs per peer, snapshot
// timings) are bridged separately (api.BridgeGoMetrics); these are the
// node's state, read at scrape time.

// RaftMetrics is one node's view of Raft and the cluster.
type RaftMetrics struct {
	// State is leader, follower, candidate or shutdown.
	State string
	// KnownLeader: this node knows a leader.
	KnownLeader bool
	Term        uint64
	// CommitIndex, LastIndex: Raft's; AppliedIndex: the ledger's.
	CommitIndex, LastIndex, AppliedIndex uint64
	// LastContact is how long ago a follower last heard from the leader
	// (0 on the leader).
	LastContact time.Duration
	// LeaderChanges counts the leaders this node has seen elected since
	// it started.
	LeaderChanges uint64
	// Voters and NonVoters count the Raft configuration; FailureTolerance
	// is how many more voters may fail with the cluster available.
	Voters, NonVoters, FailureTolerance int
	// Gossip counts the members gossip knows, by state (alive, suspect,
	// dead, left); nil when gossip is off.
	Gossip map[string]int
	// Snapshots persisted and restored by this node, and the size of the
	// last of each.
	Snapshots, Restores                 uint64
	LastSnapshotBytes, LastRestoreBytes uint64
	// RaftLogBytes and ArchiveBytes are the sizes of raft.db and
	// ledger.db; DiskFreeBytes is the space left to an unprivileged user
	// on the data directory's file system (-1 where unknown).
	RaftLogBytes, ArchiveBytes, DiskFreeBytes int64
	// Encryption is the state of the at-rest keys.
	Encryption EncryptionStatus
}

// snapshotStats counts the state machine's snapshots (raftFSM).
type snapshotStats struct {
	persisted, restored           atomic.Uint64
	persistedBytes, restoredBytes atomic.Uint64
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n) // #nosec G115 -- n ≥ 0
	return n, err
}

// RaftMetrics reads the node's Raft and cluster state.
func (n *Node) RaftMetrics() RaftMetrics {
	m := RaftMetrics{State: n.State(), LeaderChanges: n.leaderChanges.Load(),
		Snapshots: n.snaps.persisted.Load(), Restores: n.snaps.restored.Load(),
		LastSnapshotBytes: n.snaps.persistedBytes.Load(), LastRestoreBytes: n.snaps.restoredBytes.Load()}
	if c := n.LastContact(); !c.IsZero() {
		m.LastContact = time.Since(c)
	}
	if ms, err := n.Members(); err == nil {
		m.KnownLeader = ms.LeaderID != ""
		m.Term, m.CommitIndex, m.LastIndex, m.AppliedIndex = ms.Term, ms.CommitIndex, ms.LastIndex, ms.AppliedIndex
		m.Voters, m.FailureTolerance = ms.Voters, ms.FailureTolerance
		for _, mem := range ms.Members {
			if mem.Suffrage == SuffrageNonvoter || mem.Suffrage == SuffrageStaging {
				m.NonVoters++
			}
		}
	}
	m.RaftLogBytes = fileSize(filepath.Join(n.cfg.DataDir, "raft", "raft.db"))
	m.ArchiveBytes = fileSize(filepath.Join(n.cfg.DataDir, "ledger.db"))
	m.DiskFreeBytes = diskFree(n.cfg.DataDir)
	m.Encryption = n.EncryptionStatus()
	if g := n.gossipNow(); g != nil {
		m.Gossip = map[string]int{GossipAlive: 0, GossipSuspect: 0, GossipDead: 0, GossipLeft: 0}
		for _, gm := range g.members() {
			m.Gossip[gm.state]++
		}
	}
	return m
}

// observeLeaders counts the leaders this node sees elected, until the
// node closes.
func (n *Node) observeLeaders() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	for {
		select {
		case <-n.closed:
			return
		case o := <-ch:
			if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
				n.leaderChanges.Add(1)
			}
		}
	}
}

// fileSize is the size of the file at path, -1 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
