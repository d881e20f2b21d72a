// Package fsm is the deterministic trust state machine of trustledger.
//
// A Ledger turns an append-only sequence of ledger entries (commands encoded
// with msgpack behind a format-version byte, each stamped with ledger time by
// the Raft leader) into the replicated state: principals, organizations,
// endorsements, partners, tokens, policy and the derived trust records.
//
// Everything in this package is pure: it never reads a clock, never draws
// randomness, never starts goroutines, performs no I/O beyond the io.Reader
// and io.Writer it is handed for snapshots, never depends on map iteration
// order for anything observable, and uses integer fixed-point arithmetic for
// every score. The same ledger therefore yields the same state digest and
// byte-identical records on every node and every CPU architecture.
//
// Scores are kept in micro-points (1 point = 1,000,000 µpt); rates in
// micro-points per hour; times in Unix milliseconds of ledger time.
package fsm
