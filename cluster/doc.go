// Package cluster runs one trustledger node: the deterministic ledger of
// package fsm replicated with hashicorp/raft, plus the durable ledger archive
// that keeps every applied entry after Raft has compacted its log.
//
// A node's data directory holds:
//
//	<data>/raft/raft.db       Raft log and stable store (raft-boltdb/v2)
//	<data>/raft/snapshots/    Raft snapshots of the ledger state (two kept)
//	<data>/ledger.db          the ledger archive (bbolt): every applied entry
//	                          by sequence, and a per-principal index
//
// Open starts the node (bootstrapping a single-voter cluster when asked to and
// there is no existing state); Propose writes through the leader; Ledger
// serves reads from local state; VerifyLeader and WaitForIndex give the
// linearizable and read-your-writes levels of docs/api.md, "Reads"; Entries,
// PrincipalEntries and Subscribe read the archive.
//
// Membership (docs/architecture.md, "The cluster"). With Config.GossipAddr
// set, the node runs memberlist gossip: it advertises its Peer (id, API, Raft
// and gossip addresses, region, voter or not), and tracks every member's
// state (alive, suspect, dead, left). Join admits a node on the leader
// (AddVoter or AddNonvoter), idempotently; RemoveServer and
// TransferLeadership are the operator's other tools; Members is the cluster
// as a node sees it. Gossip never grants membership: the leader's reconciler
// only logs a gossiping node missing from the Raft configuration and, with
// Config.DeadServerGrace, removes servers dead for that long, never below
// quorum. Backup and Restore take and install
// snapshots of the ledger state for online backups.
package cluster
