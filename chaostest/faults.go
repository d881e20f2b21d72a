package chaostest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Fault kinds.
const (
	// KillLeader SIGKILLs the leader and restarts it after the hold.
	KillLeader = "kill-leader"
	// KillRandom SIGKILLs a node chosen at random, restarted after the
	// hold.
	KillRandom = "kill-random"
	// KillAll SIGKILLs every node at once, then restarts them all with the
	// same flags, in an order chosen at random: a power cut.
	KillAll = "kill-all"
	// PauseLeader and PauseRandom SIGSTOP a node for the hold, then
	// SIGCONT it.
	PauseLeader = "pause-leader"
	PauseRandom = "pause-random"
	// IsolateLeader and IsolateFollower cut one node's Raft links, both
	// ways, for the hold.
	IsolateLeader   = "isolate-leader"
	IsolateFollower = "isolate-follower"
	// Partition splits the nodes into a majority and a minority.
	Partition = "partition"
	// Bridge splits the nodes into two halves that both reach one bridge
	// node, which has a quorum with either (with 3 nodes: one link cut).
	Bridge = "bridge"
	// OneWay loses every message one node sends to another (one
	// direction of one pair), for the hold.
	OneWay = "one-way"
	// TransferLeadership asks the cluster to hand leadership over
	// (trustctl cluster transfer-leadership), under load.
	TransferLeadership = "transfer-leadership"
	// Backup streams an online snapshot of the ledger state
	// (trustctl snapshot save) while writes go on.
	Backup = "backup"
)

// AllFaults is the whole fault mix.
var AllFaults = []string{KillLeader, KillRandom, KillAll, PauseLeader, PauseRandom, IsolateLeader, IsolateFollower,
	Partition, Bridge, OneWay, TransferLeadership, Backup}

// Fault is one step of a schedule: wait Gap, inject Kind, hold it for Hold,
// then heal. Pick is the random number that chooses the nodes involved
// (among the current leader, followers or all), so that a seed replays the
// same choices.
type Fault struct {
	Kind string        `json:"kind"`
	Gap  time.Duration `json:"gapNs"`
	Hold time.Duration `json:"holdNs"`
	Pick uint64        `json:"pick"`
}

// Schedule draws faults from seed: kinds from kinds, gaps of 1–3 s, holds
// of 2–6 s (kills: 1–4 s; transfer-leadership and backup have none), until
// their gaps and holds fill duration. Each kind of require replaces a fault
// in the first half of the schedule (with a hold drawn anew; kills then
// hold 1–3 s), so that it runs even when recoveries take long (the nemesis
// starts no fault that would end after duration).
func Schedule(seed uint64, duration time.Duration, kinds, require []string) []Fault {
	if len(kinds) == 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed)) // #nosec G404 -- a reproducible schedule, not a secret
	var out []Fault
	var total time.Duration
	for total < duration {
		f := Fault{Kind: kinds[rng.IntN(len(kinds))], Pick: rng.Uint64()}
		f.Gap = time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		switch f.Kind {
		case KillLeader, KillRandom, KillAll:
			f.Hold = time.Duration(1000+rng.IntN(3000)) * time.Millisecond
		case TransferLeadership, Backup:
			f.Hold = 0
		default:
			f.Hold = time.Duration(2000+rng.IntN(4000)) * time.Millisecond
		}
		total += f.Gap + f.Hold
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	// A required kind already in the first half keeps its place; the
	// others replace faults of the first half that no required kind holds.
	half := max(1, len(out)/2)
	held := map[int]bool{}
	satisfied := map[string]bool{}
	for _, k := range require {
		for i, f := range out[:half] {
			if f.Kind == k && !held[i] {
				held[i], satisfied[k] = true, true
				break
			}
		}
	}
	for _, k := range require {
		if satisfied[k] {
			continue
		}
		// The next free place from a random one in the first half; past
		// it only when the first half is all required kinds.
		i, start := -1, rng.IntN(half)
		for j := range half {
			if c := (start + j) % half; !held[c] {
				i = c
				break
			}
		}
		for c := half; i < 0 && c < len(out); c++ {
			if !held[c] {
				i = c
			}
		}
		if i < 0 {
			break // more required kinds than faults
		}
		held[i], satisfied[k] = true, true
		out[i].Kind = k
		switch k {
		case KillLeader, KillRandom, KillAll:
			out[i].Hold = time.Duration(1000+rng.IntN(2000)) * time.Millisecond
		case TransferLeadership, Backup:
			out[i].Hold = 0
		default:
			out[i].Hold = time.Duration(2000+rng.IntN(4000)) * time.Millisecond
		}
	}
	return out
}

// FaultEvent records what the nemesis did, for the history file.
type FaultEvent struct {
	Fault
	Nodes []string `json:"nodes,omitempty"`
	// Start and End are history times (ns) of the injection and the heal.
	Start int64  `json:"startNs"`
	End   int64  `json:"endNs"`
	Note  string `json:"note,omitempty"`
	// Recovered is how long after the heal every node was up and agreed
	// on one leader (ns; -1 when it did not within the bound).
	Recovered int64 `json:"recoveredNs"`
}

// Nemesis injects a schedule of faults into a cluster.
type Nemesis struct {
	c      *Cluster
	h      *History
	logf   func(string, ...any)
	probes string // the consistency of the isolation probe's read ("" none)
	seq    int
	events []FaultEvent
}

// recoveryBound is how long the nemesis waits, after a heal, for the
// cluster to agree on a leader before it goes on.
const recoveryBound = 30 * time.Second

// Run injects the faults in order, healing each after its hold, until
// the next would end after deadline or ctx ends; then it waits for the
// deadline. It returns what it did.
func (m *Nemesis) Run(ctx context.Context, faults []Fault, deadline time.Time) []FaultEvent {
	for _, f := range faults {
		if time.Now().Add(f.Gap + f.Hold).After(deadline) {
			break
		}
		if !sleepCtx(ctx, f.Gap) {
			break
		}
		m.inject(ctx, f)
		if ctx.Err() != nil {
			break
		}
	}
	sleepCtx(ctx, time.Until(deadline))
	return m.events
}

// sleepCtx paces the schedule: it waits d, false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (m *Nemesis) inject(ctx context.Context, f Fault) {
	in := &injection{m: m, ctx: ctx, f: f, nodes: m.c.Nodes,
		rng: rand.New(rand.NewPCG(f.Pick, 1)), // #nosec G404 -- reproducible choices, not a secret
		ev:  FaultEvent{Fault: f, Start: m.h.Now(), Recovered: -1}}
	in.leader = m.c.Leader(ctx)
	switch f.Kind {
	case KillLeader:
		in.kill(in.target(true))
	case KillRandom:
		in.kill(in.pick())
	case KillAll:
		in.killAll()
	case PauseLeader:
		in.pause(in.target(true))
	case PauseRandom:
		in.pause(in.pick())
	case IsolateLeader:
		in.partition([]*Node{in.target(true)})
	case IsolateFollower:
		in.partition([]*Node{in.target(false)})
	case Partition:
		var minority []*Node
		for _, i := range in.rng.Perm(len(in.nodes))[:(len(in.nodes)-1)/2] {
			minority = append(minority, in.nodes[i])
		}
		in.partition(minority)
	case Bridge:
		in.bridge()
	case OneWay:
		in.oneWay()
	case TransferLeadership:
		in.transfer()
	case Backup:
		in.backup()
	}
	ev := &in.ev
	ev.End = m.h.Now()
	m.revive(ev)
	healed := time.Now()
	if err := m.c.WaitLeader(ctx, recoveryBound); err == nil {
		ev.Recovered = int64(time.Since(healed))
	} else {
		ev.Note = strings.TrimSpace(ev.Note + " did not recover: " + err.Error())
		m.logf("after %s: %v", f.Kind, err)
	}
	m.events = append(m.events, *ev)
}

// injection is one fault being injected: its choices come from rng, seeded
// by the fault, so that a run replays from its seed.
type injection struct {
	m      *Nemesis
	ctx    context.Context
	f      Fault
	rng    *rand.Rand
	ev     FaultEvent
	leader *Node
	nodes  []*Node
}

func (in *injection) pick() *Node { return in.nodes[in.rng.IntN(len(in.nodes))] }

// target is the leader (wantLeader) or a follower; a random node when no
// leader is known.
func (in *injection) target(wantLeader bool) *Node {
	if wantLeader && in.leader != nil {
		return in.leader
	}
	if in.leader == nil {
		in.ev.Note = "no leader at injection: a random node instead"
		return in.pick()
	}
	var fs []*Node
	for _, n := range in.nodes {
		if n != in.leader {
			fs = append(fs, n)
		}
	}
	return fs[in.rng.IntN(len(fs))]
}

func (in *injection) hold() { sleepCtx(in.ctx, in.f.Hold) }

func (in *injection) kill(n *Node) {
	in.ev.Nodes = []string{n.ID}
	in.m.logf("fault %s: SIGKILL %s for %v", in.f.Kind, n.ID, in.f.Hold)
	_ = n.Kill()
	in.hold()
	in.m.start(n, &in.ev)
}

func (in *injection) killAll() {
	in.ev.Nodes = in.m.c.IDs()
	in.m.logf("fault %s: SIGKILL every node for %v", in.f.Kind, in.f.Hold)
	for _, n := range in.nodes {
		_ = n.Kill()
	}
	in.hold()
	var names []string
	for _, i := range in.rng.Perm(len(in.nodes)) {
		in.m.start(in.nodes[i], &in.ev)
		names = append(names, in.nodes[i].ID)
	}
	in.ev.Note = strings.TrimSpace(in.ev.Note + " restarted in the order " + strings.Join(names, ","))
}

func (in *injection) pause(n *Node) {
	in.ev.Nodes = []string{n.ID}
	in.m.logf("fault %s: SIGSTOP %s for %v", in.f.Kind, n.ID, in.f.Hold)
	_ = n.Pause()
	in.hold()
	_ = n.Resume()
}

// partition cuts the Raft links between minority and the other nodes.
func (in *injection) partition(minority []*Node) {
	var minIDs, majIDs []string
	for _, n := range in.nodes {
		if containsNode(minority, n) {
			minIDs = append(minIDs, n.ID)
		} else {
			majIDs = append(majIDs, n.ID)
		}
	}
	in.ev.Nodes = minIDs
	in.m.logf("fault %s: Raft partition %v | %v for %v", in.f.Kind, minIDs, majIDs, in.f.Hold)
	in.m.c.Net.Partition(minIDs, majIDs)
	in.ev.Note = in.m.probe(in.ctx, minority, in.f.Hold)
	in.hold()
	in.m.c.Net.Heal()
}

// bridge splits the others in two halves that only one node reaches both.
func (in *injection) bridge() {
	perm := in.rng.Perm(len(in.nodes))
	bridge := in.nodes[perm[0]]
	half := (len(in.nodes) - 1) / 2
	var a, b []string
	for j, i := range perm[1:] {
		if j < half {
			a = append(a, in.nodes[i].ID)
		} else {
			b = append(b, in.nodes[i].ID)
		}
	}
	in.ev.Nodes = append([]string{bridge.ID}, append(a, b...)...)
	in.m.logf("fault %s: %v | %v, bridged by %s, for %v", in.f.Kind, a, b, bridge.ID, in.f.Hold)
	var links []Link
	for _, x := range a {
		for _, y := range b {
			links = append(links, Link{x, y}, Link{y, x})
		}
	}
	in.m.c.Net.Block(links...)
	in.hold()
	in.m.c.Net.Heal()
}

// oneWay loses the messages of one direction of one link; half the time
// the leader's.
func (in *injection) oneWay() {
	from := in.pick()
	if in.leader != nil && in.rng.IntN(2) == 0 {
		from = in.leader
	}
	to := in.nodes[in.rng.IntN(len(in.nodes))]
	for to == from {
		to = in.nodes[in.rng.IntN(len(in.nodes))]
	}
	in.ev.Nodes = []string{from.ID, to.ID}
	in.m.logf("fault %s: messages %s→%s lost for %v", in.f.Kind, from.ID, to.ID, in.f.Hold)
	in.m.c.Net.Block(Link{from.ID, to.ID})
	in.hold()
	in.m.c.Net.Heal()
}

func (in *injection) transfer() {
	n := in.pick()
	in.ev.Nodes = []string{n.ID}
	tctx, cancel := context.WithTimeout(in.ctx, 10*time.Second)
	res, err := in.m.c.Client(n).TransferLeadership(tctx, "")
	cancel()
	if err != nil {
		in.ev.Note = "transfer-leadership through " + n.ID + ": " + err.Error()
	} else {
		in.ev.Note = fmt.Sprintf("leadership %s → %s", res.PreviousLeaderID, res.LeaderID)
	}
	in.m.logf("fault %s: %s", in.f.Kind, in.ev.Note)
}

func (in *injection) backup() {
	n := in.pick()
	in.ev.Nodes = []string{n.ID}
	bctx, cancel := context.WithTimeout(in.ctx, 20*time.Second)
	info, err := in.m.c.Client(n).Snapshot(bctx, io.Discard, nil)
	cancel()
	if err != nil {
		in.ev.Note = "snapshot through " + n.ID + ": " + err.Error()
	} else {
		in.ev.Note = fmt.Sprintf("snapshot of index %d, %d bytes, by %s", info.Index, info.Bytes, info.ServedBy)
	}
	in.m.logf("fault %s: %s", in.f.Kind, in.ev.Note)
}

// revive restarts the nodes that exited on their own (the check of
// unexpected exits has recorded them), so that the run goes on.
func (m *Nemesis) revive(ev *FaultEvent) {
	for _, n := range m.c.Nodes {
		if !n.Running() {
			ev.Note = strings.TrimSpace(ev.Note + " restarted " + n.ID + ", which had exited on its own")
			m.logf("%s had exited on its own; restarting it", n.ID)
			m.start(n, ev)
		}
	}
}

// start restarts n, noting a failure to start.
func (m *Nemesis) start(n *Node, ev *FaultEvent) {
	if err := n.Start(); err != nil {
		ev.Note = strings.TrimSpace(ev.Note + " " + err.Error())
	}
}

// probe writes, through the majority, a fresh value to a register, then
// reads it through each node of the minority at the probe consistency:
// the read must not return an older value unless stale reads are allowed.
// Both operations go into the history (client -1).
func (m *Nemesis) probe(ctx context.Context, minority []*Node, hold time.Duration) string {
	if m.probes == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	// A majority leader first: the old one may still be stepping down.
	var leader *Node
	if err := poll(ctx, hold, func() error {
		leader = m.c.Leader(ctx)
		if leader == nil || containsNode(minority, leader) {
			return fmt.Errorf("no majority leader")
		}
		return nil
	}); err != nil {
		return "probe: no majority leader within the hold"
	}
	m.seq++
	key, value := "reg-0", fmt.Sprintf("probe-%d", m.seq)
	w := NewWorkload(m.c, m.h, 0)
	cl := m.c.Client(leader)
	op := w.write(ctx, cl, -1, leader.ID, key, value)
	m.h.Add(op)
	if op.Outcome != OutcomeOK {
		return "probe: the write through " + leader.ID + " failed: " + op.Error
	}
	var notes []string
	for _, n := range minority {
		r := w.read(ctx, m.c.Client(n), -1, n.ID, key, m.probes)
		m.h.Add(r)
		if r.Outcome == OutcomeOK {
			notes = append(notes, fmt.Sprintf("%s read %q", n.ID, r.Value))
		} else {
			notes = append(notes, fmt.Sprintf("%s refused the read", n.ID))
		}
	}
	return fmt.Sprintf("probe: wrote %s=%q through %s; %s", key, value, leader.ID, strings.Join(notes, ", "))
}

func containsNode(ns []*Node, n *Node) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// WaitLeader waits until every node runs, none is paused, and every node
// names the same leader in its status.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		leader := ""
		for _, n := range c.Nodes {
			if !n.Running() {
				return fmt.Errorf("%s is down", n.ID)
			}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, _, err := c.Client(n).Status(sctx)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", n.ID, err)
			}
			if st.LeaderID == "" || (leader != "" && st.LeaderID != leader) {
				return fmt.Errorf("%s names leader %q", n.ID, st.LeaderID)
			}
			leader = st.LeaderID
		}
		return nil
	})
}

// countKinds counts faults by kind.
func countKinds(events []FaultEvent) map[string]int {
	out := map[string]int{}
	for _, e := range events {
		out[e.Kind]++
	}
	return out
}
