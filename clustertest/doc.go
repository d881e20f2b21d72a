// Package clustertest holds the end-to-end tests of a trustledger cluster:
// in-process clusters of real nodes (Raft over TCP on loopback, bolt stores
// in temporary directories, the HTTP API on real sockets) driven through
// api/client, and a process-level test that runs trustd and trustctl
// binaries, kills the leader with SIGKILL and checks that no acknowledged
// write was lost. The package has no code of its own.
package clustertest
