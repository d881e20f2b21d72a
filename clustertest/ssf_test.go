package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api"
	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// balancer is the load balancer in front of a cluster, its SSF issuer:
// each request goes to the first node, from a rotating start, that
// answers.
type balancer struct {
	srv *httptest.Server
	mu  sync.Mutex
	to  []string
	n   int
}

func newBalancer(t *testing.T) *balancer {
	b := &balancer{}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *balancer) set(urls ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.to = urls
}

func (b *balancer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	targets := append([]string(nil), b.to...)
	b.n++
	start := b.n
	b.mu.Unlock()
	for i := range targets {
		target := targets[(start+i)%len(targets)]
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			continue
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			continue // a node that is down: the next
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no node answers", http.StatusBadGateway)
}

// ssfTimings are quick delivery settings for tests.
func ssfTimings(issuer string) api.SSFConfig {
	return api.SSFConfig{Issuer: issuer, Tick: 20 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond}
}

// httpJSON sends a JSON request and decodes the answer, failing the test
// on an unexpected status.
func httpJSON(t *testing.T, method, url, token string, body any, want int, out any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
}

// Cluster B (one node) registers cluster A (three voters behind a load
// balancer, its issuer) as a partner from A's well-known URL, with a push
// stream. A burst of level changes in A goes on while A's leader is
// killed: B ends up with every event A's outbox derived for the stream,
// each applied exactly once, and its records follow A's.
func TestSSFFederationSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	for _, delivery := range []string{"push", "poll"} {
		t.Run(delivery, func(t *testing.T) {
			t.Parallel()
			federateAcrossLeaderKill(t, delivery)
		})
	}
}

// federateAcrossLeaderKill is TestSSFFederationSurvivesLeaderKill for one
// delivery method.
func federateAcrossLeaderKill(t *testing.T, delivery string) {
	lb := newBalancer(t)
	a := newCluster(t)
	a.ssf = ssfTimings(lb.srv.URL)
	threeOf(t, a, nil)
	// Every voter holds the checkpoint key, as trustd's voters fetch it
	// from the leader: any of them may lead and open the credentials
	// sealed with it.
	first := a.nodes["n1"].node
	for _, id := range []string{"n2", "n3"} {
		skey, err := first.CheckpointKeyFor(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.nodes[id].node.InstallCheckpointKey(skey); err != nil {
			t.Fatal(err)
		}
	}
	lb.set(a.nodes["n1"].url(), a.nodes["n2"].url(), a.nodes["n3"].url())
	b := newCluster(t)
	b.ssf = ssfTimings("")
	b.add(spec{id: "b1", voter: true, bootstrap: true})

	ctx := ctxT(t, 2*time.Minute)
	var principals []string
	for i := 0; i < 30; i++ {
		principals = append(principals, fmt.Sprintf("p%d", i))
	}
	for _, c := range []*tcluster{a, b} {
		var via *client.Client
		for id := range c.nodes {
			via = c.client(id)
			break
		}
		for _, p := range principals {
			if _, err := via.RegisterPrincipal(ctx, client.Registration{PrincipalID: p, PrincipalType: "user", BaseTrustScore: "95"}); err != nil {
				t.Fatalf("register %s: %v", p, err)
			}
		}
	}
	rcv, err := a.client("n1").CreateToken(ctx, client.TokenRequest{Role: fsm.RoleReceiver, Description: "cluster b"})
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Partner fsm.PartnerView `json:"partner"`
	}
	httpJSON(t, "PUT", b.nodes["b1"].url()+"/v1/federation/partners/cluster-a", b.token, map[string]any{
		"ssf":    map[string]any{"configurationUrl": lb.srv.URL + "/.well-known/ssf-configuration", "token": rcv.Secret, "delivery": delivery},
		"weight": 0.5, "maxInfluence": 50}, http.StatusCreated, &reg)
	stream := reg.Partner.SSF.StreamID

	// The burst: one principal after another falls two levels, each
	// written through the balancer and retried (same event id) until
	// acknowledged; A's leader is killed a third of the way in.
	send := func(p string) {
		data, _ := json.Marshal(map[string]any{"eventId": "burst-" + p, "principalId": p, "event": "policy_violation",
			"category": "behavior", "impact": -60})
		for try := 0; ; try++ {
			req, _ := http.NewRequest("POST", lb.srv.URL+"/v1/signals", bytes.NewReader(data))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+a.token)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				code := resp.StatusCode
				resp.Body.Close()
				if code == http.StatusOK {
					return
				}
			}
			if try > 200 {
				t.Errorf("the signal for %s was never acknowledged", p)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A first violation reaches B's record within 2 s.
	start := time.Now()
	bl := b.nodes["b1"].node.Ledger()
	p0Before, _ := bl.Record("p0", time.Now().UnixMilli())
	send("p0")
	waitFor(t, 2*time.Second, func() bool {
		rec, _ := bl.Record("p0", time.Now().UnixMilli())
		return rec.TrustScore < p0Before.TrustScore
	}, "the violation in A moves p0's score in B")
	t.Logf("%s: p0's score moved in B %s after the violation was written in A", delivery, time.Since(start).Round(time.Millisecond))
	leader := a.leader()
	var atKill uint64
	for i, p := range principals[1:] {
		if i == len(principals)/3 {
			atKill = leader.node.Ledger().OutboxSequence()
			t.Logf("killing A's leader %s at outbox sequence %d", leader.spec.id, atKill)
			leader.stop()
		}
		send(p)
	}

	// Everything A derived for the stream reaches B.
	var outSeq uint64
	var live *tnode
	waitFor(t, 60*time.Second, func() bool {
		live = a.leader()
		v, ok := live.node.Ledger().Stream(stream)
		outSeq = live.node.Ledger().OutboxSequence()
		return ok && v.Cursor == outSeq && v.Pending == 0
	}, "A delivers the whole outbox to B")
	for seq := uint64(1); seq <= outSeq; seq++ {
		if !bl.FederatedEventSeen("cluster-a", fsm.JTI(stream, seq)) {
			t.Errorf("B never got SET %s", fsm.JTI(stream, seq))
		}
	}
	// Exactly once: one accepted federated_event entry per jti.
	entries, err := b.nodes["b1"].node.Entries(0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	applied := map[string]int{}
	for _, e := range entries {
		if ev, ok := e.Cmd.(*fsm.FederatedEvent); ok && e.Status == cluster.EntryApplied {
			applied[ev.EventID]++
		}
	}
	levelChanges := 0
	for jti, n := range applied {
		if n != 1 {
			t.Errorf("SET %s applied %d times", jti, n)
		}
		if strings.HasPrefix(jti, stream+"-") {
			levelChanges++
		}
	}
	if outSeq <= atKill {
		t.Fatalf("no event was derived after the kill (outbox %d, %d at the kill): the burst did not span it", outSeq, atKill)
	}
	if levelChanges == 0 || uint64(len(applied)) > outSeq {
		t.Fatalf("%d SETs applied in B for %d events in A's outbox", len(applied), outSeq)
	}
	t.Logf("%s: A's outbox: %d events for the stream; B applied %d SETs, each once, across the kill of %s", delivery, outSeq, len(applied), leader.spec.id)
	// B's records carry A's last assessment of each principal.
	for _, p := range principals {
		recA, _ := live.node.Ledger().Record(p, time.Now().UnixMilli())
		recB, _ := bl.Record(p, time.Now().UnixMilli())
		fed, ok := recB.FederatedTrust["cluster-a"]
		if !ok || string(fed.Score) != fmt.Sprint(recA.TrustScore) {
			t.Errorf("%s: A's score %d, B's assessment from A %+v", p, recA.TrustScore, fed)
		}
	}
}
