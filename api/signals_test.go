package api

import (
	"net/http"
	"sync"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

func signal(eventID, principal string, impact any) map[string]any {
	return map[string]any{"eventId": eventID, "principalId": principal, "event": "failed_login",
		"category": "authentication", "impact": impact}
}

// A batch answers per signal; state problems (unknown principal,
// duplicate) are per-signal results, not request errors.
func TestSignalsPerSignalResults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	writer := h.token("writer")
	var out signalsResult
	h.mustJSON("POST", "/v1/signals", writer, map[string]any{"signals": []any{
		signal("s1", "alice", -5), signal("s2", "nobody", -5), signal("s1", "alice", -5), signal("s3", "alice", 2.5),
	}}, http.StatusOK, &out)
	want := []string{fsm.StatusAccepted, fsm.StatusRejected, fsm.StatusDuplicate, fsm.StatusAccepted}
	if out.Index == 0 || len(out.Results) != len(want) {
		t.Fatalf("answer: %+v", out)
	}
	for i, w := range want {
		if out.Results[i].Status != w {
			t.Errorf("signal %d: %+v, want %s", i, out.Results[i], w)
		}
	}
	if out.Results[1].Reason == "" {
		t.Error("a rejected signal needs a reason")
	}
	// A bare signal object is accepted too.
	h.mustJSON("POST", "/v1/signals", writer, signal("s4", "alice", -1), http.StatusOK, &out)
	if len(out.Results) != 1 || out.Results[0].Status != fsm.StatusAccepted || out.Results[0].EventID != "s4" {
		t.Errorf("bare signal: %+v", out)
	}
	rec := h.record("alice")
	if len(rec.NegativeSignals) != 2 || len(rec.PositiveSignals) != 1 {
		t.Errorf("record signals: %+v / %+v", rec.NegativeSignals, rec.PositiveSignals)
	}
}

// The same eventId sent twice, or many times at once, is applied once.
func TestSignalIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	writer := h.token("writer")

	var first, second signalsResult
	h.mustJSON("POST", "/v1/signals", writer, signal("dup-1", "alice", -10), http.StatusOK, &first)
	afterFirst := h.record("alice").TrustScore
	h.mustJSON("POST", "/v1/signals", writer, signal("dup-1", "alice", -10), http.StatusOK, &second)
	if first.Results[0].Status != fsm.StatusAccepted || second.Results[0].Status != fsm.StatusDuplicate {
		t.Fatalf("statuses %s then %s", first.Results[0].Status, second.Results[0].Status)
	}
	if second.Index <= first.Index {
		t.Errorf("the retry committed at %d, not after %d", second.Index, first.Index)
	}
	if got := h.record("alice").TrustScore; got != afterFirst {
		t.Errorf("score moved on a duplicate: %d → %d", afterFirst, got)
	}

	const n = 12
	var wg sync.WaitGroup
	statuses := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.do("POST", "/v1/signals", writer, signal("dup-2", "alice", -3))
			var out signalsResult
			if r.status != http.StatusOK {
				t.Errorf("concurrent send %d: %d %s", i, r.status, r.body)
				return
			}
			if err := jsonUnmarshal(r.body, &out); err != nil || len(out.Results) != 1 {
				t.Errorf("concurrent send %d: %v %s", i, err, r.body)
				return
			}
			statuses[i] = out.Results[0].Status
		}()
	}
	wg.Wait()
	accepted := 0
	for _, s := range statuses {
		switch s {
		case fsm.StatusAccepted:
			accepted++
		case fsm.StatusDuplicate:
		default:
			t.Errorf("status %q", s)
		}
	}
	if accepted != 1 {
		t.Errorf("dup-2 accepted %d times, want once: %v", accepted, statuses)
	}
	st := h.node.Ledger().Status()
	if st.Counters.SignalsAccepted != 2 || st.Counters.SignalsDuplicate != n {
		t.Errorf("counters %+v, want 2 accepted and %d duplicates", st.Counters, n)
	}
	rec := h.record("alice")
	if len(rec.NegativeSignals) != 2 {
		t.Errorf("negative signals %+v, want two", rec.NegativeSignals)
	}
}
