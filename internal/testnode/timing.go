package testnode

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// RaftTimeouts returns a Raft tuner (cluster.Config.TuneRaft) with the
// given heartbeat and election timeout, a leader lease of three quarters of
// it and a 5 ms commit timeout.
func RaftTimeouts(heartbeat time.Duration) func(*raft.Config) {
	return func(c *raft.Config) {
		c.HeartbeatTimeout = heartbeat
		c.ElectionTimeout = heartbeat
		c.LeaderLeaseTimeout = heartbeat * 3 / 4
		c.CommitTimeout = 5 * time.Millisecond
	}
}

// FastRaft shortens Raft's timeouts for loopback: a single node leads
// within 200-400 ms instead of one to two seconds, and a small cluster
// keeps its leader on a loaded two-core machine.
func FastRaft(c *raft.Config) { RaftTimeouts(200 * time.Millisecond)(c) }

// FastGossip makes memberlist notice a dead node within about a second.
func FastGossip(c *memberlist.Config) {
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = 500 * time.Millisecond
	c.TCPTimeout = time.Second
	c.GossipToTheDeadTime = 5 * time.Second
	c.RetransmitMult = 2
	c.IndirectChecks = 1
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// WaitFor polls cond every interval until it holds, failing the test after
// timeout with what it waited for.
func WaitFor(t testing.TB, timeout, interval time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		<-tick.C
	}
}
