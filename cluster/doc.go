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
// linearizable and read-your-writes levels of SPEC §6; Entries,
// PrincipalEntries and Subscribe read the archive.
package cluster
