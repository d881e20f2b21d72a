package chaostest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// Options configure a chaos run.
type Options struct {
	// Seed chooses the faults, the nodes they hit and the clients'
	// operations: a failure replays from its seed (the timing of real
	// processes does not replay exactly).
	Seed uint64
	// Duration is the length of the fault phase (default 20 s).
	Duration time.Duration
	// Voters is the number of nodes (default 3).
	Voters int
	// Clients is the number of concurrent clients (default 6).
	Clients int
	// Faults are the kinds to draw from (default AllFaults); each of
	// Require is in the schedule at least once.
	Faults, Require []string
	// Reads are the consistency levels of the clients' reads (default
	// linearizable and default); each is checked for linearizability on
	// its own.
	Reads []string
	// ProbeReads is the consistency of the isolation probe's reads
	// (default: the first of Reads).
	ProbeReads string
	// Bin holds prebuilt trustd and trustctl binaries; empty builds them
	// from the module into the run's directory.
	Bin string
	// Dir is where the run's directory is made (default the system's
	// temporary directory). The run's directory holds the nodes' data and
	// logs; it is removed after a passing run and kept after a failing
	// one, with the history and the summary.
	Dir string
	// Liveness bounds how long after the faults stop every node must
	// serve a write and a linearizable read (default 20 s).
	Liveness time.Duration
	// Logf reports progress (default silent).
	Logf func(format string, args ...any) `json:"-"`
}

func (o *Options) defaults() {
	if o.Duration == 0 {
		o.Duration = 20 * time.Second
	}
	if o.Voters == 0 {
		o.Voters = 3
	}
	if o.Clients == 0 {
		o.Clients = 6
	}
	if len(o.Faults) == 0 {
		o.Faults = AllFaults
	}
	if len(o.Reads) == 0 {
		o.Reads = []string{client.ConsistencyLinearizable, client.ConsistencyDefault}
	}
	if o.ProbeReads == "" {
		o.ProbeReads = o.Reads[0]
	}
	if o.Liveness == 0 {
		o.Liveness = 20 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Counts are operations by outcome.
type Counts struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Unknown int `json:"unknown"`
}

// Summary is the result of a run, printed as JSON by scripts/chaos.
type Summary struct {
	Seed     uint64 `json:"seed"`
	Duration string `json:"duration"`
	Voters   int    `json:"voters"`
	Clients  int    `json:"clients"`
	// Operations counts the history's operations by kind ("write",
	// "read-linearizable", "read-default", "signals", "resend", "probe",
	// "liveness") and outcome.
	Operations map[string]Counts `json:"operations"`
	// Failures is the number of operations that certainly failed;
	// Unknowns the writes whose outcome is unknown (timed out, cut off),
	// treated as possibly applied.
	Failures int `json:"failures"`
	Unknowns int `json:"unknowns"`
	// Faults counts the faults injected, by kind.
	Faults map[string]int `json:"faults"`
	// MaxFailover is the longest time in the fault phase without an
	// acknowledged write; WriteAvailability the share of the clients'
	// writes (register writes and signal batches) that were acknowledged
	// then, in percent.
	MaxFailover       string  `json:"maxFailover"`
	MaxFailoverMS     int64   `json:"maxFailoverMs"`
	WriteAvailability float64 `json:"writeAvailability"`
	// SignalsAcknowledged is the number of distinct acknowledged event
	// ids.
	SignalsAcknowledged int `json:"signalsAcknowledged"`
	// Liveness is how long after the faults stopped each node first
	// served a write and a linearizable read.
	Liveness map[string]string `json:"liveness"`
	// ProxyConnections and ProxyUnidentified count the Raft connections
	// through the fault proxy, and those whose dialer it could not name.
	ProxyConnections  int64 `json:"proxyConnections"`
	ProxyUnidentified int64 `json:"proxyUnidentified"`
	// Checks are the properties checked; Verdict is pass when every one
	// holds.
	Checks  []CheckResult `json:"checks"`
	Verdict string        `json:"verdict"`
	// Dir is the run's directory, kept on failure with history.json,
	// summary.json and the nodes' logs and data; Replay the command that
	// runs the same seed again.
	Dir    string `json:"dir,omitempty"`
	Replay string `json:"replay"`
	// Elapsed is the wall time of the whole run.
	Elapsed string `json:"elapsed"`
}

// Failed lists the checks that failed.
func (s *Summary) Failed() []CheckResult {
	var out []CheckResult
	for _, c := range s.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Run starts a cluster, runs the clients and the fault schedule of
// opts.Seed for opts.Duration, heals everything, and checks the history
// and the nodes. The error is for a run that could not be made (binaries,
// the cluster's formation); a run whose checks fail returns a Summary
// with Verdict "fail".
func Run(ctx context.Context, opts Options) (*Summary, error) {
	opts.defaults()
	began := time.Now()
	logf := opts.Logf
	dir, err := os.MkdirTemp(opts.Dir, fmt.Sprintf("trustledger-chaos-seed%d-", opts.Seed))
	if err != nil {
		return nil, err
	}
	keep := true
	defer func() {
		if !keep {
			_ = os.RemoveAll(dir)
		}
	}()
	bin, err := runBinaries(ctx, opts, dir)
	if err != nil {
		return nil, err
	}
	c, err := StartCluster(ctx, ClusterOptions{Voters: opts.Voters, Bin: bin, Dir: dir, Logf: logf,
		OnExit: func(n *Node, msg string) { logf("%s", msg) }})
	if err != nil {
		return nil, fmt.Errorf("start the cluster (kept in %s): %w", dir, err)
	}
	defer c.Close()

	h := NewHistory()
	w := NewWorkload(c, h, opts.Seed)
	w.Reads = opts.Reads
	if err := w.Setup(ctx); err != nil {
		return nil, fmt.Errorf("set up the workload (kept in %s): %w", dir, err)
	}
	ph := runFaults(ctx, opts, c, h, w)
	res := checkRun(ctx, opts, c, h, w, ph.healedAt)
	ops := res.ops

	s := summarize(opts, ops, ph.events, ph.start, ph.stop)
	s.Liveness = res.liveness
	s.Checks = res.checks
	s.ProxyConnections, s.ProxyUnidentified = c.Net.Stats()
	s.Verdict = "pass"
	if len(s.Failed()) > 0 {
		s.Verdict = "fail"
	}
	s.Elapsed = time.Since(began).Round(time.Millisecond).String()
	c.Close()
	if s.Verdict == "pass" {
		keep = false
		return s, nil
	}
	s.Dir = dir
	if err := writeFailure(dir, opts, s, ops, ph.events, res.ledgers, res.visualizations); err != nil {
		logf("writing the failure's files: %v", err)
	}
	return s, nil
}

// runBinaries returns the directory of the trustd and trustctl binaries:
// opts.Bin, or a fresh build in dir.
func runBinaries(ctx context.Context, opts Options, dir string) (string, error) {
	if opts.Bin != "" {
		return opts.Bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin")
	opts.Logf("building trustd and trustctl")
	if err := BuildBinaries(ctx, root, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// faultPhase is what the fault phase leaves for the checks.
type faultPhase struct {
	events      []FaultEvent
	start, stop int64 // history times
	healedAt    time.Time
}

// runFaults runs the clients and the fault schedule of opts.Seed together
// for opts.Duration, then heals everything and stops the clients.
func runFaults(ctx context.Context, opts Options, c *Cluster, h *History, w *Workload) faultPhase {
	logf := opts.Logf
	schedule := Schedule(opts.Seed, opts.Duration, opts.Faults, opts.Require)
	kinds := make([]string, len(schedule))
	for i, f := range schedule {
		kinds[i] = f.Kind
	}
	logf("seed %d: %d faults in %v: %s", opts.Seed, len(schedule), opts.Duration, strings.Join(kinds, " "))

	ph := faultPhase{start: h.Now()}
	wctx, stopClients := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(wctx, opts.Clients) }()
	nemesis := &Nemesis{c: c, h: h, logf: logf, probes: opts.ProbeReads}
	// The schedule fills Duration; recoveries may stretch it, up to a
	// bound.
	nctx, cancelNemesis := context.WithTimeout(ctx, 2*opts.Duration+time.Minute)
	ph.events = nemesis.Run(nctx, schedule, time.Now().Add(opts.Duration))
	cancelNemesis()

	c.Net.Heal()
	for _, n := range c.Nodes {
		if n.Paused() {
			_ = n.Resume()
		}
		if !n.Running() {
			if err := n.Start(); err != nil {
				logf("restart %s after the faults: %v", n.ID, err)
			}
		}
	}
	ph.healedAt = time.Now()
	ph.stop = h.Now()
	stopClients()
	wg.Wait()
	logf("faults stopped after %v; checking", time.Duration(ph.stop-ph.start).Round(time.Millisecond))
	return ph
}

// summarize counts the history.
func summarize(opts Options, ops []Op, events []FaultEvent, faultStart, faultStop int64) *Summary {
	s := &Summary{Seed: opts.Seed, Duration: opts.Duration.String(), Voters: opts.Voters, Clients: opts.Clients,
		Operations: map[string]Counts{}, Faults: countKinds(events)}
	s.Replay = fmt.Sprintf("scripts/chaos -seed %d -duration %s -voters %d", opts.Seed, opts.Duration, opts.Voters)
	acked := map[string]bool{}
	var okWrites []int64
	attempts, oks := 0, 0
	for _, op := range ops {
		kind := op.Kind
		switch {
		case op.Client == -1:
			kind = "probe"
		case op.Client == -2:
			kind = "liveness"
		case op.Kind == OpRead:
			kind = "read-" + op.Consistency
		}
		cnt := s.Operations[kind]
		switch op.Outcome {
		case OutcomeOK:
			cnt.OK++
		case OutcomeFail:
			s.Failures++
			cnt.Fail++
		default:
			cnt.Unknown++
			if op.Kind == OpWrite || op.Kind == OpSignals {
				s.Unknowns++
			}
		}
		s.Operations[kind] = cnt
		if (op.Kind == OpSignals || op.Kind == OpResend) && op.Outcome == OutcomeOK {
			for _, id := range op.Events {
				acked[id] = true
			}
		}
		if op.Client >= 0 && (op.Kind == OpWrite || op.Kind == OpSignals) && op.Call >= faultStart && op.Call <= faultStop {
			attempts++
			if op.Outcome == OutcomeOK {
				oks++
				okWrites = append(okWrites, op.Return)
			}
		}
	}
	s.SignalsAcknowledged = len(acked)
	if attempts > 0 {
		s.WriteAvailability = float64(int(10000*float64(oks)/float64(attempts))) / 100
	}
	sort.Slice(okWrites, func(i, j int) bool { return okWrites[i] < okWrites[j] })
	prev, gap := faultStart, int64(0)
	for _, t := range okWrites {
		gap = max(gap, t-prev)
		prev = max(prev, t)
	}
	gap = max(gap, faultStop-prev)
	s.MaxFailover = time.Duration(gap).Round(time.Millisecond).String()
	s.MaxFailoverMS = time.Duration(gap).Milliseconds()
	return s
}

// failureFile is history.json: everything needed to study a failure.
type failureFile struct {
	Seed    uint64        `json:"seed"`
	Options Options       `json:"options"`
	Faults  []FaultEvent  `json:"faults"`
	Ledgers []NodeLedger  `json:"ledgers"`
	Ops     []Op          `json:"ops"`
	Checks  []CheckResult `json:"checks"`
}

// writeFailure keeps the history, the summary and Porcupine's
// visualizations in dir (the nodes' logs and data are there already).
func writeFailure(dir string, opts Options, s *Summary, ops []Op, events []FaultEvent, ledgers []NodeLedger, vis map[string][]byte) error {
	hist, err := json.MarshalIndent(failureFile{Seed: opts.Seed, Options: opts, Faults: events, Ledgers: ledgers, Ops: ops,
		Checks: s.Checks}, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "history.json"), hist, 0o600); err != nil {
		return err
	}
	sum, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), sum, 0o600); err != nil {
		return err
	}
	for cons, b := range vis {
		if err := os.WriteFile(filepath.Join(dir, "linearizability-"+cons+".html"), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
