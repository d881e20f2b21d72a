package clustertest

// Attacks on a real cluster of trustd processes over TCP on loopback, as
// an attacker on the same host would make them.
// Each attacker holds what it could hold: a Raft client with no
// certificate or one from its own CA; a memberlist node without the
// gossip key, or with it (read from a node's data directory) but never
// admitted through the API; listeners registered as members' API
// addresses; a joiner pointed at a CA it does not expect.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/trustledger/trustledger/api/client"
)

// A raw hashicorp/raft client, over plain TCP and over TLS with a
// certificate from another CA that names a member, sends every node an
// AppendEntries (term+1, with an entry, as a leader would), a RequestVote
// (term+1, a leadership transfer from a member, with a longer log) and an
// InstallSnapshot that would make it the only voter. Every RPC is refused,
// and no node's leader, term, commit or applied index, or digest changes.
func TestRaftRefusesUnauthenticatedPeers(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	ca := newForeignCA(t)

	for _, tc := range []struct {
		name string
		cert func(impersonate string) *tls.Certificate
	}{
		{"PlainTCP", func(string) *tls.Certificate { return nil }},
		{"CertificateFromAnotherCA", func(id string) *tls.Certificate { cert := ca.issue(t, id); return &cert }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, term, commit, leader := c.settledState(ctx)
			t.Logf("before: leader %s, term %d, commit index %d", leader, term, commit)
			for i, target := range c.procs {
				// The attacker poses as another member: RequestVote is
				// refused outright from an id outside the configuration.
				member := c.procs[(i+1)%len(c.procs)].id
				tr := newRaftAttacker(t, tc.cert(member))
				hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(member), Addr: []byte(tr.LocalAddr())}
				id, addr := raft.ServerID(target.id), raft.ServerAddress(target.raft)
				rpcs := []struct {
					name string
					send func() (string, error)
				}{
					{"AppendEntries", func() (string, error) {
						var resp raft.AppendEntriesResponse
						err := tr.AppendEntries(id, addr, &raft.AppendEntriesRequest{RPCHeader: hdr, Term: term + 1,
							PrevLogEntry: commit, PrevLogTerm: term,
							Entries:           []*raft.Log{{Index: commit + 1, Term: term + 1, Type: raft.LogNoop}},
							LeaderCommitIndex: commit + 1}, &resp)
						return fmt.Sprintf("success=%v term=%d lastLog=%d", resp.Success, resp.Term, resp.LastLog), err
					}},
					{"RequestVote", func() (string, error) {
						var resp raft.RequestVoteResponse
						err := tr.RequestVote(id, addr, &raft.RequestVoteRequest{RPCHeader: hdr, Term: term + 1,
							LastLogIndex: commit + 1000, LastLogTerm: term + 1, LeadershipTransfer: true}, &resp)
						return fmt.Sprintf("granted=%v term=%d", resp.Granted, resp.Term), err
					}},
					{"InstallSnapshot", func() (string, error) {
						conf := raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{
							{Suffrage: raft.Voter, ID: raft.ServerID(member), Address: tr.LocalAddr()}}})
						data := bytes.Repeat([]byte("forged snapshot "), 64)
						var resp raft.InstallSnapshotResponse
						err := tr.InstallSnapshot(id, addr, &raft.InstallSnapshotRequest{RPCHeader: hdr,
							SnapshotVersion: raft.SnapshotVersionMax, Term: term + 1,
							LastLogIndex: commit + 1000, LastLogTerm: term + 1, Configuration: conf, ConfigurationIndex: commit + 1000,
							Size: int64(len(data))}, &resp, bytes.NewReader(data))
						return fmt.Sprintf("success=%v term=%d", resp.Success, resp.Term), err
					}},
				}
				for _, rpc := range rpcs {
					answer, err := rpc.send()
					if err == nil {
						t.Errorf("%s to %s (posing as %s): answered (%s); want the connection refused", rpc.name, target.id, member, answer)
					} else {
						t.Logf("%s to %s: refused: %v", rpc.name, target.id, err)
					}
					after, err := c.state(ctx)
					if err != nil {
						t.Fatalf("after %s to %s: %v", rpc.name, target.id, err)
					}
					for _, p := range c.procs {
						if after[p.id] != before[p.id] {
							t.Fatalf("after %s to %s, %s changed:\n  before %s\n  after  %s", rpc.name, target.id, p.id,
								before[p.id], after[p.id])
						}
					}
				}
			}
		})
	}

	// An operator token cannot obtain a certificate for a member's id,
	// which would let it speak Raft as that member (a takeover that leaves
	// no trace in the configuration).
	t.Run("OperatorCertificateForAMember", func(t *testing.T) {
		admin, err := client.New(client.Config{Address: "http://" + c.procs[0].http, Token: c.token})
		if err != nil {
			t.Fatal(err)
		}
		op, err := admin.CreateToken(ctx, client.TokenRequest{Role: "operator"})
		if err != nil {
			t.Fatal(err)
		}
		for _, via := range c.procs {
			for _, member := range c.procs {
				_, err := operatorIdentity(ctx, via.http, op.Secret, member.id)
				if err == nil || !strings.Contains(err.Error(), "answered 409") {
					t.Errorf("a certificate for member %s through %s: %v; want 409", member.id, via.id, err)
				}
			}
		}
	})
}

// Nodes that were never admitted through the authenticated join gossip
// with the cluster, and listeners are registered as members' API
// addresses, for one 30-second window while an admin lists the cluster
// (GET /v1/cluster every 200 ms on every node, with the admin token):
//
//   - rogue-nokey, a memberlist node without the gossip key, and
//     rogue-key, one with the cluster's key (from a node's
//     identity/gossip.keys), advertise trustd node meta (voters, a Raft
//     address, an API address);
//   - fake-join is registered through POST /v1/cluster/join (operator
//     token) with a recorder as its API address; fake-cert the same way,
//     its recorder presenting a genuine node certificate that the
//     operator token obtained (POST /v1/cluster/identity), so that probes
//     reach it; fake-gossip the same way, and then claimed in gossip
//     (with the key) with another recorder as its API address.
//
// GossipNeverGrantsMembership: the rogues never enter the Raft
// configuration, and their Raft addresses are never dialled.
// MemberProbesNeverCarryTokens: no recorder ever receives the admin token
// or any Authorization header, in clear or inside TLS.
func TestRogueNodesGainNothing(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3)
	ctx := ctxT(t, 2*time.Minute)
	ca := newForeignCA(t)
	const window = 30 * time.Second

	keys := c.procs[0].gossipKeys(t)
	if keys == nil {
		t.Logf("%s has no identity/gossip.keys: gossip runs without a key, and rogue-key runs without one too", c.procs[0].id)
	}
	var gossipAddrs []string
	for _, p := range c.procs {
		gossipAddrs = append(gossipAddrs, p.gossip)
	}

	// The listeners: an API recorder and a Raft sink for each rogue. The
	// recorders present certificates from the attacker's CA, except
	// fake-cert's: a genuine node certificate, which the operator token
	// obtains from the cluster (where there is a cluster CA), so that the
	// cluster's probes of fake-cert complete their handshake and are read.
	recorders := map[string]*recorder{}
	for _, id := range []string{"rogue-nokey", "rogue-key", "fake-join", "fake-join-api", "fake-gossip"} {
		recorders[id] = newRecorder(t, strings.TrimSuffix(id, "-api"), ca.issue(t, strings.TrimSuffix(id, "-api")))
	}
	genuine, err := operatorIdentity(ctx, c.procs[0].http, c.token, "fake-cert")
	haveGenuine := err == nil
	if err != nil {
		t.Logf("no cluster certificate for fake-cert (%v): its recorder presents one from the attacker's CA", err)
		genuine = ca.issue(t, "fake-cert")
	}
	recorders["fake-cert"] = newRecorder(t, "fake-cert", genuine)
	sinks := map[string]*tcpSink{}
	for _, id := range []string{"rogue-nokey", "rogue-key", "fake-join", "fake-gossip", "fake-cert"} {
		sinks[id] = newTCPSink(t)
	}

	// fake-join, fake-cert and fake-gossip through the join API, as read
	// replicas (so that the cluster keeps its quorum).
	admin := c.client(c.procs[0])
	for _, j := range []struct{ id, api string }{{"fake-join", recorders["fake-join"].url()},
		{"fake-cert", recorders["fake-cert"].url()}, {"fake-gossip", recorders["fake-join-api"].url()}} {
		voter := false
		res, err := admin.Join(ctx, client.JoinRequest{NodeID: j.id, RaftAddr: sinks[j.id].addr(), APIAddr: j.api, Voter: &voter, Region: "us-east"})
		if err != nil {
			t.Fatalf("register %s through POST /v1/cluster/join: %v", j.id, err)
		}
		t.Logf("registered %s through the join API: %s at index %d", j.id, res.Action, res.Index)
	}

	rogues := map[string]*rogueGossip{}
	start := func(id string, keys [][]byte, meta rogueMeta) {
		meta.Region = "us-east"
		rogues[id] = startRogueGossip(t, id, keys, meta)
	}
	start("rogue-nokey", nil, rogueMeta{APIAddr: recorders["rogue-nokey"].url(), RaftAddr: sinks["rogue-nokey"].addr(), Voter: true})
	start("rogue-key", keys, rogueMeta{APIAddr: recorders["rogue-key"].url(), RaftAddr: sinks["rogue-key"].addr(), Voter: true})
	start("fake-gossip", keys, rogueMeta{APIAddr: recorders["fake-gossip"].url(), RaftAddr: sinks["fake-gossip"].addr()})
	for _, id := range []string{"rogue-key", "fake-gossip"} {
		if n, err := rogues[id].join(gossipAddrs); err != nil {
			t.Fatalf("%s, holding the gossip key, could not gossip with the cluster: %v (contacted %d)", id, err, n)
		}
	}
	if n, err := rogues["rogue-nokey"].join(gossipAddrs); err == nil {
		t.Logf("rogue-nokey, without the key, contacted %d gossip members", n)
	} else {
		t.Logf("rogue-nokey, without the key, could not gossip with the cluster: %v", err)
	}

	// The window: every node listed every 200 ms with the admin token.
	type observation struct {
		listings     int
		firstMember  map[string]string // rogue id -> the first listing that had it in the Raft configuration
		seenInGossip map[string]bool
		listErr      error
	}
	obs := make([]observation, len(c.procs))
	windowStart := time.Now()
	deadline := windowStart.Add(window)
	var wg sync.WaitGroup
	for i, p := range c.procs {
		obs[i] = observation{firstMember: map[string]string{}, seenInGossip: map[string]bool{}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &obs[i]
			cl := c.client(p)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for time.Now().Before(deadline) {
				v, err := cl.Cluster(ctx)
				if err != nil {
					o.listErr = err
				} else {
					o.listings++
					for _, m := range v.Members {
						if !strings.HasPrefix(m.ID, "rogue-") {
							continue
						}
						if m.Gossip == "alive" {
							o.seenInGossip[m.ID] = true
						}
						if m.Suffrage != "none" && m.Suffrage != "" && o.firstMember[m.ID] == "" {
							o.firstMember[m.ID] = fmt.Sprintf("after %v: suffrage %s, role %s, raft address %s",
								time.Since(windowStart).Round(time.Millisecond), m.Suffrage, m.Role, m.RaftAddr)
						}
					}
				}
				<-tick.C
			}
		}()
	}
	// The keyless rogue keeps knocking for the whole window.
	knock := time.NewTicker(2 * time.Second)
	for time.Now().Before(deadline) {
		<-knock.C
		_, _ = rogues["rogue-nokey"].join(gossipAddrs)
	}
	knock.Stop()
	wg.Wait()
	for _, g := range rogues {
		wg.Add(1)
		go func() { defer wg.Done(); g.leave() }()
	}
	wg.Wait()

	// Remove the fake members.
	for _, id := range []string{"fake-join", "fake-cert", "fake-gossip"} {
		if err := admin.RemoveNode(ctx, id); err != nil {
			t.Errorf("remove %s: %v", id, err)
		}
	}
	pollUntil(t, 20*time.Second, func() bool {
		v, err := admin.Cluster(ctx)
		if err != nil {
			return false
		}
		for _, m := range v.Members {
			if strings.HasPrefix(m.ID, "fake-") && m.Suffrage != "none" {
				return false
			}
		}
		return true
	}, "the fake members removed from the Raft configuration")

	for i, p := range c.procs {
		if obs[i].listings == 0 {
			t.Fatalf("no listing of %s succeeded: %v", p.id, obs[i].listErr)
		}
	}

	t.Run("GossipNeverGrantsMembership", func(t *testing.T) {
		for i, p := range c.procs {
			for id, what := range obs[i].firstMember {
				t.Errorf("%s listed %s, which gossiped without joining through the API, in the Raft configuration (%s)", p.id, id, what)
			}
		}
		keyed := false
		for i := range c.procs {
			keyed = keyed || obs[i].seenInGossip["rogue-key"]
		}
		if !keyed {
			t.Errorf("no node ever saw rogue-key alive in gossip: it never reached the cluster, so the attack tested nothing")
		}
		for _, id := range []string{"rogue-nokey", "rogue-key"} {
			conns, n := sinks[id].counts()
			if conns != 0 {
				t.Errorf("%s's advertised Raft address %s received %d connections (%d bytes) from the cluster; want none",
					id, sinks[id].addr(), conns, n)
			}
		}
		for i, p := range c.procs {
			t.Logf("%s: %d listings; saw alive in gossip: %v", p.id, obs[i].listings, obs[i].seenInGossip)
		}
	})

	t.Run("MemberProbesNeverCarryTokens", func(t *testing.T) {
		contacted := 0
		for _, id := range []string{"rogue-nokey", "rogue-key", "fake-join", "fake-cert", "fake-join-api", "fake-gossip"} {
			rec := recorders[id].recording()
			t.Logf("%s (%s): %d connections, %d TLS handshakes (%d refused by the client), %d requests read",
				id, recorders[id].url(), rec.conns, rec.tlsConns, rec.tlsRefused, rec.requests)
			if strings.HasPrefix(id, "fake-") {
				contacted += rec.conns
			}
			if bytes.Contains(rec.wire, []byte(c.token)) || bytes.Contains(rec.clear, []byte(c.token)) {
				t.Errorf("%s, registered as %s's API address, received the admin token (first request: %s)", recorders[id].url(), id,
					rec.firstAuthorized)
			}
			if rec.withAuthorization > 0 {
				t.Errorf("%s, registered as %s's API address, received %d requests with an Authorization header; first: %s",
					recorders[id].url(), id, rec.withAuthorization, rec.firstAuthorized)
			}
		}
		if rec := recorders["fake-cert"].recording(); haveGenuine && rec.requests == 0 {
			t.Errorf("fake-cert, a member with a certificate from the cluster CA, was never probed: the probes' headers went untested")
		}
		if contacted == 0 {
			t.Errorf("the cluster never contacted the API addresses registered for fake-join and fake-gossip: the attack tested nothing")
		}
	})
}

// A node started with --join and a --ca-fingerprint that is not the
// cluster's (64 zeros, or another cluster's CA) refuses to join: trustd
// exits non-zero, says the CA does not match, and is no member. A node
// given the right fingerprint, started the same way, joins.
func TestJoinRefusesWrongCAFingerprint(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 1)
	ctx := ctxT(t, 2*time.Minute)
	n1 := c.procs[0]
	right := n1.caFingerprint(t)
	if right == "" {
		t.Logf("%s has no identity/ca.crt: this trustd has no cluster CA", n1.id)
	}
	joinArgs := func(pin string) []string {
		return []string{"--bootstrap=false", "--join", n1.url(), "--token-file", c.tokenFile, "--ca-fingerprint", pin}
	}
	wrong := map[string]string{
		"j-zeros": "sha256:" + strings.Repeat("0", 64),
		"j-other": newForeignCA(t).fingerprint(),
	}
	var joiners []*proc
	for id, pin := range wrong {
		joiners = append(joiners, newProcSpec(t, id, joinArgs(pin)...))
	}
	var control *proc
	if right != "" {
		control = newProcSpec(t, "j-right", joinArgs(right)...)
		joiners = append(joiners, control)
	}
	c.watch(joiners...)
	for _, p := range joiners {
		p.start(t, c.bin)
	}

	for _, p := range joiners {
		if p == control {
			continue
		}
		pin := wrong[p.id]
		var err error
		select {
		case <-p.proc.Done():
			err = p.proc.Err()
		case <-time.After(30 * time.Second):
			t.Fatalf("%s (--ca-fingerprint %s) still runs after 30 s; want it to refuse the cluster and exit", p.id, pin)
		}
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%s (--ca-fingerprint %s) exited with %v; want a non-zero status", p.id, pin, err)
		} else {
			t.Logf("%s (--ca-fingerprint %s) exited with status %d", p.id, pin, exit.ExitCode())
		}
		log, _ := os.ReadFile(p.log)
		said := ""
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "not the pinned cluster CA "+pin) && (right == "" || strings.Contains(line, right)) {
				said = line
			}
		}
		if said == "" {
			t.Errorf("%s's log does not say that the cluster's CA %s is not the pinned %s:\n%s", p.id, right, pin, p.tail())
		} else {
			t.Logf("%s: %s", p.id, said)
		}
		if _, err := os.Stat(filepath.Join(p.dataDir(), "identity", "node.crt")); err == nil {
			t.Errorf("%s installed a node certificate from a cluster whose CA it did not pin", p.id)
		}
	}
	if control != nil {
		pollUntil(t, 30*time.Second, func() bool {
			v, err := c.client(n1).Cluster(ctx)
			if err != nil {
				return false
			}
			m, ok := member(v, control.id)
			return ok && m.Suffrage == "voter"
		}, control.id+" (the right --ca-fingerprint) a voter")
	}
	v, err := c.client(n1).Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id := range wrong {
		if m, ok := member(v, id); ok {
			t.Errorf("%s, which refused the cluster, is listed: suffrage %s", id, m.Suffrage)
		}
	}
}
