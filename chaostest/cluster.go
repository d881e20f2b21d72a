package chaostest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnet"
)

// Cluster is a cluster of trustd processes on loopback whose Raft links
// run through a Network the harness controls. The first node bootstraps;
// the others join it with --join, the bootstrap admin token and the pinned
// CA fingerprint, and keep those flags at every restart (as an operator's
// unit file would).
type Cluster struct {
	// Nodes are n1…nN, n1 the bootstrap node.
	Nodes []*Node
	// Net is the fault proxy between the nodes' Raft transports.
	Net *Network
	// Token is the bootstrap admin token; TokenFile holds it.
	Token, TokenFile string
	// CAFingerprint is the cluster CA's fingerprint, from n1's output.
	CAFingerprint string

	bin string

	mu      sync.Mutex
	clients map[string]*client.Client
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Voters is the number of nodes, all voters (default 3).
	Voters int
	// Bin is the directory holding the trustd and trustctl binaries.
	Bin string
	// Dir is where the nodes' directories go.
	Dir string
	// OnExit is called when a node exits on its own.
	OnExit func(n *Node, msg string)
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// BuildBinaries builds trustd and trustctl from the module at root into
// dir, with the given build tags (none for the product's binaries).
func BuildBinaries(ctx context.Context, root, dir string, tags ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build trustd: the go command is not on PATH: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, "./cmd/trustd", "./cmd/trustctl")...) // #nosec G204 -- the harness's own build
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// ModuleRoot finds the directory of the trustledger go.mod, from the
// working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod")) // #nosec G304 -- go.mod of a parent directory
		if err == nil && strings.Contains(string(b), "module github.com/trustledger/trustledger\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the trustledger module (no go.mod found)")
		}
		dir = parent
	}
}

// StartCluster starts opts.Voters trustd processes and waits until they
// form one cluster: a leader, every node a voter, every member alive in
// gossip.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	if opts.Voters == 0 {
		opts.Voters = 3
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c := &Cluster{bin: opts.Bin, clients: map[string]*client.Client{}}
	c.Net = NewNetwork(ProcIdentifier(c.pids))
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	ports, err := freePorts(3 * opts.Voters)
	if err != nil {
		return nil, err
	}
	for i := range opts.Voters {
		n := &Node{ID: fmt.Sprintf("n%d", i+1), Dir: filepath.Join(opts.Dir, fmt.Sprintf("n%d", i+1)), bin: opts.Bin,
			HTTPAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i]),
			RaftAddr:   "127.0.0.1:" + strconv.Itoa(ports[3*i+1]),
			GossipAddr: "127.0.0.1:" + strconv.Itoa(ports[3*i+2]),
			onExit:     opts.OnExit}
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			return nil, err
		}
		if n.Proxy, err = c.Net.Listen(n.ID, n.RaftAddr); err != nil {
			return nil, err
		}
		n.args = []string{"--node-id", n.ID, "--data-dir", n.DataDir(), "--http-addr", n.HTTPAddr,
			"--raft-addr", n.RaftAddr, "--gossip-addr", n.GossipAddr, "--advertise", n.Proxy.Addr(),
			"--region", "chaos", "--log-level", "info"}
		c.Nodes = append(c.Nodes, n)
	}
	first := c.Nodes[0]
	c.TokenFile = filepath.Join(first.DataDir(), "admin.token")
	if err := first.Start(); err != nil {
		return nil, err
	}
	if err := poll(ctx, 30*time.Second, func() error {
		if !first.Running() {
			return errStop{fmt.Errorf("%s exited:\n%s", first.ID, first.Tail(20))}
		}
		fp, err := fingerprintFromLog(first.LogPath())
		if err != nil {
			return err
		}
		tok, err := client.ReadTokenFile(c.TokenFile)
		if err != nil {
			return err
		}
		c.CAFingerprint, c.Token = fp, tok
		return nil
	}); err != nil {
		return nil, fmt.Errorf("%s's admin token and CA fingerprint: %w", first.ID, err)
	}
	for _, n := range c.Nodes {
		cl, err := c.NewClient(n, 5*time.Second)
		if err != nil {
			return nil, err
		}
		c.clients[n.ID] = cl
	}
	logf("%s bootstrapped (CA %.20s…)", first.ID, c.CAFingerprint)
	for _, n := range c.Nodes[1:] {
		n.args = append(n.args, "--join", first.URL(), "--token-file", c.TokenFile, "--ca-fingerprint", c.CAFingerprint)
		if err := n.Start(); err != nil {
			return nil, err
		}
	}
	if err := c.WaitFormed(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	logf("%d voters formed a cluster", len(c.Nodes))
	ok = true
	return c, nil
}

// WaitFormed waits until every node reports all nodes as voters, the same
// leader, and every member alive in gossip.
func (c *Cluster) WaitFormed(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		leader := ""
		for _, n := range c.Nodes {
			if !n.Running() {
				return errStop{fmt.Errorf("%s exited:\n%s", n.ID, n.Tail(20))}
			}
			v, err := c.Client(n).Cluster(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", n.ID, err)
			}
			if v.Voters != len(c.Nodes) || v.LeaderID == "" || (leader != "" && v.LeaderID != leader) {
				return fmt.Errorf("%s: %d voters, leader %q", n.ID, v.Voters, v.LeaderID)
			}
			leader = v.LeaderID
			for _, m := range v.Members {
				if m.Suffrage != "voter" || m.Gossip != "alive" {
					return fmt.Errorf("%s sees %s as %s, gossip %s", n.ID, m.ID, m.Suffrage, m.Gossip)
				}
			}
		}
		return nil
	})
}

// fingerprintRE matches the line n1 prints at its first start.
var fingerprintRE = regexp.MustCompile(`trustd: cluster CA fingerprint (sha256:[0-9a-f]{64})`)

// fingerprintFromLog reads the CA fingerprint from the bootstrap node's
// standard output.
func fingerprintFromLog(path string) (string, error) {
	f, err := os.Open(path) // #nosec G304 -- the harness's own log file
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if m := fingerprintRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	return "", errors.New("no CA fingerprint printed yet")
}

// Client is the admin client of node n (one per node, reused; 5 s per
// request).
func (c *Cluster) Client(n *Node) *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients[n.ID]
}

// NewClient is a fresh admin client of node n with its own connections and
// the given per-request timeout.
func (c *Cluster) NewClient(n *Node, timeout time.Duration) (*client.Client, error) {
	return client.New(client.Config{Address: n.URL(), Token: c.Token, Timeout: timeout, UserAgent: "chaostest"})
}

// Node returns the node with the given id, nil if none.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// IDs are the node ids.
func (c *Cluster) IDs() []string {
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// Leader returns the node that every reachable node that knows a leader
// names, as the leader that says so itself; nil when there is none or the
// nodes disagree.
func (c *Cluster) Leader(ctx context.Context) *Node {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var leader *Node
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		st, meta, err := c.Client(n).Status(ctx)
		if err != nil || meta == nil || meta.ServedBy != n.ID {
			continue
		}
		if st.State == "leader" {
			if leader != nil && leader != n {
				return nil
			}
			leader = n
		}
	}
	return leader
}

// pids maps the running nodes' process ids to their node ids.
func (c *Cluster) pids() map[int]string {
	out := map[int]string{}
	for _, n := range c.Nodes {
		if pid := n.Pid(); pid != 0 {
			out[pid] = n.ID
		}
	}
	return out
}

// Close kills every node and closes the network.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.Paused() {
			_ = n.Resume()
		}
		_ = n.Kill()
	}
	if c.Net != nil {
		c.Net.Close()
	}
}

// errStop ends a poll at once.
type errStop struct{ error }

// poll calls f until it returns nil, returns errStop, ctx ends or timeout
// passes (then it returns f's last error).
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// freePorts picks n distinct free loopback TCP ports below the kernel's
// ephemeral range. trustd is restarted on the same ports; an ephemeral
// port could be taken by some outgoing connection while its node is down,
// and the restart would then fail to bind. Each port is checked free by
// listening on it (and on UDP for gossip), then released for trustd.
func freePorts(n int) ([]int, error) {
	lo, hi := 10000, testnet.EphemeralLow()
	if hi-lo < 10*n {
		lo = 1024
	}
	seen := map[int]bool{}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000*n {
			return nil, fmt.Errorf("no %d free ports between %d and %d", n, lo, hi)
		}
		p := lo + rand.IntN(hi-lo) // #nosec G404 -- picking a port, not a secret
		if seen[p] || !testnet.Free("127.0.0.1:"+strconv.Itoa(p)) {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}
