package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnode"
)

// proc is one trustd process on its own loopback addresses and data
// directory.
type proc struct {
	id, dir, http, raft, gossip string
	args                        []string
	log                         string
	proc                        testnode.Process
}

// buildBinaries returns the directory of the trustd and trustctl
// binaries, built once for the test binary.
func buildBinaries(t *testing.T) string {
	t.Helper()
	return testnode.Binaries(t).Dir
}

// cleanEnv is the environment without TRUSTLEDGER_* settings of the
// machine running the test.
func cleanEnv() []string { return testnode.CleanEnv() }

// start starts trustd from the directory bin with p's arguments; its
// output goes to p.log.
func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	p.proc.Name, p.proc.Bin, p.proc.Args, p.proc.Log = p.id, filepath.Join(bin, "trustd"), p.args, p.log
	p.proc.Start(t)
}

func (p *proc) running() bool { return p.proc.Running() }

// signal sends sig and waits for the process to exit.
func (p *proc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	return p.proc.Signal(t, sig, 30*time.Second)
}

func (p *proc) tail() string { return testnode.Tail(p.proc.Output(), 15) }

// ctl runs trustctl and returns its standard output.
func ctl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "trustctl"), args...) // #nosec G204 -- the test's own binary
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("trustctl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// Three trustd processes are joined with trustctl (over TLS, the third
// through a follower), and every voter fetches the cluster CA key. Several
// clients write through every node while the leader is killed with SIGKILL
// and later restarted: writes go on being acknowledged through the kill
// and after the restart, and the nodes agree on the digest at the same
// index. (That acknowledged writes survive SIGKILL is
// e2e.TestAcknowledgedWritesSurviveSIGKILL; that none is lost when the
// leader goes, TestLeaderFailover.)
func TestProcessesSurviveLeaderKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds trustd and trustctl and runs three processes")
	}
	bin := buildBinaries(t)
	procs := map[string]*proc{}
	var order []*proc
	for i := 1; i <= 3; i++ {
		p := &proc{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), http: freeAddr(t), raft: freeAddr(t), gossip: freeAddr(t)}
		p.log = filepath.Join(p.dir, "trustd.log")
		p.args = []string{"--node-id", p.id, "--data-dir", filepath.Join(p.dir, "data"), "--http-addr", p.http,
			"--raft-addr", p.raft, "--gossip-addr", p.gossip, "--region", "us-east", "--log-level", "info"}
		if i > 1 {
			p.args = append(p.args, "--bootstrap=false")
		}
		procs[p.id] = p
		order = append(order, p)
	}
	t.Cleanup(func() {
		for _, p := range order {
			p.proc.Kill(t)
			if t.Failed() {
				t.Logf("%s log:\n%s", p.id, p.tail())
			}
		}
	})
	url := func(p *proc) string { return "http://" + p.http }
	token := filepath.Join(procs["n1"].dir, "data", "admin.token")

	procs["n1"].start(t, bin)
	waitFor(t, 30*time.Second, func() bool { _, err := os.Stat(token); return err == nil }, "n1's admin token")
	tok, err := client.ReadTokenFile(token)
	if err != nil {
		t.Fatal(err)
	}
	cl := func(p *proc) *client.Client {
		c, err := client.New(client.Config{Address: url(p), Token: tok, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, p := range order[1:] {
		p.start(t, bin)
		waitFor(t, 30*time.Second, func() bool { return cl(p).Health(context.Background()) == nil }, p.id+" serves")
	}
	// n2 joins through n1, n3 through n2 (a follower, which forwards).
	for i, p := range order[1:] {
		via := order[i]
		out := ctl(t, bin, "--addr", url(via), "--token-file", token, "cluster", "join", "--node-id", p.id,
			"--raft-addr", p.raft, "--api-addr", url(p), "--gossip-addr", p.gossip, "--region", "us-east")
		if !strings.Contains(out, "joined as a voter") {
			t.Fatalf("join %s: %s", p.id, out)
		}
	}
	waitFor(t, 20*time.Second, func() bool {
		v, err := cl(procs["n3"]).Cluster(context.Background())
		if err != nil || v.Voters != 3 || v.LeaderID == "" {
			return false
		}
		for _, m := range v.Members {
			if !m.Reachable || m.Gossip != "alive" {
				return false
			}
		}
		return true
	}, "three alive voters")
	// Every voter fetches the cluster CA key from the leader once it is a
	// member, so that whichever leads after the kill below can admit
	// nodes; the identity it was granted did not carry it.
	for _, p := range order[1:] {
		caKey := filepath.Join(p.dir, "data", "identity", "ca.key")
		waitFor(t, 20*time.Second, func() bool { _, err := os.Stat(caKey); return err == nil }, p.id+" holds the CA key")
	}
	members := ctl(t, bin, "--addr", url(procs["n2"]), "--token-file", token, "cluster", "members")
	for _, want := range []string{"n1", "n2", "n3", "us-east", "voter", "alive"} {
		if !strings.Contains(members, want) {
			t.Fatalf("cluster members lacks %q:\n%s", want, members)
		}
	}

	ctx := ctxT(t, 3*time.Minute)
	const principals = 8
	for i := range principals {
		if _, err := cl(procs["n1"]).RegisterPrincipal(ctx, client.Registration{PrincipalID: fmt.Sprintf("u%d", i), PrincipalType: "user"}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		stop     atomic.Bool
		wg       sync.WaitGroup
		failures atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; !stop.Load(); b++ {
				batch := signals(fmt.Sprintf("u%d", (w+b)%principals), fmt.Sprintf("w%d-b%d", w, b), 20, "1")
				for !stop.Load() {
					res, err := cl(order[rand.IntN(len(order))]).SendSignals(ctx, batch)
					if err != nil {
						failures.Add(1)
						time.Sleep(20 * time.Millisecond) // pace retries while there is no leader
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
	waitFor(t, 30*time.Second, func() bool { return ackedCount() >= 2000 }, "writes before the kill")

	var leader *proc
	waitFor(t, 10*time.Second, func() bool {
		for _, p := range order {
			if st, meta, err := cl(p).Status(ctx); err == nil && st.State == "leader" && meta.ServedBy == p.id {
				leader = p
				return true
			}
		}
		return false
	}, "the leader")
	before := ackedCount()
	_ = leader.signal(t, syscall.SIGKILL)
	killedAt := time.Now()
	waitFor(t, 60*time.Second, func() bool { return ackedCount() >= before+2000 }, "writes after the kill")
	t.Logf("killed the leader %s with %d signals acknowledged; %d more within %v", leader.id, before,
		ackedCount()-before, time.Since(killedAt).Round(time.Millisecond))

	leader.start(t, bin)
	restarted := ackedCount()
	waitFor(t, 60*time.Second, func() bool { return ackedCount() >= restarted+1000 }, "writes after the restart")
	stop.Store(true)
	wg.Wait()
	t.Logf("%d signals acknowledged in all, %d failed attempts retried", ackedCount(), failures.Load())

	// Every node reaches the same index with the same digest.
	var index uint64
	var digest string
	waitFor(t, 60*time.Second, func() bool {
		index, digest = 0, ""
		for _, p := range order {
			st, meta, err := cl(p).Status(ctx)
			if err != nil || meta.ServedBy != p.id {
				return false
			}
			if digest == "" {
				index, digest = st.AppliedIndex, st.Digest
			} else if st.AppliedIndex != index || st.Digest != digest {
				return false
			}
		}
		return true
	}, "every node at the same index with the same digest")
	t.Logf("all three nodes at index %d, digest %.16s", index, digest)

	// A graceful stop exits 0.
	for _, p := range order {
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s after SIGTERM: %v", p.id, err)
		}
	}
}
