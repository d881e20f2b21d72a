package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/trustledger/trustledger/fsm"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	// retainSnapshots is how many Raft snapshots are kept on disk.
	retainSnapshots = 2
	// logCacheSize is the number of recent log entries kept in memory in
	// front of the bolt log store (for replication and index lookups).
	logCacheSize = 512
	// transportPool and transportTimeout configure Raft's TCP transport.
	transportPool    = 3
	transportTimeout = 10 * time.Second
)

// Node is one trustledger server: a Raft member applying the ledger.
// Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ledger *fsm.Ledger

	applied *appliedIndex
	archive *archive
	store   *raftboltdb.BoltStore
	logs    raft.LogStore // the log cache in front of store
	// sealer, sealedLog and sealedSnaps are set with encryption at rest
	// (Config.EncryptionKeys).
	sealer      *sealer
	sealedLog   *sealedLogStore
	sealedSnaps *sealedSnapshotStore
	trans       *raft.NetworkTransport
	raft        *raft.Raft
	// raftRef is raft for the TLS handshakes, which may run before Open
	// has set it.
	raftRef atomic.Pointer[raft.Raft]
	// ident is the node's cluster identity (certificates, gossip keys).
	ident *identity
	// ckpt signs checkpoints of the ledger's tree (checkpoint.go).
	ckpt *checkpoints
	// tx holds this node's SSF transmitter keys (ssfkeys.go).
	tx *transmitterKeys

	// gossip is nil when Config.GossipAddr is empty, and until a joining
	// node has its identity (gossipNow). peers holds what join requests
	// said about nodes (gossip, when on, has the last word).
	gossip   atomic.Pointer[gossip]
	gossipMu sync.Mutex // serialises startGossip
	peersMu  sync.Mutex
	peers    map[string]Peer
	// membershipMu serialises configuration changes made here (joins,
	// removals, the reconciler), so a removal and a reconcile pass do not
	// interleave.
	membershipMu sync.Mutex
	// reconcileKick wakes the reconciler; loops tracks its goroutine.
	reconcileKick chan struct{}
	loopsMu       sync.Mutex // orders goLoop's Add before Close's Wait
	loops         sync.WaitGroup

	// writesMu keeps proposals (read side) out while an operator restore
	// (write side) checks the snapshot against the ledger and installs it,
	// so nothing committed in between is rewound.
	writesMu sync.RWMutex

	// readyTerm is the term in which this node, as leader, has applied an
	// entry of its own (LeaderReady).
	readyTerm atomic.Uint64
	// lease is the leader's read lease for default reads (lease.go).
	lease *leaseState

	// existing tells whether the data directory held Raft state at start;
	// bootLastIndex is the last log index then, openedAt when Open began
	// (CaughtUp).
	existing      bool
	bootLastIndex uint64
	openedAt      time.Time

	// leaderChanges and snaps feed RaftMetrics.
	leaderChanges atomic.Uint64
	snaps         snapshotStats

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open starts a node on cfg.DataDir. If cfg.Bootstrap is set and the data
// directory has no Raft state, the node forms a cluster with itself as the
// only voter. Existing state is restored (latest snapshot, then the log).
// The caller must Close the node.
func Open(cfg Config) (*Node, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), ledger: fsm.NewLedger(),
		applied: &appliedIndex{}, closed: make(chan struct{}), peers: map[string]Peer{},
		reconcileKick: make(chan struct{}, 1)}
	ok := false
	defer func() {
		if !ok {
			if err := n.closeResources(); err != nil {
				n.log.Warn("cleaning up after a failed start", "error", err)
			}
		}
	}()
	snaps, err := n.openStores()
	if err != nil {
		return nil, err
	}
	if err := n.startRaft(snaps); err != nil {
		return nil, err
	}
	if err := n.startGossip(); err != nil {
		return nil, err
	}
	n.goLoop(n.reconcileLoop)
	n.goLoop(n.observeLeaders)
	n.goLoop(n.leaseLoop)
	if n.sealer != nil {
		n.goLoop(n.rewrapLoop)
	}
	ok = true
	n.logStarted()
	return n, nil
}

// openStores opens the data directory's stores (docs/operations.md, "The
// data directory"): the at-rest key check, the identity, the ledger archive, the
// Raft log and stable store (behind a log cache) and the snapshot store,
// sealed when an encryption key is set. It records whether Raft state
// exists.
func (n *Node) openStores() (raft.SnapshotStore, error) {
	cfg := n.cfg
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	var seal *sealer
	if len(cfg.EncryptionKeys) > 0 {
		var err error
		if seal, err = newSealer(cfg.EncryptionKeys...); err != nil {
			return nil, err
		}
	}
	n.sealer = seal
	if err := checkDataKey(cfg.DataDir, seal); err != nil {
		return nil, fmt.Errorf("encryption at rest: %w", err)
	}
	n.ident = &identity{dir: filepath.Join(cfg.DataDir, identityDir), seal: seal, id: cfg.NodeID, expected: map[string]bool{}}
	var err error
	if n.archive, err = openArchive(filepath.Join(cfg.DataDir, "ledger.db"), seal, n.log); err != nil {
		return nil, err
	}
	n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open raft store in %s: locked by another process (is another trustd using this data directory?)", raftDir)
	}
	if err != nil {
		return nil, fmt.Errorf("open raft store in %s: %w", raftDir, err)
	}
	var logStore raft.LogStore = n.store
	if seal != nil {
		n.sealedLog = &sealedLogStore{store: n.store, sealer: seal}
		logStore = n.sealedLog
	}
	if n.logs, err = raft.NewLogCache(logCacheSize, logStore); err != nil {
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	fileSnaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, retainSnapshots, n.hlog().Named("snapshots"))
	if err != nil {
		return nil, fmt.Errorf("open snapshot store in %s: %w", raftDir, err)
	}
	var snaps raft.SnapshotStore = fileSnaps
	if seal != nil {
		n.sealedSnaps = &sealedSnapshotStore{store: fileSnaps, sealer: seal, dir: filepath.Join(raftDir, "snapshots")}
		snaps = n.sealedSnaps
	}
	existing, err := raft.HasExistingState(n.logs, n.store, snaps)
	if err != nil {
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	n.existing, n.openedAt = existing, time.Now()
	if n.bootLastIndex, err = n.logs.LastIndex(); err != nil {
		return nil, fmt.Errorf("read the raft log: %w", err)
	}
	return snaps, nil
}

// hlog is the hclog adapter Raft and its stores log through.
func (n *Node) hlog() hclog.Logger { return newHCLogAdapter(n.log, "raft") }

// startRaft loads the identity, opens the Raft transport and starts Raft on
// the stores, bootstrapping a new single-node cluster when asked to and the
// data directory has no Raft state.
func (n *Node) startRaft(snaps raft.SnapshotStore) error {
	cfg := n.cfg
	n.loadPeers()
	if err := n.openIdentity(n.existing); err != nil {
		return err
	}
	if err := n.openCheckpoints(); err != nil {
		return err
	}
	if err := n.openTransmitterKeys(); err != nil {
		return err
	}
	hlog := n.hlog()
	var err error
	if n.trans, err = n.newTransport(hlog.Named("transport")); err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	if cfg.tune != nil {
		cfg.tune(rc)
	}
	if cfg.TuneRaft != nil {
		cfg.TuneRaft(rc)
	}
	n.lease = newLeaseState(rc.HeartbeatTimeout)
	n.holdBeforeVoting()
	rf := &raftFSM{ledger: n.ledger, archive: n.archive, applied: n.applied, log: n.log, stats: &n.snaps,
		snapshotIndex: func() uint64 { return newestSnapshot(snaps) }}
	if n.raft, err = raft.NewRaft(rc, rf, n.logs, n.store, snaps, raftTransport{n.trans}); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	n.raftRef.Store(n.raft)
	if cfg.Bootstrap && !n.existing {
		conf := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: n.trans.LocalAddr()}}}
		if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
			return fmt.Errorf("bootstrap cluster: %w", err)
		}
		n.log.Info("bootstrapped a new single-node cluster", "raft_addr", n.trans.LocalAddr())
	}
	return nil
}

// logStarted logs what the operator needs to know once the node runs.
func (n *Node) logStarted() {
	cfg := n.cfg
	_, fp := n.ClusterCA()
	n.log.Info("node started", "raft_addr", n.trans.LocalAddr(), "gossip_addr", n.GossipAddr(),
		"api_addr", cfg.APIAddr, "existing_state", n.existing, "applied_index", n.applied.load(), "region", cfg.Region,
		"transport", n.transportKind(), "ca_fingerprint", fp, "identity", n.HasIdentity())
	if fp := n.EnrollmentKey(); fp != "" {
		n.log.Info("waiting to join a cluster: trustd --join, or trustctl cluster join from an operator", "enrollment_key", fp)
	}
	if cfg.Insecure {
		n.log.Warn("INSECURE: raft runs over plain TCP without peer authentication; anyone who reaches the raft or gossip port can take over the cluster")
	}
}

// newestSnapshot returns the index of the newest snapshot in the store, 0
// when there is none or the store cannot be read.
func newestSnapshot(snaps raft.SnapshotStore) uint64 {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return 0
	}
	return list[0].Index
}

// raftTransport is the NetworkTransport as Raft gets it: without its heartbeat fast
// path. hashicorp/raft (through v1.8.0) handles a heartbeat on the
// transport's goroutine, concurrently with its main loop; a deposed leader
// that hears its successor's heartbeat while it dispatches a client's
// entries can write them with the new leader's term, and followers then
// keep two different entries of one index and term: the logs, and the
// state machines, diverge (hashicorp/raft#695; the chaos run's pause-leader
// fault found it here). With no handler set, the transport hands
// heartbeats to Raft's main loop like every other RPC, which serialises
// them with the leader's own work. The cost: a follower busy writing a
// large batch answers heartbeats after the write rather than during it.
//
// It also declines pipelined replication, so that Raft sends a follower one
// AppendEntries at a time: hashicorp/raft's pipeline can deadlock when a
// follower answers Success=false (after a leadership change, for one) —
// pipelineDecode returns, nothing reads the pipeline's done channel any
// more, the next send parks on a full in-progress channel, and the
// replication goroutine never returns: that follower gets no entry again
// until the leader restarts, and Raft's Shutdown waits for it forever (seen
// here as a hung TestLinearizableReadsSeeAcknowledgedWrites; also
// grafana/pyroscope#5518, which disabled it for the same reason).
type raftTransport struct{ *raft.NetworkTransport }

// SetHeartbeatHandler installs nothing.
func (raftTransport) SetHeartbeatHandler(func(raft.RPC)) {}

// AppendEntriesPipeline declines: Raft then replicates without a pipeline.
func (raftTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (n *Node) newTransport(logger hclog.Logger) (*raft.NetworkTransport, error) {
	cfg := n.cfg
	var adv net.Addr
	if cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.RaftAdvertise)
		if err != nil {
			return nil, fmt.Errorf("raft advertise address %q: %w", cfg.RaftAdvertise, err)
		}
		adv = a
	}
	var t *raft.NetworkTransport
	var err error
	if !cfg.Insecure {
		var stream *tlsStreamLayer
		if stream, err = newTLSStreamLayer(cfg.RaftAddr, adv, n); err == nil {
			t = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
				Stream: stream, MaxPool: transportPool, Timeout: transportTimeout, Logger: logger,
			})
		}
	} else {
		t, err = raft.NewTCPTransportWithLogger(cfg.RaftAddr, adv, transportPool, transportTimeout, logger)
	}
	if err != nil {
		if strings.Contains(err.Error(), "advertisable") {
			return nil, fmt.Errorf("raft address %s is not advertisable: set an advertise address other nodes can dial", cfg.RaftAddr)
		}
		return nil, fmt.Errorf("listen for raft on %s: %w", cfg.RaftAddr, err)
	}
	return t, nil
}

// goLoop runs f in a goroutine that Close waits for; after Close has
// begun it does nothing.
func (n *Node) goLoop(f func()) {
	n.loopsMu.Lock()
	defer n.loopsMu.Unlock()
	if n.isClosed() {
		return
	}
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		f()
	}()
}

// Close shuts the node down gracefully: Raft stops (waiting for an
// in-progress snapshot), the archive flushes what it buffered and closes,
// live subscriptions end, and the stores close. Safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = n.closeResources()
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// closeResources releases whatever Open managed to set up, in order.
func (n *Node) closeResources() error {
	var errs []error
	// Closing n.closed under loopsMu means no goLoop is between its check
	// and its Add when Wait starts.
	n.loopsMu.Lock()
	if !n.isClosed() {
		close(n.closed)
	}
	n.loopsMu.Unlock()
	n.loops.Wait()
	if n.gossipNow() != nil {
		if err := n.gossipNow().close(); err != nil {
			errs = append(errs, fmt.Errorf("stop gossip: %w", err))
		}
	}
	if n.raft != nil {
		// Shutdown also closes the transport.
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	} else if n.trans != nil {
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
	}
	if n.archive != nil {
		if err := n.archive.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Ledger returns the node's replicated state for reads. It reflects the
// entries this node has applied (see AppliedIndex).
func (n *Node) Ledger() *fsm.Ledger { return n.ledger }

// Raft returns the underlying Raft instance, for membership operations.
func (n *Node) Raft() *raft.Raft { return n.raft }

// NodeID returns the node's Raft server id.
func (n *Node) NodeID() string { return n.cfg.NodeID }

// Region returns the region the node was configured with.
func (n *Node) Region() string { return n.cfg.Region }

// RaftAddr returns the Raft address other nodes dial (the advertise address,
// or the bound listener address when none was given).
func (n *Node) RaftAddr() string { return string(n.trans.LocalAddr()) }

// State returns "leader", "follower", "candidate" or "shutdown".
func (n *Node) State() string { return strings.ToLower(n.raft.State().String()) }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's id and Raft address, both empty when
// no leader is known.
func (n *Node) Leader() (id, raftAddr string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// AppliedIndex returns the Raft index of the last entry the ledger itself
// has applied. Raft's own applied index can be ahead of it.
func (n *Node) AppliedIndex() uint64 { return n.applied.load() }

// LastContact returns when this node last heard from the leader; zero on the
// leader itself and before any contact.
func (n *Node) LastContact() time.Time {
	if n.IsLeader() {
		return time.Time{}
	}
	return n.raft.LastContact()
}

// Entries returns up to limit archived ledger entries with sequence > after,
// in order (limit ≤ 0 means DefaultEntriesLimit; at most MaxEntriesLimit).
// An entry is returned as soon as it is applied, before it is on disk.
func (n *Node) Entries(after uint64, limit int) ([]LedgerEntry, error) {
	return n.archive.entries(after, limit)
}

// PrincipalEntries returns up to limit archived entries that touched the
// principal id (its Subjects), with sequence > after, in order.
func (n *Node) PrincipalEntries(id string, after uint64, limit int) ([]LedgerEntry, error) {
	if !fsm.ValidID(id) {
		return nil, errors.New("invalid principal id")
	}
	return n.archive.principalEntries(id, after, limit)
}

// Subscribe returns a channel of ledger entries as they become durable in
// the archive, and a function that ends the subscription. The channel is
// closed when the subscriber falls SubscriptionBuffer entries behind, when
// CloseSubscribers or Close is called, or when the archive fails; a consumer
// resumes from Entries after the last sequence it saw.
func (n *Node) Subscribe() (<-chan LedgerEntry, func()) { return n.archive.hub.subscribe() }

// CloseSubscribers ends every live subscription (an HTTP server calls it
// when it starts shutting down, so streaming responses finish) and refuses
// new ones.
func (n *Node) CloseSubscribers() { n.archive.hub.closeAll() }
