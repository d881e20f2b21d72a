package clustertest

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// Restart liveness (docs/operations.md, "Restarting a whole cluster"): a
// node restarted on its data directory rejoins by itself, in any order,
// and never depends on --join.

// servesWithin waits until p takes a write (forwarded to the leader if it
// does not lead) and answers a linearizable read, and returns how long
// that took.
func (c *procCluster) servesWithin(ctx context.Context, p *proc, timeout time.Duration, id string) time.Duration {
	c.t.Helper()
	start := time.Now()
	cl := c.client(p)
	for {
		_, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: id, PrincipalType: "user"})
		if err == nil || client.StatusCode(err) == http.StatusConflict {
			_, _, err = cl.GetPrincipal(ctx, id, &client.ReadOptions{Consistency: client.ConsistencyLinearizable})
		}
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("%s did not serve a write and a linearizable read within %v: %v", p.id, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // a client's retry pace
	}
}

// Every node is killed, then the others come back before the node that
// bootstrapped the cluster: it must find them (nobody contacts its gossip
// port any more) and serve within 20 s, as every other node does.
func TestWholeClusterRestartBootstrapNodeLast(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	c.servesWithin(ctx, c.procs[0], 20*time.Second, "before")
	for _, p := range c.procs {
		_ = p.signal(t, syscall.SIGKILL)
	}
	for _, p := range c.procs[1:] {
		p.start(t, c.bin)
	}
	pollUntil(t, 30*time.Second, func() bool {
		for _, p := range c.procs[1:] {
			if st, _, err := c.client(p).Status(ctx); err == nil && st.State == "leader" {
				return true
			}
		}
		return false
	}, "n2 or n3 leads")
	c.procs[0].start(t, c.bin)
	for _, p := range c.procs {
		d := c.servesWithin(ctx, p, 20*time.Second, "after-"+p.id)
		t.Logf("%s served a write and a linearizable read %v after the restart", p.id, d.Round(time.Millisecond))
	}
	for _, p := range c.procs {
		if !p.running() {
			t.Fatalf("%s exited", p.id)
		}
	}
}

// A member restarted with a --join that can only fail (here a token the
// cluster does not know) keeps running and serves: it is a member already.
func TestRestartedMemberNeverExitsOnJoin(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	n3 := c.procs[2]
	_ = n3.signal(t, syscall.SIGKILL)
	n3.args = append(n3.args, "--join", c.procs[0].url(), "--token", "tl_not-a-token-of-this-cluster")
	n3.start(t, c.bin)
	c.servesWithin(ctx, n3, 20*time.Second, "through-n3")
	// A refused join used to end trustd a moment after its first attempt.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if !n3.running() {
			t.Fatalf("n3 exited after its restart:\n%s", n3.tail())
		}
		time.Sleep(100 * time.Millisecond) // the observation window: n3 must stay up
	}
}

// A node restarted alone (no leader to learn the commit index from) has
// not replayed its log: a token it does not know yet is answered 503
// not-ready with Retry-After, never 401.
func TestReplayingNodeAnswersNotReady(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	tok, err := c.client(c.procs[0]).CreateToken(ctx, client.TokenRequest{Role: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 20*time.Second, func() bool {
		for _, p := range c.procs {
			cl, _ := client.New(client.Config{Address: p.url(), Token: tok.Secret})
			if _, _, err := cl.ListPrincipals(ctx, client.ListFilter{}, &client.ReadOptions{Consistency: client.ConsistencyStale}); err != nil {
				return false
			}
		}
		return true
	}, "every node knows the new token")
	for _, p := range c.procs {
		_ = p.signal(t, syscall.SIGKILL)
	}
	n3 := c.procs[2]
	n3.start(t, c.bin)
	cl, err := client.New(client.Config{Address: n3.url(), Token: tok.Secret})
	if err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 20*time.Second, func() bool { return cl.Health(ctx) == nil }, "n3 serves")
	for range 5 {
		_, _, err := cl.ListPrincipals(ctx, client.ListFilter{}, &client.ReadOptions{Consistency: client.ConsistencyStale})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.StatusCode != http.StatusServiceUnavailable || ce.Problem.Type != "https://trustledger.dev/problems/not-ready" || ce.RetryAfter == 0 {
			t.Fatalf("a token n3 has not replayed yet: %v; want 503 not-ready with Retry-After", err)
		}
	}
	// Once the others are back, n3 catches up and knows the token.
	for _, p := range c.procs[:2] {
		p.start(t, c.bin)
	}
	pollUntil(t, 30*time.Second, func() bool {
		_, _, err := cl.ListPrincipals(ctx, client.ListFilter{}, &client.ReadOptions{Consistency: client.ConsistencyStale})
		return err == nil
	}, "n3 knows the token after catching up")
}

// A stale read a follower hands to the leader (a token it does not know)
// names only the leader as the node that answered.
func TestForwardedStaleReadServedByOneNode(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	leader := c.leader()
	var follower *tnode
	for _, n := range c.nodes {
		if n != leader {
			follower = n
		}
	}
	req, _ := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, follower.url()+"/v1/principals?consistency=stale", nil)
	req.Header.Set("Authorization", "Bearer tl_unknown-everywhere")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Values("X-Trust-Served-By"); resp.StatusCode != http.StatusUnauthorized || len(got) != 1 || got[0] != leader.spec.id {
		t.Fatalf("a forwarded stale read: %d, X-Trust-Served-By %q; want 401 from %s alone", resp.StatusCode, got, leader.spec.id)
	}
}
