// Package testnode is the one harness the tests of several packages run
// trustledger nodes with: Raft and gossip timeouts short enough for
// loopback (FastRaft, FastGossip), a single leading node with its
// bootstrap admin token and an httptest API server (StartSingle), a
// restartable cluster member serving its API on a real loopback socket
// (Member), API clients (Client), polling (WaitFor), the trustd and
// trustctl binaries built once per test binary (Main, Binaries), trustd
// processes (Process) and handing a joining node its identity (Admit,
// AdmitViaAPI).
//
// It does not import package api, so that api's own tests can use it: the
// packages hand in what it needs of api as an API value (see each
// package's helpers file).
package testnode
