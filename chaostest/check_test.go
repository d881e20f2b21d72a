package chaostest

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// ms is a history time of t milliseconds.
func ms(t int64) int64 { return t * int64(time.Millisecond) }

func write(client int, key, value string, call, ret int64, outcome string) Op {
	return Op{Client: client, Kind: OpWrite, Key: key, Value: value, Call: ms(call), Return: ms(ret), Outcome: outcome}
}

func read(client int, key, value, consistency string, call, ret int64) Op {
	return Op{Client: client, Kind: OpRead, Key: key, Value: value, Consistency: consistency, Call: ms(call), Return: ms(ret),
		Outcome: OutcomeOK}
}

// The register checker accepts linearizable histories and rejects the
// stale read, the read of a failed write, and a read that observes a
// write of unknown outcome before it was called.
func TestCheckLinearizable(t *testing.T) {
	const lin = client.ConsistencyLinearizable
	tests := []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"sequential", []Op{write(0, "k", "a", 0, 10, OutcomeOK), read(1, "k", "a", lin, 20, 30)}, true},
		{"concurrent read sees either", []Op{write(0, "k", "a", 0, 10, OutcomeOK), write(0, "k", "b", 20, 40, OutcomeOK),
			read(1, "k", "a", lin, 25, 30), read(2, "k", "b", lin, 26, 35)}, true},
		{"initial value", []Op{read(1, "k", InitialValue, lin, 0, 5), write(0, "k", "a", 10, 20, OutcomeOK)}, true},
		{"stale read after an acknowledged write", []Op{write(0, "k", "a", 0, 10, OutcomeOK),
			read(1, "k", InitialValue, lin, 20, 30)}, false},
		{"read goes back in time", []Op{write(0, "k", "a", 0, 10, OutcomeOK), write(0, "k", "b", 20, 30, OutcomeOK),
			read(1, "k", "b", lin, 40, 50), read(2, "k", "a", lin, 60, 70)}, false},
		{"unknown write observed later", []Op{write(0, "k", "a", 0, 10, OutcomeUnknown), read(1, "k", "a", lin, 500, 510)}, true},
		{"unknown write never observed", []Op{write(0, "k", "a", 0, 10, OutcomeUnknown), read(1, "k", InitialValue, lin, 500, 510)}, true},
		{"unknown write observed before its call", []Op{read(1, "k", "a", lin, 0, 5), write(0, "k", "a", 10, 20, OutcomeUnknown)}, false},
		{"failed write observed", []Op{write(0, "k", "a", 0, 10, OutcomeFail), read(1, "k", "a", lin, 20, 30)}, false},
		{"keys are independent", []Op{write(0, "k", "a", 0, 10, OutcomeOK), read(1, "j", InitialValue, lin, 20, 30)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := CheckLinearizable(tt.ops, 10*time.Second, nil, lin)
			if res.OK != tt.ok {
				t.Fatalf("CheckLinearizable = %+v, want ok=%v", res, tt.ok)
			}
		})
	}
}

// Reads at other consistency levels are left out of a check: a stale
// read breaks the stale check only.
func TestCheckLinearizableByConsistency(t *testing.T) {
	ops := []Op{write(0, "k", "a", 0, 10, OutcomeOK), read(1, "k", InitialValue, client.ConsistencyStale, 20, 30),
		read(2, "k", "a", client.ConsistencyLinearizable, 20, 30)}
	if res := CheckLinearizable(ops, 10*time.Second, nil, client.ConsistencyLinearizable); !res.OK {
		t.Errorf("linearizable reads: %+v", res)
	}
	var vis strings.Builder
	res := CheckLinearizable(ops, 10*time.Second, &vis, client.ConsistencyStale)
	if res.OK || !strings.Contains(res.Detail, "key k") {
		t.Errorf("stale reads: %+v, want a violation on key k", res)
	}
	if !strings.Contains(vis.String(), "<html") {
		t.Errorf("no visualization written (%d bytes)", vis.Len())
	}
}

func signalOp(kind, node string, ids []string, statuses ...string) Op {
	return Op{Kind: kind, Node: node, Events: ids, Statuses: statuses, Outcome: OutcomeOK}
}

// The exactly-once check over synthetic ledgers: the double apply is made
// here, in the ledger listing and counters a node would report after
// applying an event id twice (TestCheckerCatchesDoubleApply does it with a
// real cluster of deliberately broken nodes).
func TestCheckExactlyOnce(t *testing.T) {
	acked := []Op{
		signalOp(OpSignals, "n1", []string{"e1", "e2"}, "accepted", "accepted"),
		signalOp(OpSignals, "n2", []string{"e3"}, "accepted"),
		signalOp(OpResend, "n3", []string{"e1", "e2"}, "duplicate", "duplicate"),
	}
	// The batch e1,e2 is in the ledger twice (a retry after an unknown
	// outcome, then the resend): the ledger applied the first and
	// counted the others duplicate.
	good := NodeLedger{Node: "n1", Complete: true, Signals: [][]string{{"e1", "e2"}, {"e1", "e2"}, {"e3"}, {"e1", "e2"}},
		Accepted: 3, Duplicate: 4}
	withNode := func(l NodeLedger, node string) NodeLedger { l.Node = node; return l }
	tests := []struct {
		name    string
		ops     []Op
		ledgers []NodeLedger
		failed  []string // the names of the checks that must fail
	}{
		{"every id once", acked, []NodeLedger{good, withNode(good, "n2")}, nil},
		{"an event id applied twice", acked, []NodeLedger{good, {Node: "n2", Complete: true,
			Signals: good.Signals, Accepted: 4, Duplicate: 3}}, []string{"no event id applied twice"}},
		{"a resend answered accepted", append(append([]Op(nil), acked...), signalOp(OpResend, "n2", []string{"e3"}, "accepted")),
			[]NodeLedger{good}, []string{"resent acknowledged batches answer duplicate"}},
		{"an acknowledged signal missing", append(append([]Op(nil), acked...), signalOp(OpSignals, "n1", []string{"e4"}, "accepted")),
			[]NodeLedger{good}, []string{"every acknowledged signal on every node"}},
		{"a signal rejected", []Op{signalOp(OpSignals, "n1", []string{"e1", "e2"}, "accepted", "rejected")},
			[]NodeLedger{{Node: "n1", Complete: true, Signals: [][]string{{"e1", "e2"}}, Accepted: 1, Rejected: 1}},
			[]string{"no signal rejected"}},
		{"counters differ between nodes", acked, []NodeLedger{good, {Node: "n2", Signals: good.Signals, Accepted: 2, Duplicate: 5}},
			[]string{"no event id applied twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failed []string
			for _, c := range CheckExactlyOnce(tt.ops, tt.ledgers) {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if !reflect.DeepEqual(failed, tt.failed) {
				t.Fatalf("failed checks %q, want %q", failed, tt.failed)
			}
		})
	}
}

// Classify tells certain failures from unknown outcomes.
func TestClassify(t *testing.T) {
	problem := func(status int, kind string) error {
		return &client.Error{StatusCode: status, Problem: client.Problem{Type: "https://trustledger.dev/problems/" + kind}}
	}
	tests := []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{problem(http.StatusServiceUnavailable, "not-leader"), OutcomeFail},
		{problem(http.StatusServiceUnavailable, "no-leader"), OutcomeFail},
		{problem(http.StatusServiceUnavailable, "not-ready"), OutcomeFail},
		{problem(http.StatusUnauthorized, "unauthorized"), OutcomeFail},
		{problem(http.StatusServiceUnavailable, "outcome-unknown"), OutcomeUnknown},
		{problem(http.StatusServiceUnavailable, "timeout"), OutcomeUnknown},
		{problem(http.StatusInternalServerError, "internal"), OutcomeUnknown},
		{&client.UnreachableError{Address: "x", Err: syscall.ECONNREFUSED}, OutcomeFail},
		{&client.UnreachableError{Address: "x", Err: syscall.ECONNRESET}, OutcomeUnknown},
		{fmt.Errorf("PUT /v1/orgs/k: no answer: %w", errors.New("deadline")), OutcomeUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

// A seed always gives the same schedule; required kinds are in its first
// half; the gaps and holds fill the duration.
func TestSchedule(t *testing.T) {
	a := Schedule(42, time.Minute, AllFaults, []string{KillAll, OneWay})
	b := Schedule(42, time.Minute, AllFaults, []string{KillAll, OneWay})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two schedules")
	}
	if reflect.DeepEqual(a, Schedule(43, time.Minute, AllFaults, nil)) {
		t.Fatal("two seeds gave the same schedule")
	}
	if s := Schedule(1, 0, AllFaults, []string{KillAll}); len(s) != 0 {
		t.Fatalf("a schedule of no time has %d faults", len(s))
	}
	var total time.Duration
	found := map[string]int{}
	for i, f := range a {
		total += f.Gap + f.Hold
		if _, ok := found[f.Kind]; !ok {
			found[f.Kind] = i
		}
	}
	if total < time.Minute {
		t.Errorf("the schedule fills %v of a minute", total)
	}
	for _, k := range []string{KillAll, OneWay} {
		i, ok := found[k]
		if !ok || i >= max(1, len(a)/2) {
			t.Errorf("%s at %d (found %v) of %d faults, want in the first half", k, i, ok, len(a))
		}
	}
	// Requiring several kinds gives each its own fault, whatever the
	// seed drew.
	for seed := range uint64(50) {
		req := []string{KillAll, Bridge, Partition}
		have := map[string]bool{}
		sched := Schedule(seed, 40*time.Second, AllFaults, req)
		for _, f := range sched[:len(sched)/2] {
			have[f.Kind] = true
		}
		for _, k := range req {
			if !have[k] {
				t.Errorf("seed %d: no %s in the first half of the schedule", seed, k)
			}
		}
	}
}
