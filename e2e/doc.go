// Package e2e holds trustledger's process-level end-to-end tests. They
// build cmd/trustd and cmd/trustctl, run trustd as a real process on
// loopback ports picked by the operating system with a data directory of
// its own, and drive it through the api/client package and the trustctl
// binary: durability across SIGKILL, idempotent signals across restarts,
// the README walkthrough, and a first start on the defaults.
//
// The package has no code of its own outside its tests.
package e2e
