// Package chaostest is trustledger's chaos suite, in the style of etcd's
// robustness tests and Jepsen: faults injected from outside real trustd
// processes, a recorded history, and checkers that decide. A failure
// replays from its seed.
//
// # What runs
//
// Run starts three (or five) trustd processes on loopback, built from the
// module: n1 bootstraps and writes the admin token; the others start with
// --join, that token and the CA fingerprint n1 printed, and keep those
// flags at every restart. Six clients (Workload) then send, each operation
// to a node chosen at random, register writes and reads and signal
// batches, while the nemesis (Nemesis) injects the faults of the seed's
// Schedule. When the fault phase ends everything is healed, and the checks
// run; the Summary is printed as JSON by scripts/chaos.
//
// The register of the linearizability check is an organization: a write is
// PUT /v1/orgs/{key} with a unique name, a read GET /v1/orgs/{key} at
// consistency linearizable or default (or stale, to show the checker
// catching stale reads). Signal batches carry fresh event ids; a batch
// whose outcome is unknown is sent again until acknowledged, and some
// acknowledged batches are sent again on purpose.
//
// # Checks
//
//   - Linearizability of writes with linearizable reads, and of writes with
//     default reads, each with Porcupine (RegisterModel, partitioned by
//     key). A write of unknown outcome (timed out, connection lost,
//     outcome-unknown) returns at infinity: it may take effect any time
//     after its call. Classify tells certain failures from unknown
//     outcomes, leaning to unknown.
//   - Exactly once (CheckExactlyOnce): every acknowledged signal is in every
//     node's ledger archive, and the ledger's counters say every distinct
//     event id was applied once and every other occurrence (a retry) was a
//     duplicate; a resent acknowledged batch answers duplicate for every
//     signal.
//   - Equal applied index and digest on every node after the heal.
//   - Liveness: every node serves a write and a linearizable read within
//     20 s of the heal.
//   - No node exits on its own (every exit the nemesis did not cause is
//     recorded, and the node restarted so that the run goes on).
//
// The checker is shown to catch what it looks for, on real clusters: with
// the clients' reads forced to stale, Porcupine reports the history as not
// linearizable (TestCheckerCatchesStaleReads); with a trustd built with the
// brokendedup tag (fsm/dedup_broken.go: the ledger forgets every event id;
// no product binary has it), the exactly-once checks fail
// (TestCheckerCatchesDoubleApply). The unit test of CheckExactlyOnce covers
// the same on synthetic ledgers.
//
// # The fault proxy
//
// Each node advertises, with --advertise 127.0.0.1:<port>, the port of its
// own TCP proxy (Network, Proxy), which forwards to the node's real Raft
// listener; so every Raft connection between two nodes goes through the
// destination's proxy. The proxy works at layer 4: mutual TLS passes
// through untouched. It learns the source of each connection from /proc
// (ProcIdentifier: the dialer's socket in /proc/net/tcp, then the trustd
// process holding it), which makes the fault model directional: a Link is
// the bytes one node sends another, on connections either of them dialed.
// A blocked link is a black hole — nothing read, nothing delivered, bytes
// held until it heals, as TCP would after a partition — not a reset. From
// that:
//
//   - isolation of a node (the leader or a follower), and majority/minority
//     partitions: every link across the cut, both ways;
//   - bridge partitions: two halves that cannot talk, both reaching one
//     bridge node;
//   - one-way loss: one direction of one pair (A's requests to B and A's
//     replies to B's requests are lost; B's messages to A arrive);
//   - SIGSTOP pauses, SIGKILL of the leader, of a node, of every node (a
//     whole-cluster restart with the same flags, in a random order);
//     leadership transfer under load; an online snapshot (backup) under
//     load.
//
// Limits of the model:
//
//   - Only Raft goes through the proxy. Gossip (its advertised port is its
//     bound port) and node-to-node HTTP (the API's advertised port is its
//     bound port) go direct, so a "partition" cuts Raft only: a node cut
//     off still gossips and still forwards writes and default and
//     linearizable reads to the leader it knows over HTTP. Full network
//     partitions need network namespaces with veth pairs (ip netns works
//     on these machines as root); the CI run stays on the proxy.
//   - Loss is of whole directions of a link, not of random packets: a
//     lossy link is not modelled, nor are delays.
//   - A connection whose dialer cannot be identified obeys only isolations
//     of its destination; Summary.ProxyUnidentified counts them (zero in
//     practice on Linux).
//   - Raft snapshots and log compaction cannot be forced: trustd has no
//     snapshot-threshold flag (it snapshots every 8,192 entries), so a long
//     run reaches it and a short one does not; the backup fault takes an
//     online FSM snapshot instead.
//   - Clients talk to the nodes directly: they are never partitioned with a
//     minority.
//
// # Running
//
// TestChaosShort (about a minute: two seeds of 20 s, one with a
// whole-cluster restart) runs in go test ./...; scripts/chaos -duration 10m
// -seed N runs a long one and prints its summary. A failing run keeps its
// directory — history.json (the seed, the options, the faults, every
// operation, the nodes' ledgers), summary.json, Porcupine's HTML
// visualization, and every node's log and data directory — and the
// summary names it and the command that replays the seed.
package chaostest
