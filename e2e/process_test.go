package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnet"
	"github.com/trustledger/trustledger/internal/testnode"
)

// Deadlines. They are generous: CI machines are small and busy, and a
// Raft election alone takes one to two seconds.
const (
	readyTimeout   = 60 * time.Second
	stopTimeout    = 30 * time.Second
	requestTimeout = 30 * time.Second
	pollInterval   = 50 * time.Millisecond
)

// TestMain runs the tests through testnode.Main, which removes the trustd
// and trustctl binaries testnode.Binaries builds once they have run.
func TestMain(m *testing.M) { os.Exit(testnode.Main(m)) }

// cleanEnv is the test's environment without TRUSTLEDGER_* settings, so a
// developer's own configuration cannot leak into the processes started.
func cleanEnv(extra ...string) []string { return testnode.CleanEnv(extra...) }

// freePorts returns n distinct loopback addresses whose ports the
// operating system picked. They are free when returned; a process that
// binds one later may still lose a race for it, which startNode handles.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testnet.FreeAddr(t)
	}
	return addrs
}

// trustd is one trustd process (and its restarts) on one data directory.
type trustd struct {
	t                              *testing.T
	dataDir, logDir                string
	httpAddr, raftAddr, gossipAddr string
	// defaults starts trustd the way the README does, with no flags at
	// all: the three addresses then go in the environment, and the data
	// directory is the default one under dir.
	defaults bool
	dir      string // working directory of the process

	proc testnode.Process

	token  string
	client *client.Client
}

// startNode starts trustd on a fresh data directory with --node-id,
// --data-dir and the three addresses on free loopback ports, and waits
// until it is ready.
func startNode(t *testing.T) *trustd {
	t.Helper()
	n := &trustd{t: t, dataDir: t.TempDir(), logDir: t.TempDir()}
	t.Cleanup(n.cleanup)
	n.boot()
	n.connect()
	return n
}

// boot starts the node's first process on free loopback ports and waits
// until it is ready. A port picked free may be taken before trustd binds
// it: then it tries again with other ports, a few times.
func (n *trustd) boot() {
	n.t.Helper()
	for attempt := 1; ; attempt++ {
		addrs := freePorts(n.t, 3)
		n.httpAddr, n.raftAddr, n.gossipAddr = addrs[0], addrs[1], addrs[2]
		n.launch()
		err := n.waitReady()
		if err == nil {
			return
		}
		if attempt < 3 && n.exited() && strings.Contains(n.output(), "address already in use") {
			n.t.Logf("trustd lost a port race (%v); trying other ports", err)
			continue
		}
		n.t.Fatal(err)
	}
}

// command returns trustd's arguments and the environment it adds.
func (n *trustd) command() (args, env []string) {
	if n.defaults {
		return nil, []string{"TRUSTLEDGER_HTTP_ADDR=" + n.httpAddr, "TRUSTLEDGER_RAFT_ADDR=" + n.raftAddr,
			"TRUSTLEDGER_GOSSIP_ADDR=" + n.gossipAddr}
	}
	return []string{"--node-id", "e2e1", "--data-dir", n.dataDir, "--http-addr", n.httpAddr,
		"--raft-addr", n.raftAddr, "--gossip-addr", n.gossipAddr}, nil
}

// launch starts the process, its output going to a log file in logDir.
func (n *trustd) launch() {
	n.t.Helper()
	n.proc.Name, n.proc.Bin, n.proc.Dir, n.proc.Log = "trustd", testnode.Binaries(n.t).Trustd, n.dir, filepath.Join(n.logDir, "trustd.log")
	n.proc.Args, n.proc.Env = n.command()
	n.proc.Start(n.t)
}

func (n *trustd) exited() bool { return !n.proc.Running() }

// output is what the current start of the process wrote.
func (n *trustd) output() string { return n.proc.LastOutput() }

// waitReady polls /readyz until it answers 200, the process exits, or
// readyTimeout passes.
func (n *trustd) waitReady() error {
	probe, err := client.New(client.Config{Address: "http://" + n.httpAddr, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		if last = probe.Ready(ctx); last == nil {
			return nil
		}
		select {
		case <-n.proc.Done():
			return fmt.Errorf("trustd (start %d) exited before it was ready: %v\n%s", n.proc.Starts(), n.proc.Err(), tail(n.output(), 30))
		case <-ctx.Done():
			return fmt.Errorf("trustd (start %d) not ready within %s: %v\n%s", n.proc.Starts(), readyTimeout, last, tail(n.output(), 30))
		case <-tick.C:
		}
	}
}

// connect reads the admin token and makes the client.
func (n *trustd) connect() {
	n.t.Helper()
	b, err := os.ReadFile(filepath.Join(n.dataDir, "admin.token"))
	if err != nil {
		n.t.Fatalf("read the admin token: %v", err)
	}
	n.token = strings.TrimSpace(string(b))
	n.client, err = client.New(client.Config{Address: n.url(), Token: n.token, Timeout: requestTimeout})
	if err != nil {
		n.t.Fatal(err)
	}
}

func (n *trustd) url() string { return "http://" + n.httpAddr }

// kill ends the process with SIGKILL and waits for it to be gone.
func (n *trustd) kill() {
	n.t.Helper()
	n.proc.Kill(n.t)
}

// stop asks the process to shut down with SIGTERM and returns its exit
// code.
func (n *trustd) stop() int {
	n.t.Helper()
	_ = n.proc.Signal(n.t, syscall.SIGTERM, stopTimeout)
	return n.proc.ExitCode()
}

// restart starts the process again on the same data directory and
// addresses, and waits until it is ready.
func (n *trustd) restart() {
	n.t.Helper()
	if !n.exited() {
		n.t.Fatal("restart: trustd is still running")
	}
	n.launch()
	if err := n.waitReady(); err != nil {
		n.t.Fatal(err)
	}
}

// cleanup kills a process still running and, when the test failed, shows
// the end of each start's log.
func (n *trustd) cleanup() {
	n.proc.Kill(n.t)
	if !n.t.Failed() {
		return
	}
	for i := 1; i <= n.proc.Starts(); i++ {
		n.t.Logf("trustd start %d, end of its log:\n%s", i, tail(n.proc.StartOutput(i), 40))
	}
}

// status reads the node's status.
func (n *trustd) status(ctx context.Context) *client.Status {
	n.t.Helper()
	st, _, err := n.client.Status(ctx)
	if err != nil {
		n.t.Fatalf("status: %v", err)
	}
	return st
}

// settled returns the node's status once it has applied every entry its
// log holds. After a restart the log may hold entries beyond the last
// acknowledged one (writes cut off by a kill that had committed); a
// linearizable read waits until the node has applied all of them.
func (n *trustd) settled(ctx context.Context) *client.Status {
	n.t.Helper()
	lin := &client.ReadOptions{Consistency: client.ConsistencyLinearizable}
	if _, _, err := n.client.ListPrincipals(ctx, client.ListFilter{Limit: 1}, lin); err != nil {
		n.t.Fatalf("linearizable read: %v", err)
	}
	return n.status(ctx)
}

// tail returns the last n lines of s.
func tail(s string, n int) string { return testnode.Tail(s, n) }

// ctlResult is one run of the trustctl binary.
type ctlResult struct {
	code           int
	stdout, stderr string
}

// trustctl runs the trustctl binary with env (added to a clean
// environment) and returns its exit code and output.
func runCtl(t *testing.T, env []string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, testnode.Binaries(t).Trustctl, args...) // #nosec G204 -- the test's own freshly built binary
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run trustctl %s: %v", strings.Join(args, " "), err)
	}
	return ctlResult{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// ackSet records acknowledged signals: event id → the index its batch
// committed at. Safe for concurrent use.
type ackSet struct {
	mu  sync.Mutex
	ids map[string]uint64
	max uint64
}

func newAckSet() *ackSet { return &ackSet{ids: map[string]uint64{}} }

func (a *ackSet) add(id string, index uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids[id] = index
	a.max = max(a.max, index)
}

func (a *ackSet) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ids)
}

// lines splits s into its non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
