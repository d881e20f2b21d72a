package api

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/version"
)

// clusterCollector reports Raft and cluster state from the node at scrape
// time (cluster.RaftMetrics). Every label comes from a fixed set: Raft
// states, gossip states.
type clusterCollector struct {
	node interface{ RaftMetrics() cluster.RaftMetrics }
}

var (
	descRaftState = prometheus.NewDesc("trustledger_raft_state",
		"1 for the node's current Raft state (leader, follower, candidate, shutdown), 0 for the others.", []string{"state"}, nil)
	descRaftHasLeader = prometheus.NewDesc("trustledger_raft_has_leader",
		"1 when this node knows a leader.", nil, nil)
	descRaftTerm = prometheus.NewDesc("trustledger_raft_term",
		"The node's current Raft term.", nil, nil)
	descRaftCommit = prometheus.NewDesc("trustledger_raft_commit_index",
		"The latest Raft index this node knows committed.", nil, nil)
	descRaftLast = prometheus.NewDesc("trustledger_raft_last_index",
		"The last index of this node's Raft log; max over the cluster minus a node's is its replication lag.", nil, nil)
	descRaftLastContact = prometheus.NewDesc("trustledger_raft_last_contact_seconds",
		"Seconds since a follower last heard from the leader (0 on the leader).", nil, nil)
	descRaftLeaderChanges = prometheus.NewDesc("trustledger_raft_leader_changes_total",
		"Leaders this node has seen elected since it started.", nil, nil)
	descVoters = prometheus.NewDesc("trustledger_cluster_voters",
		"Voters in the Raft configuration.", nil, nil)
	descNonVoters = prometheus.NewDesc("trustledger_cluster_nonvoters",
		"Read replicas (non-voters) in the Raft configuration.", nil, nil)
	descFailureTolerance = prometheus.NewDesc("trustledger_cluster_failure_tolerance",
		"How many more voters may fail with the cluster still available.", nil, nil)
	descGossipMembers = prometheus.NewDesc("trustledger_gossip_members",
		"Members gossip knows, by state (alive, suspect, dead, left).", []string{"state"}, nil)
	descSnapshots = prometheus.NewDesc("trustledger_snapshots_total",
		"State machine snapshots by operation (persisted, restored).", []string{"op"}, nil)
	descSnapshotBytes = prometheus.NewDesc("trustledger_snapshot_last_bytes",
		"Size of the last snapshot persisted or restored, by operation.", []string{"op"}, nil)
	descStorage = prometheus.NewDesc("trustledger_storage_bytes",
		"Size of the node's stores: the Raft log (raft.db) and the ledger archive (ledger.db).", []string{"file"}, nil)
	descDiskFree = prometheus.NewDesc("trustledger_disk_free_bytes",
		"Space left on the data directory's file system.", nil, nil)
	descEncKeysInUse = prometheus.NewDesc("trustledger_encryption_keys_in_use",
		"At-rest keys the data directory may hold records under: 1 once a rotation's rewrap is done (absent without encryption at rest).", nil, nil)
	descEncPrimary = prometheus.NewDesc("trustledger_encryption_primary_key_info",
		"1, labelled with the id of the at-rest key new records are sealed with.", []string{"key_id"}, nil)
	descEncRewrapping = prometheus.NewDesc("trustledger_encryption_rewrap_running",
		"1 while records are being rewrapped under a new primary at-rest key.", nil, nil)
	descEncRewrapped = prometheus.NewDesc("trustledger_encryption_rewrapped_records_total",
		"Records rewrapped under a new primary at-rest key since the node started.", nil, nil)
	descBuildInfo = prometheus.NewDesc("trustledger_build_info",
		"1, labelled with the module version, VCS revision and Go version of the binary.", []string{"version", "revision", "goversion"}, nil)
)

// raftStates are the values of trustledger_raft_state's label.
var raftStates = []string{"leader", "follower", "candidate", "shutdown"}

// Describe sends the descriptors of the cluster metrics.
func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftHasLeader, descRaftTerm, descRaftCommit, descRaftLast,
		descRaftLastContact, descRaftLeaderChanges, descVoters, descNonVoters, descFailureTolerance, descGossipMembers,
		descSnapshots, descSnapshotBytes, descStorage, descDiskFree, descEncKeysInUse, descEncPrimary, descEncRewrapping,
		descEncRewrapped, descBuildInfo} {
		ch <- d
	}
}

// Collect reads the node's Raft state and sends it.
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.node.RaftMetrics()
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		if pm, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
			ch <- pm
		}
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) { send(d, prometheus.GaugeValue, v, labels...) }
	for _, s := range raftStates {
		gauge(descRaftState, b2f(m.State == s), s)
	}
	gauge(descRaftHasLeader, b2f(m.KnownLeader))
	gauge(descRaftTerm, float64(m.Term))
	gauge(descRaftCommit, float64(m.CommitIndex))
	gauge(descRaftLast, float64(m.LastIndex))
	gauge(descRaftLastContact, m.LastContact.Seconds())
	send(descRaftLeaderChanges, prometheus.CounterValue, float64(m.LeaderChanges))
	gauge(descVoters, float64(m.Voters))
	gauge(descNonVoters, float64(m.NonVoters))
	gauge(descFailureTolerance, float64(m.FailureTolerance))
	for _, s := range []string{cluster.GossipAlive, cluster.GossipSuspect, cluster.GossipDead, cluster.GossipLeft} {
		if m.Gossip != nil {
			gauge(descGossipMembers, float64(m.Gossip[s]), s)
		}
	}
	send(descSnapshots, prometheus.CounterValue, float64(m.Snapshots), "persisted")
	send(descSnapshots, prometheus.CounterValue, float64(m.Restores), "restored")
	gauge(descSnapshotBytes, float64(m.LastSnapshotBytes), "persisted")
	gauge(descSnapshotBytes, float64(m.LastRestoreBytes), "restored")
	if m.RaftLogBytes >= 0 {
		gauge(descStorage, float64(m.RaftLogBytes), "raft.db")
	}
	if m.ArchiveBytes >= 0 {
		gauge(descStorage, float64(m.ArchiveBytes), "ledger.db")
	}
	if m.DiskFreeBytes >= 0 {
		gauge(descDiskFree, float64(m.DiskFreeBytes))
	}
	if e := m.Encryption; e.Enabled {
		gauge(descEncKeysInUse, float64(e.KeysInUse))
		gauge(descEncPrimary, 1, e.PrimaryKey)
		gauge(descEncRewrapping, b2f(e.Rewrapping))
		send(descEncRewrapped, prometheus.CounterValue, float64(e.Rewrapped))
	}
	v, rev, gov := version.Info()
	gauge(descBuildInfo, 1, v, rev, gov)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
