// Package clustertest holds the end-to-end tests of a trustledger cluster:
// in-process clusters of real nodes (Raft over TCP on loopback, bolt stores
// in temporary directories, the HTTP API on real sockets) driven through
// api/client, and a process-level test that runs trustd and trustctl
// binaries, kills the leader with SIGKILL under load and checks that the
// cluster keeps serving and converges (chaostest checks every acknowledged
// write under that fault and others). The package has no code of its own.
package clustertest
