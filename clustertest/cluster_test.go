package clustertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// three starts a bootstrapped n1 and joins n2 (through n1) and n3
// (through n2, a follower that forwards the join) as voters.
func three(t *testing.T, tune func(*cluster.Config)) *tcluster {
	return threeOf(t, newCluster(t), tune)
}

// threeOf makes c a cluster of three voters, as three does.
func threeOf(t *testing.T, c *tcluster, tune func(*cluster.Config)) *tcluster {
	c.add(spec{id: "n1", voter: true, bootstrap: true, tune: tune})
	n2 := c.add(spec{id: "n2", voter: true, tune: tune})
	n3 := c.add(spec{id: "n3", voter: true, tune: tune})
	if res := c.join("n1", n2); res.Action != client.JoinAdded || !res.Changed || res.Index == 0 {
		t.Fatalf("join n2: %+v", res)
	}
	waitFor(t, 10*time.Second, func() bool { return c.nodes["n2"].node.LeaderAPIAddr() != "" }, "n2 knows the leader's API")
	if res := c.join("n2", n3); res.Action != client.JoinAdded || len(res.Members) != 3 {
		t.Fatalf("join n3 through n2: %+v", res)
	}
	waitFor(t, 15*time.Second, func() bool {
		v, err := c.client("n3").Cluster(ctxT(t, 10*time.Second))
		if err != nil || v.Voters != 3 || v.LeaderID == "" {
			return false
		}
		for _, m := range v.Members {
			if m.Gossip != cluster.GossipAlive || !m.Reachable || m.Suffrage != cluster.SuffrageVoter {
				return false
			}
		}
		return true
	}, "n3 sees three alive, reachable voters")
	return c
}

// Three nodes form a cluster through the join API; a write sent to any
// node is forwarded to the leader and visible on every node, byte for byte.
func TestJoinAndWriteAnywhere(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ctx := ctxT(t, 60*time.Second)

	// Joining again is a no-op; the same id at another address is refused.
	if res := c.join("n3", c.nodes["n2"]); res.Action != client.JoinNone || res.Changed {
		t.Fatalf("join again: %+v", res)
	}
	voter := true
	_, err := c.client("n2").Join(ctx, client.JoinRequest{NodeID: "n3", RaftAddr: freeAddr(t), APIAddr: c.nodes["n3"].url(), Voter: &voter})
	var pe *client.Error
	if client.StatusCode(err) != http.StatusConflict || !errorsAs(err, &pe) || pe.Problem.Code != "conflict" {
		t.Fatalf("same id, another raft address: %v", err)
	}

	var last uint64
	for i, id := range []string{"n1", "n2", "n3"} {
		cl := c.client(id)
		reg, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "p-" + id, PrincipalType: "user"})
		if err != nil {
			t.Fatalf("register through %s: %v", id, err)
		}
		res, err := cl.SendSignals(ctx, signals("p-"+id, "w-"+id, 5, strconv.Itoa(i+1)))
		if err != nil || res.Index <= reg.Index {
			t.Fatalf("signals through %s: %+v %v", id, res, err)
		}
		last = res.Index
	}
	digest := c.converge(last)
	at := time.Now().Add(time.Hour)
	var want []byte
	for _, id := range []string{"n1", "n2", "n3"} {
		var raw []byte
		for _, p := range []string{"p-n1", "p-n2", "p-n3"} {
			var rec json.RawMessage
			q := url.Values{"consistency": {"stale"}, "at": {client.FormatTime(at)}, "index": {strconv.FormatUint(last-1, 10)}, "wait": {"10s"}}
			meta, err := c.client(id).Do(ctx, http.MethodGet, "/v1/principals/"+p, q, nil, &rec)
			if err != nil {
				t.Fatalf("stale read of %s on %s: %v", p, id, err)
			}
			if meta.ServedBy != id || meta.Index < last {
				t.Fatalf("stale read of %s on %s: served by %s at index %d", p, id, meta.ServedBy, meta.Index)
			}
			raw = append(raw, rec...)
		}
		if want == nil {
			want = raw
		} else if !bytes.Equal(raw, want) {
			t.Fatalf("records on %s differ from n1's", id)
		}
	}
	v := c.members("n1")
	if v.Quorum != 2 || v.FailureTolerance != 1 {
		t.Fatalf("cluster view: %+v", v)
	}
	for _, m := range v.Members {
		if m.Digest != digest || m.Lag != 0 || m.Region != "us-east" || m.Role != "voter" {
			t.Errorf("member %+v", m)
		}
	}
}

// The leader is killed while clients write through every node: a new
// leader takes over and no acknowledged write is lost.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ctx := ctxT(t, 90*time.Second)
	if _, err := c.client("n1").RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	ids := []string{"n1", "n2", "n3"}
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; !stop.Load(); b++ {
				batch := signals("alice", fmt.Sprintf("w%d-b%d", w, b), 10, "1")
				// Retry the same batch (same event ids) until it is
				// acknowledged: duplicates are harmless.
				for !stop.Load() {
					n := c.nodes[ids[rand.IntN(len(ids))]]
					cl := n.client(c.token)
					res, err := cl.SendSignals(ctx, batch)
					if err != nil {
						fails.Add(1)
						time.Sleep(10 * time.Millisecond) // pace retries while there is no leader
						continue
					}
					mu.Lock()
					for _, r := range res.Results {
						if r.Status == client.SignalAccepted || r.Status == client.SignalDuplicate {
							acked[r.EventID] = true
						}
					}
					mu.Unlock()
					break
				}
			}
		}()
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 20*time.Second, func() bool { return ackedCount() >= 300 }, "writes before the failover")

	old := c.leader()
	before := ackedCount()
	old.stop()
	start := time.Now()
	next := c.leader()
	t.Logf("%s took over from %s in %v", next.spec.id, old.spec.id, time.Since(start))
	waitFor(t, 20*time.Second, func() bool { return ackedCount() >= before+300 }, "writes after the failover")
	stop.Store(true)
	wg.Wait()

	st, _, err := next.client(c.token).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.converge(st.AppliedIndex)
	for _, n := range c.running() {
		have := ledgerEventIDs(t, n.client(c.token))
		missing := 0
		for id := range acked {
			if !have[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%s lacks %d of %d acknowledged signals", n.spec.id, missing, len(acked))
		}
	}
	t.Logf("%d acknowledged signals on every node; %d failed attempts retried", len(acked), fails.Load())

	// The old leader comes back and catches up.
	old.start()
	st, _, err = next.client(c.token).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.converge(st.AppliedIndex)
	waitFor(t, 15*time.Second, func() bool {
		m, ok := member(c.members(next.spec.id), old.spec.id)
		return ok && m.Gossip == cluster.GossipAlive && m.Reachable
	}, old.spec.id+" back in gossip")
}

// A node is removed (through a follower, which forwards), stays out, and
// another node joins and catches up.
func TestRemovedNodeStaysOutAndJoinerCatchesUp(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ctx := ctxT(t, 60*time.Second)
	leader := c.leader()
	var victim, via string
	for _, id := range []string{"n1", "n2", "n3"} {
		switch {
		case id == leader.spec.id:
		case victim == "":
			victim = id
		default:
			via = id
		}
	}
	if err := c.client(via).RemoveNode(ctx, victim); err != nil {
		t.Fatalf("remove %s through %s: %v", victim, via, err)
	}
	if err := c.client(via).RemoveNode(ctx, victim); client.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("remove twice: %v", err)
	}
	// It still runs and gossips; the reconciler must not take it back.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if m, _ := member(c.members(leader.spec.id), victim); m.Suffrage != cluster.SuffrageNone {
			t.Fatalf("%s is back as %s", victim, m.Suffrage)
		}
	}
	c.nodes[victim].stop()

	n4 := c.add(spec{id: "n4", voter: true})
	c.join(via, n4)
	// Until its first heartbeat the new node knows no leader: 503, retried.
	res := retry(t, 10*time.Second, "write through the new node", func() (*client.RecordResult, error) {
		return c.client("n4").RegisterPrincipal(ctx, client.Registration{PrincipalID: "after-join", PrincipalType: "user"})
	})
	c.converge(res.Index)
	v := c.members("n4")
	if v.Voters != 3 {
		t.Fatalf("voters after remove and join: %+v", v)
	}
	// Removing a voter when the rest could not make a quorum is refused:
	// with n4 stopped, removing the other follower would leave the leader
	// and a dead n4.
	n4.stop()
	waitFor(t, 10*time.Second, func() bool {
		m, _ := member(c.members(leader.spec.id), "n4")
		return m.Gossip == cluster.GossipDead || m.Gossip == cluster.GossipLeft
	}, "n4 reported gone")
	err := c.client(leader.spec.id).RemoveNode(ctx, via)
	var pe *client.Error
	if client.StatusCode(err) != http.StatusConflict || !errorsAs(err, &pe) || pe.Problem.Code != "quorum" {
		t.Fatalf("removal that loses quorum: %v", err)
	}
}

// A node that was down while the others compacted their logs catches up
// by snapshot install, as does a node that joins afterwards.
func TestNodesBehindCompactedLogCatchUp(t *testing.T) {
	t.Parallel()
	small := func(cfg *cluster.Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 50 * time.Millisecond
	}
	c := three(t, small)
	ctx := ctxT(t, 60*time.Second)
	leader := c.leader()
	var lagging *tnode
	for _, n := range c.running() {
		if n != leader {
			lagging = n
			break
		}
	}
	lagging.stop()
	cl := leader.client(c.token)
	if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "bob", PrincipalType: "service"}); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for b := range 200 {
		res, err := cl.SendSignals(ctx, signals("bob", fmt.Sprintf("s%d", b), 5, "1"))
		if err != nil {
			t.Fatal(err)
		}
		last = res.Index
	}
	waitFor(t, 10*time.Second, func() bool {
		idx, _ := strconv.ParseUint(leader.node.Raft().Stats()["last_snapshot_index"], 10, 64)
		return idx > 100
	}, "the leader takes a snapshot")

	lagging.start()
	joiner := c.add(spec{id: "n4", voter: false, region: "eu-west", tune: small})
	c.join(leader.spec.id, joiner)
	digest := c.converge(last)
	for _, n := range []*tnode{lagging, joiner} {
		// Raft records the installed snapshot just after the state machine
		// restored it (the digest above may come first): wait for it.
		waitFor(t, 5*time.Second, func() bool {
			idx, _ := strconv.ParseUint(n.node.Raft().Stats()["last_snapshot_index"], 10, 64)
			return idx > 0
		}, n.spec.id+" caught up by installing a snapshot")
		rec, _, err := n.client(c.token).GetPrincipal(ctx, "bob", &client.ReadOptions{Consistency: client.ConsistencyStale})
		if err != nil || len(rec.PositiveSignals) == 0 {
			t.Fatalf("bob on %s: %v", n.spec.id, err)
		}
	}
	t.Logf("all four nodes at index %d with digest %.12s", last, digest)
}

// A read replica serves stale reads itself, in its region, with headers
// that say how stale they may be, and forwards writes and default reads.
func TestReadReplica(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.add(spec{id: "n1", voter: true, bootstrap: true})
	n2 := c.add(spec{id: "n2", voter: true})
	r1 := c.add(spec{id: "r1", voter: false, region: "eu-west"})
	c.join("n1", n2)
	if res := c.join("n1", r1); res.Action != client.JoinAdded {
		t.Fatalf("join replica: %+v", res)
	}
	ctx := ctxT(t, 60*time.Second)
	rc := c.client("r1")
	waitFor(t, 10*time.Second, func() bool { return r1.node.LeaderAPIAddr() != "" }, "r1 knows the leader's API")

	reg, err := rc.RegisterPrincipal(ctx, client.Registration{PrincipalID: "carol", PrincipalType: "device"})
	if err != nil {
		t.Fatalf("write through the replica: %v", err)
	}
	// Until the replica has applied the write, it may not know the test's
	// token either, and would hand a stale read to the leader (a token
	// created after its last entry; api.tokenMaybeNewer): wait for it.
	waitFor(t, 10*time.Second, func() bool { return r1.node.AppliedIndex() >= reg.Index }, "r1 applies the registration")
	_, meta, err := rc.GetPrincipal(ctx, "carol", &client.ReadOptions{Consistency: client.ConsistencyStale, WaitIndex: reg.Index - 1})
	if err != nil {
		t.Fatalf("stale read on the replica: %v", err)
	}
	if meta.ServedBy != "r1" || meta.Index < reg.Index || !meta.KnownLeader || meta.LastContact < 0 || meta.LastContact > 5*time.Second {
		t.Fatalf("stale read meta: %+v", meta)
	}
	if _, meta, err = rc.GetPrincipal(ctx, "carol", nil); err != nil || meta.ServedBy != "n1" {
		t.Fatalf("default read on the replica: %+v %v", meta, err)
	}
	if _, meta, err = rc.GetPrincipal(ctx, "carol", &client.ReadOptions{Consistency: client.ConsistencyLinearizable}); err != nil || meta.ServedBy != "n1" {
		t.Fatalf("linearizable read on the replica: %+v %v", meta, err)
	}
	v := c.members("r1")
	m, _ := member(v, "r1")
	if v.Voters != 2 || m.Role != "nonvoter" || m.Suffrage != "nonvoter" || m.Region != "eu-west" || !m.Self {
		t.Fatalf("replica in the cluster view: %+v", m)
	}

	// Cut off from the voters, the replica still answers stale reads, and
	// says so; max_stale refuses them once the leader is too long gone.
	c.nodes["n2"].stop()
	c.nodes["n1"].stop()
	waitFor(t, 10*time.Second, func() bool {
		_, meta, err := rc.GetPrincipal(ctx, "carol", &client.ReadOptions{Consistency: client.ConsistencyStale})
		return err == nil && !meta.KnownLeader && meta.LastContact > 300*time.Millisecond
	}, "the replica reports no leader and an old last contact")
	_, err = rc.Do(ctx, http.MethodGet, "/v1/principals/carol", map[string][]string{"consistency": {"stale"}, "max_stale": {"200ms"}}, nil, nil)
	var pe *client.Error
	if client.StatusCode(err) != http.StatusServiceUnavailable || !errorsAs(err, &pe) || pe.RetryAfter == 0 {
		t.Fatalf("max_stale on an isolated replica: %v", err)
	}
	if _, err := rc.SendSignals(ctx, signals("carol", "x", 1, "1")); client.StatusCode(err) != http.StatusServiceUnavailable {
		t.Fatalf("write with no leader: %v", err)
	}
	if r1.node.IsLeader() {
		t.Fatal("a non-voter leads")
	}
}

// A linearizable read on any node, after an acknowledged write on any
// node, sees it, also across a leadership transfer.
func TestLinearizableReadsSeeAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ctx := ctxT(t, 60*time.Second)
	ids := []string{"n1", "n2", "n3"}
	for i := range 60 {
		if i == 30 {
			tr, err := c.client(ids[rand.IntN(3)]).TransferLeadership(ctx, "")
			if err != nil || tr.LeaderID == tr.PreviousLeaderID {
				t.Fatalf("transfer leadership: %+v %v", tr, err)
			}
		}
		p := fmt.Sprintf("lin-%d", i)
		w := c.client(ids[rand.IntN(3)])
		reg := retry(t, 10*time.Second, "register "+p, func() (*client.RecordResult, error) {
			return w.RegisterPrincipal(ctx, client.Registration{PrincipalID: p, PrincipalType: "user"})
		})
		r := c.client(ids[rand.IntN(3)])
		_, meta := retry2(t, 10*time.Second, "read "+p, func() (*client.Record, *client.Meta, error) {
			return r.GetPrincipal(ctx, p, &client.ReadOptions{Consistency: client.ConsistencyLinearizable})
		})
		if meta.Index < reg.Index {
			t.Fatalf("linearizable read of %s at index %d, the write was at %d", p, meta.Index, reg.Index)
		}
	}
}

// Backups are taken through any node and restored into another cluster.
func TestBackupRestoresIntoAnotherCluster(t *testing.T) {
	t.Parallel()
	a := three(t, nil)
	ctx := ctxT(t, 60*time.Second)
	if _, err := a.client("n1").RegisterPrincipal(ctx, client.Registration{PrincipalID: "bk", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	res, err := a.client("n2").SendSignals(ctx, signals("bk", "bk", 3, "1"))
	if err != nil {
		t.Fatal(err)
	}
	digest := a.converge(res.Index)
	var buf bytes.Buffer
	info, err := a.client("n3").Snapshot(ctx, &buf, nil)
	if err != nil || info.Bytes == 0 || info.Index < res.Index {
		t.Fatalf("snapshot through a follower: %+v %v", info, err)
	}

	b := newCluster(t)
	b.add(spec{id: "b1", voter: true, bootstrap: true})
	b2 := b.add(spec{id: "b2", voter: true})
	b.join("b1", b2)
	waitFor(t, 10*time.Second, func() bool { return b2.node.LeaderAPIAddr() != "" }, "b2 knows the leader's API")
	if _, err := b.client("b2").Restore(ctx, bytes.NewReader([]byte("garbage"))); client.StatusCode(err) != http.StatusBadRequest {
		t.Fatalf("restore of garbage: %v", err)
	}
	rr, err := b.client("b2").Restore(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil || rr.Digest != digest {
		t.Fatalf("restore through a follower: %+v %v (want digest %s)", rr, err, digest)
	}
	waitFor(t, 10*time.Second, func() bool {
		for _, n := range b.running() {
			if n.node.Ledger().Digest() != digest {
				return false
			}
		}
		return true
	}, "both nodes of the second cluster have the restored state")
	// The restored state has the first cluster's tokens.
	if _, err := b.nodes["b1"].client(a.token).Restore(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("restoring the same snapshot again: %v", err)
	}
	if _, _, err := b.client("b1").Status(ctx); client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("the second cluster's own token after the restore: %v", err)
	}
}

func errorsAs(err error, target **client.Error) bool { return errors.As(err, target) }

// retry2 is retry for calls that answer with meta.
func retry2[T any](t *testing.T, timeout time.Duration, what string, f func() (T, *client.Meta, error)) (T, *client.Meta) {
	t.Helper()
	var meta *client.Meta
	v := retry(t, timeout, what, func() (T, error) {
		v, m, err := f()
		meta = m
		return v, err
	})
	return v, meta
}

// A forwarded request keeps the caller's identity: the leader
// authenticates and authorizes it. Loops are cut, and an unreachable
// leader is a 503.
func TestForwardingKeepsIdentity(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ctx := ctxT(t, 60*time.Second)
	leader := c.leader()
	var follower *tnode
	for _, n := range c.running() {
		if n != leader {
			follower = n
			break
		}
	}
	lc := leader.client(c.token)
	if _, err := lc.PutOrg(ctx, "acme", client.OrgSpec{BaseTrustScore: "60"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []client.Registration{{PrincipalID: "in", PrincipalType: "user", OrgID: "acme"}, {PrincipalID: "out", PrincipalType: "user"}} {
		if _, err := lc.RegisterPrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Tokens made on the leader are used on the follower at once.
	reader, err := lc.CreateToken(ctx, client.TokenRequest{Role: client.RoleReader})
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := lc.CreateToken(ctx, client.TokenRequest{Role: client.RoleWriter, Orgs: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := follower.client(reader.Secret).SendSignals(ctx, signals("in", "r", 1, "1")); client.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("a reader's write through the follower: %v", err)
	}
	if _, _, err := follower.client(reader.Secret).GetPrincipal(ctx, "in", &client.ReadOptions{Consistency: client.ConsistencyStale}); err != nil {
		t.Fatalf("a stale read with a token the follower may not have applied yet: %v", err)
	}
	wc := follower.client(scoped.Secret)
	if _, err := wc.SendSignals(ctx, signals("in", "s", 1, "1")); err != nil {
		t.Fatalf("a scoped writer within its org, through the follower: %v", err)
	}
	_, err = wc.SendSignals(ctx, signals("out", "s2", 1, "1"))
	var pe *client.Error
	if client.StatusCode(err) != http.StatusForbidden || !errorsAs(err, &pe) || pe.Problem.Code != "scope" {
		t.Fatalf("a scoped writer outside its org, through the follower: %v", err)
	}
	if _, err := follower.client("tl_nope").SendSignals(ctx, signals("in", "x", 1, "1")); client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("an unknown token through the follower: %v", err)
	}

	// A client cannot pose as a forwarding node: X-Trust-Forwarded-By is
	// believed only from a member proven by its certificate, so the
	// follower forwards the request as any other (and does not answer the
	// loop guard's 503).
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, follower.url()+"/v1/principals/in", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Trust-Forwarded-By", "elsewhere")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Trust-Served-By") != leader.spec.id {
		t.Fatalf("a client's X-Trust-Forwarded-By on a follower: %d, served by %q", resp.StatusCode, resp.Header.Values("X-Trust-Served-By"))
	}

	// The leader's API goes away while Raft runs: reads and writes through
	// the follower are 503 with Retry-After.
	leader.member.CloseHTTP()
	_, _, err = follower.client(c.token).GetPrincipal(ctx, "in", nil)
	if client.StatusCode(err) != http.StatusServiceUnavailable || !errorsAs(err, &pe) || pe.RetryAfter == 0 {
		t.Fatalf("a read forwarded to an unreachable leader: %v", err)
	}
	if _, err := follower.client(c.token).SendSignals(ctx, signals("in", "y", 1, "1")); client.StatusCode(err) != http.StatusServiceUnavailable {
		t.Fatalf("a write forwarded to an unreachable leader: %v", err)
	}
}
