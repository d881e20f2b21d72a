package chaostest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// Workload is the clients' side of a run: each client sends, to a node
// chosen at random for every operation, register writes and reads (an
// organization's name is the register) and signal batches, and records
// every operation in the history.
type Workload struct {
	// Keys are the registers (organization ids); Principals receive the
	// signals.
	Keys, Principals []string
	// Reads are the consistency levels reads use, one chosen per read.
	Reads []string
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration
	// Pace is the pause between two operations of a client (default
	// 20 ms; after a failed operation, five times that).
	Pace time.Duration
	// BatchSize is the number of signals per batch (default 5).
	BatchSize int

	c    *Cluster
	h    *History
	seed uint64

	mu      sync.Mutex
	pending map[int][]*batch // per client: sent, not acknowledged yet
	acked   map[int][]*batch // per client: acknowledged
}

// batch is a signal batch: the same event ids every time it is sent.
type batch struct {
	name    string
	signals []client.Signal
}

func (b *batch) ids() []string {
	out := make([]string, len(b.signals))
	for i, s := range b.signals {
		out[i] = s.EventID
	}
	return out
}

// NewWorkload returns the workload of a run on c, recording into h, with
// its random choices drawn from seed.
func NewWorkload(c *Cluster, h *History, seed uint64) *Workload {
	return &Workload{
		Keys:       []string{"reg-0", "reg-1", "reg-2"},
		Principals: []string{"p0", "p1", "p2", "p3"},
		Reads:      []string{client.ConsistencyLinearizable, client.ConsistencyDefault},
		Timeout:    5 * time.Second, Pace: 20 * time.Millisecond, BatchSize: 5,
		c: c, h: h, seed: seed, pending: map[int][]*batch{}, acked: map[int][]*batch{},
	}
}

// InitialValue is what every register holds before the history starts.
const InitialValue = "init"

// Setup creates the registers and the principals, before the history
// starts, retrying through any node until done or ctx ends.
func (w *Workload) Setup(ctx context.Context) error {
	for _, k := range w.Keys {
		if err := w.retry(ctx, func(cl *client.Client) error {
			_, err := cl.PutOrg(ctx, k, client.OrgSpec{BaseTrustScore: "50", Name: InitialValue})
			return err
		}); err != nil {
			return fmt.Errorf("create register %s: %w", k, err)
		}
	}
	for _, p := range w.Principals {
		if err := w.retry(ctx, func(cl *client.Client) error {
			_, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: p, PrincipalType: "user"})
			if client.StatusCode(err) == http.StatusConflict {
				return nil // a retry of a registration that committed
			}
			return err
		}); err != nil {
			return fmt.Errorf("register %s: %w", p, err)
		}
	}
	return nil
}

// retry runs f against each node in turn until it succeeds, for at most
// 30 s.
func (w *Workload) retry(ctx context.Context, f func(*client.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		err := f(w.c.Client(w.c.Nodes[i%len(w.c.Nodes)]))
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

// Run runs n clients until ctx ends.
func (w *Workload) Run(ctx context.Context, n int) {
	var wg sync.WaitGroup
	for id := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(ctx, id)
		}()
	}
	wg.Wait()
}

// clients returns client id's own API clients, one per node, so that a
// connection stuck on one node holds up nobody else.
func (w *Workload) clients() (map[string]*client.Client, error) {
	out := map[string]*client.Client{}
	for _, n := range w.c.Nodes {
		cl, err := w.c.NewClient(n, w.Timeout)
		if err != nil {
			return nil, err
		}
		out[n.ID] = cl
	}
	return out, nil
}

func (w *Workload) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(w.seed, uint64(id)+1)) // #nosec G404 G115 -- a reproducible workload, not a secret; id is a small non-negative client number
	cls, err := w.clients()
	if err != nil {
		return
	}
	seq := 0
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		node := w.c.Nodes[rng.IntN(len(w.c.Nodes))]
		cl := cls[node.ID]
		seq++
		var op Op
		switch r := rng.Float64(); {
		case r < 0.30:
			op = w.write(ctx, cl, id, node.ID, w.Keys[rng.IntN(len(w.Keys))], fmt.Sprintf("c%d-%d", id, seq))
		case r < 0.70:
			op = w.read(ctx, cl, id, node.ID, w.Keys[rng.IntN(len(w.Keys))], w.Reads[rng.IntN(len(w.Reads))])
		case r < 0.95:
			op = w.signals(ctx, cl, id, node.ID, rng, seq)
		default:
			op = w.resend(ctx, cl, id, node.ID, rng)
		}
		if ctx.Err() != nil && op.Outcome != OutcomeOK {
			// Cut off by the end of the run: the outcome says nothing
			// about the cluster. A write still counts as possibly done.
			op.Outcome = OutcomeUnknown
			if op.Kind == OpRead || op.Kind == OpResend {
				return
			}
		}
		if op.Kind != "" {
			w.h.Add(op)
		}
		d := w.Pace
		if op.Outcome != OutcomeOK {
			d *= 5
		}
		pace.Reset(d)
	}
}

// write sets register key to value through cl.
func (w *Workload) write(ctx context.Context, cl *client.Client, id int, node, key, value string) Op {
	op := Op{Client: id, Kind: OpWrite, Node: node, Key: key, Value: value, Call: w.h.Now()}
	res, err := cl.PutOrg(ctx, key, client.OrgSpec{BaseTrustScore: "50", Name: value})
	op.Return = w.h.Now()
	op.Outcome, op.Error = Classify(err), errText(err)
	if res != nil {
		op.Index = res.Index
	}
	return op
}

// read reads register key through cl at the given consistency.
func (w *Workload) read(ctx context.Context, cl *client.Client, id int, node, key, consistency string) Op {
	op := Op{Client: id, Kind: OpRead, Node: node, Key: key, Consistency: consistency, Call: w.h.Now()}
	org, meta, err := cl.GetOrg(ctx, key, &client.ReadOptions{Consistency: consistency})
	op.Return = w.h.Now()
	switch {
	case err == nil:
		op.Outcome, op.Value = OutcomeOK, org.Name
	case client.IsNotFound(err):
		op.Outcome, op.Value = OutcomeOK, "" // every register exists: the checker flags this
	default:
		op.Outcome, op.Error = OutcomeFail, errText(err) // a read that failed has no effect
	}
	if meta != nil {
		op.ServedBy = meta.ServedBy
	}
	return op
}

// signals sends the client's oldest unacknowledged batch again, or a new
// one.
func (w *Workload) signals(ctx context.Context, cl *client.Client, id int, node string, rng *rand.Rand, seq int) Op {
	w.mu.Lock()
	var b *batch
	retry := len(w.pending[id]) > 0
	if retry {
		b = w.pending[id][0]
		w.pending[id] = w.pending[id][1:]
	}
	w.mu.Unlock()
	if b == nil {
		b = w.newBatch(id, seq, w.Principals[rng.IntN(len(w.Principals))])
	}
	op := w.send(ctx, cl, id, node, b, OpSignals)
	op.Retry = retry
	w.mu.Lock()
	if op.Outcome == OutcomeOK {
		w.acked[id] = append(w.acked[id], b)
	} else {
		w.pending[id] = append(w.pending[id], b)
	}
	w.mu.Unlock()
	return op
}

func (w *Workload) newBatch(id, seq int, principal string) *batch {
	b := &batch{name: fmt.Sprintf("c%d-b%d", id, seq)}
	for i := range w.BatchSize {
		b.signals = append(b.signals, client.Signal{EventID: fmt.Sprintf("%s-%d", b.name, i), PrincipalID: principal,
			Event: "chaos", Category: client.CategoryBehavior, Impact: json.Number("1")})
	}
	return b
}

// resend sends an acknowledged batch again: every signal must answer
// duplicate. Nothing to do before the client's first acknowledgement.
func (w *Workload) resend(ctx context.Context, cl *client.Client, id int, node string, rng *rand.Rand) Op {
	w.mu.Lock()
	acked := w.acked[id]
	var b *batch
	if len(acked) > 0 {
		b = acked[rng.IntN(len(acked))]
	}
	w.mu.Unlock()
	if b == nil {
		return Op{}
	}
	op := w.send(ctx, cl, id, node, b, OpResend)
	if op.Outcome != OutcomeOK {
		op.Outcome = OutcomeFail // it changes nothing whatever happened: it was applied already
	}
	return op
}

func (w *Workload) send(ctx context.Context, cl *client.Client, id int, node string, b *batch, kind string) Op {
	op := Op{Client: id, Kind: kind, Node: node, Batch: b.name, Events: b.ids(), Call: w.h.Now()}
	res, err := cl.SendSignals(ctx, b.signals)
	op.Return = w.h.Now()
	op.Outcome, op.Error = Classify(err), errText(err)
	if res != nil {
		op.Index = res.Index
		for _, r := range res.Results {
			op.Statuses = append(op.Statuses, r.Status)
		}
	}
	return op
}

// Flush sends every unacknowledged batch again, through any node, until
// each is acknowledged or ctx ends; it returns how many remain.
func (w *Workload) Flush(ctx context.Context) int {
	w.mu.Lock()
	var todo []struct {
		id int
		b  *batch
	}
	for id, bs := range w.pending {
		for _, b := range bs {
			todo = append(todo, struct {
				id int
				b  *batch
			}{id, b})
		}
		w.pending[id] = nil
	}
	w.mu.Unlock()
	left := 0
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for i, p := range todo {
		for try := i; ; try++ {
			node := w.c.Nodes[try%len(w.c.Nodes)]
			op := w.send(ctx, w.c.Client(node), p.id, node.ID, p.b, OpSignals)
			op.Retry = true
			if ctx.Err() != nil && op.Outcome != OutcomeOK {
				op.Outcome = OutcomeUnknown
			}
			w.h.Add(op)
			if op.Outcome == OutcomeOK {
				w.mu.Lock()
				w.acked[p.id] = append(w.acked[p.id], p.b)
				w.mu.Unlock()
				break
			}
			if ctx.Err() != nil {
				left++
				break
			}
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return left
}
