package chaostest

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// CheckResult is the outcome of one check.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// regInput is a register operation for Porcupine.
type regInput struct {
	Write bool
	Key   string
	Value string
}

// RegisterModel is the sequential specification the histories are checked
// against: one register per key, holding InitialValue at first; a write
// sets it, a read returns it. Histories are partitioned by key.
var RegisterModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(regInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return InitialValue },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.Write {
			return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) → %q", in.Key, output.(string))
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
}

// porcupineHistory turns the register operations of ops into Porcupine's:
// the acknowledged writes, the writes of unknown outcome that some read
// observed (returning at infinity: they may take effect at any time after
// their call), and the successful reads at one of the given consistency
// levels. A write of unknown outcome that no read observed is left out:
// a history is linearizable with it (linearized last) if and only if it is
// without it, and leaving it out keeps the search small. Failed writes are
// left out too: a read that observes one is a violation.
func porcupineHistory(ops []Op, consistency ...string) []porcupine.Operation {
	want := map[string]bool{}
	for _, c := range consistency {
		want[c] = true
	}
	observed := map[string]bool{}
	for _, op := range ops {
		if op.Kind == OpRead && op.Outcome == OutcomeOK && want[op.Consistency] {
			observed[op.Key+"\x00"+op.Value] = true
		}
	}
	var out []porcupine.Operation
	for _, op := range ops {
		client := op.Client + 2 // porcupine's client ids start at 0; the harness's at -2
		switch {
		case op.Kind == OpWrite && op.Outcome == OutcomeOK:
			out = append(out, porcupine.Operation{ClientId: client, Input: regInput{true, op.Key, op.Value},
				Call: op.Call, Output: "", Return: op.Return})
		case op.Kind == OpWrite && op.Outcome == OutcomeUnknown && observed[op.Key+"\x00"+op.Value]:
			out = append(out, porcupine.Operation{ClientId: client, Input: regInput{true, op.Key, op.Value},
				Call: op.Call, Output: "", Return: math.MaxInt64})
		case op.Kind == OpRead && op.Outcome == OutcomeOK && want[op.Consistency]:
			out = append(out, porcupine.Operation{ClientId: client, Input: regInput{false, op.Key, ""},
				Call: op.Call, Output: op.Value, Return: op.Return})
		}
	}
	return out
}

// CheckLinearizable checks the register operations of ops, with reads at
// the given consistency levels, with Porcupine. When it fails and
// visualization is not nil, Porcupine's HTML visualization of the history
// is written to it.
func CheckLinearizable(ops []Op, timeout time.Duration, visualization io.Writer, consistency ...string) CheckResult {
	name := "linearizable: writes and " + strings.Join(consistency, "+") + " reads"
	hist := porcupineHistory(ops, consistency...)
	reads := 0
	for _, op := range hist {
		if !op.Input.(regInput).Write {
			reads++
		}
	}
	res, info := porcupine.CheckOperationsVerbose(RegisterModel, hist, timeout)
	detail := fmt.Sprintf("%d operations (%d reads)", len(hist), reads)
	switch res {
	case porcupine.Ok:
		return CheckResult{Name: name, OK: true, Detail: detail}
	case porcupine.Unknown:
		return CheckResult{Name: name, Detail: detail + ": Porcupine did not finish within " + timeout.String()}
	}
	if visualization != nil {
		_ = porcupine.Visualize(RegisterModel, info, visualization)
	}
	return CheckResult{Name: name, Detail: detail + ": NOT linearizable; " + explainViolation(hist, info)}
}

// explainViolation names, for each key whose history is not linearizable,
// the longest prefix Porcupine could linearize and the operation right
// after it.
func explainViolation(hist []porcupine.Operation, info porcupine.LinearizationInfo) string {
	parts := RegisterModel.Partition(hist)
	var out []string
	for i, partial := range info.PartialLinearizationsOperations() {
		if i >= len(parts) || porcupine.CheckOperations(RegisterModel, parts[i]) {
			continue
		}
		longest := 0
		for _, lin := range partial {
			longest = max(longest, len(lin))
		}
		key := parts[i][0].Input.(regInput).Key
		out = append(out, fmt.Sprintf("key %s: at most %d of %d operations linearize", key, longest, len(parts[i])))
	}
	if len(out) == 0 {
		return "see the visualization"
	}
	return strings.Join(out, "; ")
}

// NodeLedger is what one node holds after the run, for the exactly-once
// check: the signal event ids of its ledger archive, entry by entry, and
// the ledger's own counters.
type NodeLedger struct {
	Node string `json:"node"`
	// Signals lists, for each applied record_signals entry of the
	// archive, in ledger order, its event ids.
	Signals [][]string `json:"signals"`
	// Complete is false when the archive lacks entries (a node that
	// caught up by installing a snapshot has no archive before it).
	Complete bool `json:"complete"`
	// Accepted, Duplicate and Rejected are the ledger's counters
	// (GET /v1/status: signalsAccepted, signalsDuplicate, signalsRejected).
	Accepted, Duplicate, Rejected int64
}

// CheckExactlyOnce checks, on each node's ledger, that every acknowledged
// event id is there, and that no event id was applied twice. The archive
// lists each signal batch as it was committed, retries included, not what
// became of each signal; but the ledger applies the first occurrence of an
// id and answers duplicate for the others, so its counters must say
// accepted = the number of distinct ids, and accepted + duplicate +
// rejected = the number of occurrences. A
// double apply makes accepted exceed the distinct ids. It also checks the
// clients' side: a batch sent again after it was acknowledged answers
// duplicate for every signal, and no signal was rejected.
func CheckExactlyOnce(ops []Op, ledgers []NodeLedger) []CheckResult {
	acked, out := checkClientSide(ops)
	present, once := checkLedgers(ledgers, acked)
	return append(out, present, once)
}

// checkClientSide returns the acknowledged event ids and checks what the
// clients were answered: resent batches duplicate, no signal rejected.
func checkClientSide(ops []Op) (map[string]bool, []CheckResult) {
	acked := map[string]bool{}
	var resendAccepted, rejected []string
	for _, op := range ops {
		if (op.Kind != OpSignals && op.Kind != OpResend) || op.Outcome != OutcomeOK {
			continue
		}
		for i, id := range op.Events {
			st := ""
			if i < len(op.Statuses) {
				st = op.Statuses[i]
			}
			switch {
			case st == "rejected":
				rejected = append(rejected, id)
				continue
			case op.Kind == OpResend && st != "duplicate":
				resendAccepted = append(resendAccepted, fmt.Sprintf("%s answered %q on %s", id, st, op.Node))
			}
			acked[id] = true
		}
	}
	resend := CheckResult{Name: "resent acknowledged batches answer duplicate", OK: len(resendAccepted) == 0}
	if !resend.OK {
		resend.Detail = "applied again: " + firstFew(resendAccepted)
	}
	rej := CheckResult{Name: "no signal rejected", OK: len(rejected) == 0}
	if !rej.OK {
		rej.Detail = "rejected: " + firstFew(rejected)
	}
	return acked, []CheckResult{resend, rej}
}

// checkLedgers checks every node's ledger for the acknowledged ids, each
// applied once, and the nodes' counters against each other.
func checkLedgers(ledgers []NodeLedger, acked map[string]bool) (present, once CheckResult) {
	present = CheckResult{Name: "every acknowledged signal on every node", OK: true,
		Detail: fmt.Sprintf("%d acknowledged signals, %d nodes", len(acked), len(ledgers))}
	once = CheckResult{Name: "no event id applied twice", OK: true}
	var notes []string
	for _, l := range ledgers {
		occurrences := 0
		distinct := map[string]bool{}
		for _, entry := range l.Signals {
			for _, id := range entry {
				occurrences++
				distinct[id] = true
			}
		}
		if l.Complete {
			var missing []string
			for id := range acked {
				if !distinct[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				sort.Strings(missing)
				present.OK = false
				notes = append(notes, fmt.Sprintf("%s lacks %d acknowledged signals: %s", l.Node, len(missing), firstFew(missing)))
			}
			// With rejections (which the workload never causes) an id
			// may be in the ledger without having been applied: then
			// only accepted <= distinct holds.
			wrongCount := l.Accepted != int64(len(distinct)) && (l.Rejected == 0 || l.Accepted > int64(len(distinct)))
			if wrongCount || l.Accepted+l.Duplicate+l.Rejected != int64(occurrences) {
				once.OK = false
				notes = append(notes, fmt.Sprintf("%s applied %d signals (counters: %d accepted, %d duplicate, %d rejected) "+
					"for %d distinct event ids in %d occurrences", l.Node, l.Accepted, l.Accepted, l.Duplicate, l.Rejected,
					len(distinct), occurrences))
			}
		} else {
			// Without the whole archive only the counters can be
			// compared: with every node's, below.
			notes = append(notes, l.Node+"'s archive is incomplete (snapshot install): checked by its counters only")
		}
	}
	for _, l := range ledgers[min(1, len(ledgers)):] {
		f := ledgers[0]
		if l.Accepted != f.Accepted || l.Duplicate != f.Duplicate || l.Rejected != f.Rejected {
			once.OK = false
			notes = append(notes, fmt.Sprintf("counters differ: %s %d/%d/%d, %s %d/%d/%d", f.Node, f.Accepted, f.Duplicate,
				f.Rejected, l.Node, l.Accepted, l.Duplicate, l.Rejected))
		}
	}
	if len(ledgers) > 0 {
		f := ledgers[0]
		if f.Accepted < int64(len(acked)) {
			present.OK = false
			notes = append(notes, fmt.Sprintf("the ledger counts %d accepted signals, fewer than the %d acknowledged", f.Accepted, len(acked)))
		}
	}
	if len(notes) > 0 {
		once.Detail = strings.Join(notes, "; ")
		if !present.OK {
			present.Detail += "; " + strings.Join(notes, "; ")
		}
	}
	return present, once
}

// firstFew lists up to five items and how many more there are.
func firstFew(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
}
