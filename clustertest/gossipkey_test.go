package clustertest

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// live returns the node's running cluster.Node (nil while it is stopped).
func (n *tnode) live() *cluster.Node { return n.member.Node() }

// gossipRotation is the answer of POST /v1/cluster/gossip-key/rotate.
type gossipRotation struct {
	Primary  string   `json:"primary"`
	Previous []string `json:"previous"`
	Members  []string `json:"members"`
}

// allAlive reports whether every running node's GET /v1/cluster shows
// every member in want alive in gossip.
func (c *tcluster) allAlive(want []string) error {
	for _, n := range c.running() {
		v, err := n.client(c.token).Cluster(ctxT(c.t, 10*time.Second))
		if err != nil {
			return fmt.Errorf("GET /v1/cluster on %s: %w", n.spec.id, err)
		}
		for _, id := range want {
			m, ok := member(v, id)
			if !ok || m.Gossip != cluster.GossipAlive {
				return fmt.Errorf("%s sees %s as %q (listed: %v)", n.spec.id, id, m.Gossip, ok)
			}
		}
	}
	return nil
}

// The gossip key is rotated, through a follower, on a cluster of three
// voters and a read replica while clients write through every node: no
// request fails, every node ends with the new key alone, gossip stays
// alive throughout, the old key no longer opens the ring, and a node
// restarted on its data directory comes back with the new key and
// rejoins gossip.
func TestGossipKeyRotationWithoutDowntime(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	replica := c.add(spec{id: "r1", voter: false})
	c.join("n1", replica)
	ids := []string{"n1", "n2", "n3", "r1"}
	waitFor(t, 20*time.Second, func() bool { return c.allAlive(ids) == nil }, "four members alive in gossip on every node")

	oldKeys, err := c.nodes["n1"].live().GossipKeys()
	old := c.nodes["n1"].live().GossipKeyIDs()
	if err != nil || len(old) != 1 || len(oldKeys) != 1 || cluster.GossipKeyID(oldKeys[0]) != old[0] {
		t.Fatalf("n1's keyring before the rotation: %v (%d keys, %v), want one key", old, len(oldKeys), err)
	}
	for _, id := range ids {
		if got := c.nodes[id].live().GossipKeyIDs(); !slices.Equal(got, old) {
			t.Fatalf("%s's keyring before the rotation: %v, n1's %v", id, got, old)
		}
	}
	ctx := ctxT(t, 120*time.Second)
	if _, err := c.client("n1").RegisterPrincipal(ctx, client.Registration{PrincipalID: "rot", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}

	// Writers: one per node, each batch sent once; any failure counts.
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		acked    atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(id)
			for b := 0; !stop.Load(); b++ {
				if _, err := cl.SendSignals(ctx, signals("rot", fmt.Sprintf("%s-b%d", id, b), 5, "1")); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("through %s: %v", id, err))
					mu.Unlock()
					continue
				}
				acked.Add(1)
			}
		}()
	}
	waitFor(t, 30*time.Second, func() bool { return acked.Load() >= 20 }, "writes before the rotation")

	follower := "n2"
	if c.leader().spec.id == follower {
		follower = "n3"
	}
	var res gossipRotation
	if _, err := c.client(follower).Do(ctx, http.MethodPost, "/v1/cluster/gossip-key/rotate", nil, nil, &res); err != nil {
		t.Fatalf("rotate through %s: %v", follower, err)
	}
	during := acked.Load()
	waitFor(t, 30*time.Second, func() bool { return acked.Load() >= during+20 }, "writes after the rotation")
	stop.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the rotation, the first: %s", len(failures), failures[0])
	}

	if res.Primary == "" || slices.Contains(old, res.Primary) || !slices.Equal(res.Previous, old) {
		t.Fatalf("rotation answer %+v; the old keyring was %v", res, old)
	}
	sort.Strings(res.Members)
	if !slices.Equal(res.Members, ids) {
		t.Fatalf("rotation reached %v, want %v (the read replica too)", res.Members, ids)
	}
	for _, id := range ids {
		if got := c.nodes[id].live().GossipKeyIDs(); !slices.Equal(got, []string{res.Primary}) {
			t.Errorf("%s's keyring after the rotation: %v, want [%s]", id, got, res.Primary)
		}
	}

	// Gossip stays alive: over a few probe and push/pull rounds every node
	// keeps seeing every member alive.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		if err := c.allAlive(ids); err != nil {
			t.Fatalf("after the rotation: %v", err)
		}
	}

	// The old key no longer opens the ring.
	if err := joinWithKey(t, oldKeys[0], c.nodes["n1"].gsp); err == nil {
		t.Fatal("a gossip node holding the retired key joined the ring")
	}

	// A node restarted on its data directory keeps the new key and rejoins.
	n3 := c.nodes["n3"]
	n3.stop()
	n3.start()
	if got := n3.live().GossipKeyIDs(); !slices.Equal(got, []string{res.Primary}) {
		t.Fatalf("n3 restarted with keyring %v, want [%s]", got, res.Primary)
	}
	waitFor(t, 30*time.Second, func() bool { return c.allAlive(ids) == nil }, "the restarted n3 back in gossip on every node")

	// The control for the refusal above: the new key does open the ring.
	newKeys, err := c.nodes["n1"].live().GossipKeys()
	if err != nil || len(newKeys) != 1 {
		t.Fatalf("n1's keyring: %d keys, %v", len(newKeys), err)
	}
	if err := joinWithKey(t, newKeys[0], c.nodes["n1"].gsp); err != nil {
		t.Fatalf("a gossip node holding the new key could not join: %v", err)
	}
}

// joinWithKey starts a memberlist node holding key and tries to join the
// ring at addr.
func joinWithKey(t *testing.T, key []byte, addr string) error {
	t.Helper()
	mc := memberlist.DefaultLANConfig()
	mc.Name = "outsider"
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	ring, err := memberlist.NewKeyring(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	mc.Keyring, mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = ring, true, true
	mc.TCPTimeout = 2 * time.Second
	mc.Logger = log.New(discard{}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ml.Shutdown() }()
	_, err = ml.Join([]string{addr})
	return err
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// When a member cannot be reached, the rotation is undone: the leader
// answers 503 naming it, and every node keeps the keyring it had. Once
// the member is back, a rotation succeeds.
func TestGossipKeyRotationUndoneWhenAMemberIsDown(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	ids := []string{"n1", "n2", "n3"}
	old := c.nodes["n1"].live().GossipKeyIDs()
	down := "n3"
	if c.leader().spec.id == down {
		down = "n2"
	}
	c.nodes[down].stop()

	via := c.leader().spec.id
	var res gossipRotation
	_, err := c.client(via).Do(ctxT(t, 60*time.Second), http.MethodPost, "/v1/cluster/gossip-key/rotate", nil, nil, &res)
	var pe *client.Error
	if client.StatusCode(err) != http.StatusServiceUnavailable || !errorsAs(err, &pe) || pe.Problem.Code != "members_unreachable" ||
		!strings.Contains(pe.Problem.Detail, down+" (") || !strings.Contains(pe.Problem.Detail, "undone") {
		t.Fatalf("rotation with %s down: %v (%+v)", down, err, pe)
	}
	for _, n := range c.running() {
		if got := n.live().GossipKeyIDs(); !slices.Equal(got, old) {
			t.Errorf("%s's keyring after the undone rotation: %v, want %v", n.spec.id, got, old)
		}
	}

	c.nodes[down].start()
	waitFor(t, 30*time.Second, func() bool { return c.allAlive(ids) == nil }, down+" back in gossip")
	res = gossipRotation{}
	if _, err := c.client(via).Do(ctxT(t, 60*time.Second), http.MethodPost, "/v1/cluster/gossip-key/rotate", nil, nil, &res); err != nil {
		t.Fatalf("rotation with every member up: %v", err)
	}
	for _, id := range ids {
		if got := c.nodes[id].live().GossipKeyIDs(); !slices.Equal(got, []string{res.Primary}) {
			t.Errorf("%s's keyring: %v, want [%s]", id, got, res.Primary)
		}
	}
}

// PUT /v1/cluster/gossip-keys takes keys from the leader alone: not from
// a token, even an admin's, not from a client without a certificate, and
// not from another member's certificate.
func TestGossipKeysRouteAdmitsOnlyTheLeader(t *testing.T) {
	t.Parallel()
	c := three(t, nil)
	leader := c.leader().spec.id
	var follower, target string
	for _, id := range []string{"n1", "n2", "n3"} {
		switch {
		case id == leader:
		case follower == "":
			follower = id
		default:
			target = id
		}
	}
	tn := c.nodes[target]
	before := tn.live().GossipKeyIDs()
	body := `{"keys":["` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"]}`
	put := func(hc *http.Client, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodPut, "https://"+tn.http+"/v1/cluster/gossip-keys", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PUT /v1/cluster/gossip-keys on %s: %v", target, err)
		}
		defer resp.Body.Close()
		var p struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.Code
	}
	// Without a member certificate a request gets no further than
	// authentication. (This client does not verify the server: what is
	// checked here is the server's refusal.)
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}}} // #nosec G402 -- a test client; the server is not what is checked
	if code, _ := put(anon, ""); code != http.StatusUnauthorized {
		t.Errorf("without a token or certificate: %d, want 401", code)
	}
	if code, _ := put(anon, c.token); code != http.StatusForbidden {
		t.Errorf("with the admin token: %d, want 403", code)
	}
	// Another member's certificate is a member's, but not the leader's.
	peer := &http.Client{Transport: &http.Transport{TLSClientConfig: c.nodes[follower].live().PeerClientTLS(target)}}
	if code, pcode := put(peer, ""); code != http.StatusForbidden || pcode != "not_leader" {
		t.Errorf("with %s's certificate: %d %q, want 403 not_leader", follower, code, pcode)
	}
	// The leader's certificate is admitted, and a keyring that cannot be
	// installed is refused field by field.
	lead := &http.Client{Transport: &http.Transport{TLSClientConfig: c.nodes[leader].live().PeerClientTLS(target)}}
	for _, bad := range []string{
		`{"keys":[]}`,
		`{"keys":["` + base64.StdEncoding.EncodeToString(make([]byte, 15)) + `"]}`,
		`{"keys":["not base64!"]}`,
		`{"keys":["` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"]}`,
		`{"keys":[],"extra":1}`,
	} {
		body = bad
		if code, _ := put(lead, ""); code != http.StatusBadRequest {
			t.Errorf("from the leader, %s: %d, want 400", bad, code)
		}
	}
	if got := tn.live().GossipKeyIDs(); !slices.Equal(got, before) {
		t.Fatalf("%s's keyring changed: %v, was %v", target, got, before)
	}
}
