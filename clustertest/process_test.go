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
)

// proc is one trustd process.
type proc struct {
	id, dir, http, raft, gossip string
	args                        []string
	cmd                         *exec.Cmd
	exited                      chan error
	log                         string
}

// buildBinaries builds trustd and trustctl into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/trustd", "./cmd/trustctl") // #nosec G204 -- the test's own build
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// cleanEnv is the environment without TRUSTLEDGER_* settings of the
// machine running the test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTLEDGER_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) // #nosec G304 -- the test's own log file
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(filepath.Join(bin, "trustd"), p.args...) // #nosec G204 -- the test's own binary and flags
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		_ = f.Close()
		t.Fatalf("start %s: %v", p.id, err)
	}
	exited := make(chan error, 1)
	p.exited = exited
	cmd := p.cmd
	go func() {
		exited <- cmd.Wait()
		_ = f.Close()
	}()
}

func (p *proc) running() bool {
	select {
	case err := <-p.exited:
		p.exited <- err
		return false
	default:
		return p.cmd != nil
	}
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if !p.running() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.id, err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("%s did not exit after %v", p.id, sig)
		return nil
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

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

// Three trustd processes are joined with trustctl; several clients write
// through every node while the leader is killed with SIGKILL and later
// restarted. Every acknowledged signal ends up on every node, and the
// nodes agree on the digest at the same index.
func TestProcessesSurviveLeaderKill(t *testing.T) {
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
			if p.running() {
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
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
	for _, p := range order {
		have := ledgerEventIDs(t, cl(p))
		missing := 0
		for id := range acked {
			if !have[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%s lacks %d of %d acknowledged signals", p.id, missing, len(acked))
		}
	}
	t.Logf("all three nodes at index %d, digest %.16s, with every acknowledged signal", index, digest)

	// A graceful stop exits 0.
	for _, p := range order {
		if err := p.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s after SIGTERM: %v", p.id, err)
		}
	}
}
