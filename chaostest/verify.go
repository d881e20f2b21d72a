package chaostest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/trustledger/trustledger/api/client"
	"sort"
	"strings"
	"sync"
	"time"
)

// runChecks is what the checks found.
type runChecks struct {
	checks         []CheckResult
	liveness       map[string]string
	ledgers        []NodeLedger
	ops            []Op
	visualizations map[string][]byte
}

// checkRun checks the healed cluster and the history: liveness within
// the bound, every batch acknowledged, convergence, exactly-once signals,
// no unexpected exit, linearizability of each read consistency checked.
// The history is complete (r.ops) once the liveness probes and the flush
// of unacknowledged batches have added to it.
func checkRun(ctx context.Context, opts Options, c *Cluster, h *History, w *Workload, healedAt time.Time) runChecks {
	var r runChecks
	liveness, live := checkLiveness(ctx, c, h, healedAt, opts.Liveness)
	r.liveness = liveness
	r.checks = append(r.checks, live)
	fctx, cancelFlush := context.WithTimeout(ctx, 30*time.Second)
	left := w.Flush(fctx)
	cancelFlush()
	if left > 0 {
		r.checks = append(r.checks, CheckResult{Name: "every signal batch acknowledged after the heal",
			Detail: fmt.Sprintf("%d batches still unacknowledged after 30 s", left)})
	}
	r.checks = append(r.checks, checkConvergence(ctx, c))
	ledgers, lerr := readLedgers(ctx, c)
	r.ledgers = ledgers
	r.ops = h.Ops()
	ops := r.ops
	if lerr != nil {
		r.checks = append(r.checks, CheckResult{Name: "read every node's ledger", Detail: lerr.Error()})
	} else {
		r.checks = append(r.checks, CheckExactlyOnce(ops, ledgers)...)
	}
	var exits []string
	for _, n := range c.Nodes {
		exits = append(exits, n.Unexpected()...)
	}
	exit := CheckResult{Name: "no node exited on its own", OK: len(exits) == 0}
	if !exit.OK {
		exit.Detail = strings.Join(exits, "; ")
	}
	r.checks = append(r.checks, exit)
	r.visualizations = map[string][]byte{}
	reads := append([]string(nil), opts.Reads...)
	if !containsString(reads, opts.ProbeReads) {
		reads = append(reads, opts.ProbeReads)
	}
	for _, cons := range reads {
		var vis bytes.Buffer
		res := CheckLinearizable(ops, time.Minute, &vis, cons)
		if !res.OK && vis.Len() > 0 {
			r.visualizations[cons] = vis.Bytes()
		}
		r.checks = append(r.checks, res)
	}
	return r
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkLiveness checks that every node, within bound of healedAt, serves a
// write (a register write sent to it, which a follower forwards) and then
// a linearizable read; both are recorded (client -2).
func checkLiveness(ctx context.Context, c *Cluster, h *History, healedAt time.Time, bound time.Duration) (map[string]string, CheckResult) {
	res := CheckResult{Name: fmt.Sprintf("every node serves a write and a linearizable read within %v of the heal", bound), OK: true}
	times := map[string]string{}
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := NewWorkload(c, h, 0)
			cl, err := c.NewClient(n, 3*time.Second)
			if err != nil {
				return
			}
			lctx, cancel := context.WithDeadline(ctx, healedAt.Add(bound))
			defer cancel()
			// lastAnswer is the last answer not cut off by the bound.
			lastAnswer := ""
			seq, wrote, tries := 0, false, 0
			err = poll(lctx, bound, func() error {
				tries++
				if !wrote {
					seq++
					op := w.write(lctx, cl, -2, n.ID, "reg-1", fmt.Sprintf("live-%s-%d", n.ID, seq))
					if lctx.Err() != nil && op.Outcome != OutcomeOK {
						op.Outcome = OutcomeUnknown
					}
					h.Add(op)
					if op.Outcome != OutcomeOK {
						if lctx.Err() == nil {
							lastAnswer = op.Error
						}
						return errors.New(op.Error)
					}
					wrote = true
				}
				op := w.read(lctx, cl, -2, n.ID, "reg-1", client.ConsistencyLinearizable)
				if op.Outcome != OutcomeOK {
					if lctx.Err() == nil {
						lastAnswer = op.Error
					}
					return errors.New(op.Error)
				}
				h.Add(op)
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				what := "write"
				if wrote {
					what = "linearizable read (its write succeeded)"
				}
				failures = append(failures, fmt.Sprintf("%s served no %s in %d tries; its last answer: %s", n.ID, what, tries, lastAnswer))
				times[n.ID] = "never"
				return
			}
			times[n.ID] = time.Since(healedAt).Round(time.Millisecond).String()
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		sort.Strings(failures)
		res.OK, res.Detail = false, strings.Join(failures, "; ")
	}
	return times, res
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkConvergence waits up to 30 s for every node to report the same
// applied index and digest.
func checkConvergence(ctx context.Context, c *Cluster) CheckResult {
	res := CheckResult{Name: "every node at the same applied index and digest after the heal"}
	var last []string
	err := poll(ctx, 30*time.Second, func() error {
		last = last[:0]
		var index uint64
		digest := ""
		same := true
		for _, n := range c.Nodes {
			st, meta, err := c.Client(n).Status(ctx)
			if err != nil {
				last = append(last, n.ID+": "+firstLine(err.Error()))
				same = false
				continue
			}
			if meta != nil && meta.ServedBy != "" && meta.ServedBy != n.ID {
				same = false
			}
			last = append(last, fmt.Sprintf("%s: index %d digest %.12s", n.ID, st.AppliedIndex, st.Digest))
			if digest == "" {
				index, digest = st.AppliedIndex, st.Digest
			} else if st.AppliedIndex != index || st.Digest != digest {
				same = false
			}
		}
		if !same {
			return errors.New(strings.Join(last, "; "))
		}
		return nil
	})
	res.Detail = strings.Join(last, "; ")
	if err == nil {
		res.OK = true
	} else {
		res.Detail = "after 30 s: " + res.Detail
	}
	return res
}

// readLedgers reads every node's archive and counters (stale reads, so
// that each node answers for itself).
func readLedgers(ctx context.Context, c *Cluster) ([]NodeLedger, error) {
	var out []NodeLedger
	for _, n := range c.Nodes {
		l, err := ReadNodeLedger(ctx, c.Client(n), n.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// ReadNodeLedger reads one node's ledger archive (GET /v1/ledger, stale)
// and its counters (GET /v1/status).
func ReadNodeLedger(ctx context.Context, cl *client.Client, node string) (NodeLedger, error) {
	l := NodeLedger{Node: node, Complete: true}
	st, _, err := cl.Status(ctx)
	if err != nil {
		return l, fmt.Errorf("status of %s: %w", node, err)
	}
	l.Accepted, l.Duplicate, l.Rejected = st.Counters["signalsAccepted"], st.Counters["signalsDuplicate"], st.Counters["signalsRejected"]
	page := client.Page{Limit: 1000}
	var prev uint64
	for {
		lp, _, err := cl.Ledger(ctx, page, &client.ReadOptions{Consistency: client.ConsistencyStale})
		if err != nil {
			return l, fmt.Errorf("ledger of %s: %w", node, err)
		}
		for _, e := range lp.Entries {
			if e.Sequence != prev+1 {
				l.Complete = false
			}
			prev = e.Sequence
			if e.Kind != "record_signals" || e.Status != "applied" {
				continue
			}
			var cmd struct {
				Signals []struct{ EventID string }
			}
			if err := json.Unmarshal(e.Command, &cmd); err != nil {
				return l, fmt.Errorf("ledger of %s, entry %d: %w", node, e.Sequence, err)
			}
			ids := make([]string, len(cmd.Signals))
			for i, s := range cmd.Signals {
				ids[i] = s.EventID
			}
			l.Signals = append(l.Signals, ids)
		}
		if len(lp.Entries) == 0 || lp.Next == 0 {
			break
		}
		page.After = lp.Next
	}
	if prev != st.Sequence {
		l.Complete = false
	}
	return l, nil
}
