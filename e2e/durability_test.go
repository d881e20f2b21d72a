package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/trustledger/trustledger/api/client"
)

const (
	durabilityPrincipals = 20
	durabilityWriters    = 4
	durabilityBatch      = 100
)

// After SIGKILL, a restarted trustd has every acknowledged write, and
// reports the same digest at the same applied index. Then it kills the process while
// writers are in full flight, and checks that every signal acknowledged
// before the kill survives, and that replaying the log after another
// SIGKILL gives the same state again.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	cl := n.client

	if _, err := cl.PutOrg(ctx, "acme", client.OrgSpec{BaseTrustScore: "70", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	for i := range durabilityPrincipals {
		if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: principalID(i), PrincipalType: "user", OrgID: "acme"}); err != nil {
			t.Fatal(err)
		}
	}

	// Phase 1: acknowledged writes, then SIGKILL after them.
	acked := newAckSet()
	var wg sync.WaitGroup
	errs := make(chan error, durabilityWriters)
	for w := range durabilityWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 20 {
				if err := sendBatch(ctx, cl, fmt.Sprintf("p1-w%d-b%d", w, b), acked); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	before := n.status(ctx)
	if got := before.Counters["signalsAccepted"]; got != int64(acked.len()) {
		t.Fatalf("before the kill: %d signals accepted, want %d", got, acked.len())
	}
	if before.AppliedIndex < acked.max {
		t.Fatalf("applied index %d is behind the last acknowledged index %d", before.AppliedIndex, acked.max)
	}

	n.kill()
	n.restart()
	after := n.settled(ctx)
	if after.AppliedIndex != before.AppliedIndex || after.Digest != before.Digest || after.Sequence != before.Sequence {
		t.Fatalf("after SIGKILL and restart: index %d digest %s sequence %d; before: index %d digest %s sequence %d%s",
			after.AppliedIndex, after.Digest, after.Sequence, before.AppliedIndex, before.Digest, before.Sequence,
			entriesAfter(ctx, cl, before.Sequence))
	}
	if fmt.Sprint(after.Counters) != fmt.Sprint(before.Counters) || after.Principals != before.Principals {
		t.Fatalf("counters changed across the restart: %v (%d principals), before %v (%d principals)",
			after.Counters, after.Principals, before.Counters, before.Principals)
	}
	checkInLedger(ctx, t, cl, acked)
	checkPrincipalEvents(ctx, t, cl, before.Sequence)

	// Phase 2: SIGKILL while writers are in flight. Writes that got an
	// answer must survive; those cut off may or may not have committed.
	inflight := newAckSet()
	enough := make(chan struct{})
	var once sync.Once
	for w := range durabilityWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				if err := sendBatch(ctx, cl, fmt.Sprintf("p2-w%d-b%d", w, b), inflight); err != nil {
					return // the kill cut the connection
				}
				if inflight.len() >= 30*durabilityBatch {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	select {
	case <-enough:
	case <-writersDone:
		t.Fatalf("the writers stopped before the kill, after %d signals", inflight.len())
	}
	n.kill()
	<-writersDone

	n.restart()
	st := n.settled(ctx)
	if st.AppliedIndex < inflight.max {
		t.Fatalf("after SIGKILL in flight: applied index %d, behind the last acknowledged index %d", st.AppliedIndex, inflight.max)
	}
	accepted := st.Counters["signalsAccepted"]
	if want := int64(acked.len() + inflight.len()); accepted < want {
		t.Fatalf("after SIGKILL in flight: %d signals accepted, want at least the %d acknowledged", accepted, want)
	}
	if accepted > int64(acked.len()+inflight.len()+durabilityWriters*durabilityBatch) {
		t.Fatalf("after SIGKILL in flight: %d signals accepted, more than were sent", accepted)
	}
	if r := st.Counters["rejected"]; r != 0 {
		t.Errorf("%d rejected ledger entries after the restarts, want none:%s", r, entriesAfter(ctx, cl, before.Sequence))
	}
	checkInLedger(ctx, t, cl, acked)
	checkInLedger(ctx, t, cl, inflight)

	// Replaying the same log gives the same state: kill again with no
	// writes in flight, restart, compare at the same index.
	n.kill()
	n.restart()
	again := n.settled(ctx)
	if again.AppliedIndex != st.AppliedIndex || again.Digest != st.Digest {
		t.Fatalf("replay after a second SIGKILL: index %d digest %s; before it: index %d digest %s%s",
			again.AppliedIndex, again.Digest, st.AppliedIndex, st.Digest, entriesAfter(ctx, cl, st.Sequence))
	}

	// The deduplication index survived too: every acknowledged signal,
	// sent again, is a duplicate.
	resendAll(ctx, t, cl, acked)
	resendAll(ctx, t, cl, inflight)
	if got := n.status(ctx).Counters["signalsAccepted"]; got != accepted {
		t.Fatalf("re-sending acknowledged signals changed signalsAccepted from %d to %d", accepted, got)
	}
}

func principalID(i int) string { return fmt.Sprintf("dur-%02d", i) }

// sendBatch sends one batch of signals named prefix-0..99 over all the
// test's principals, and records them in acked if every one was accepted.
func sendBatch(ctx context.Context, cl *client.Client, prefix string, acked *ackSet) error {
	batch := make([]client.Signal, durabilityBatch)
	for i := range batch {
		impact := "1"
		if i%10 == 9 {
			impact = "-1"
		}
		batch[i] = client.Signal{EventID: fmt.Sprintf("%s-%d", prefix, i), PrincipalID: principalID(i % durabilityPrincipals),
			Event: "login_success", Category: client.CategoryAuthentication, Impact: json.Number(impact)}
	}
	res, err := cl.SendSignals(ctx, batch)
	if err != nil {
		return fmt.Errorf("batch %s: %w", prefix, err)
	}
	if len(res.Results) != len(batch) {
		return fmt.Errorf("batch %s: %d results for %d signals", prefix, len(res.Results), len(batch))
	}
	for i, r := range res.Results {
		if r.Status != client.SignalAccepted || r.EventID != batch[i].EventID {
			return fmt.Errorf("batch %s: signal %d: %+v", prefix, i, r)
		}
	}
	for _, s := range batch {
		acked.add(s.EventID, res.Index)
	}
	return nil
}

// checkInLedger reads the whole ledger and checks that every acknowledged
// signal is in an applied record_signals entry at the index its batch was
// acknowledged at.
func checkInLedger(ctx context.Context, t *testing.T, cl *client.Client, acked *ackSet) {
	t.Helper()
	found := map[string]uint64{}
	var after uint64
	for {
		page, _, err := cl.Ledger(ctx, client.Page{After: after, Limit: 1000}, nil)
		if err != nil {
			t.Fatalf("read the ledger after %d: %v", after, err)
		}
		if len(page.Entries) == 0 {
			break
		}
		for _, e := range page.Entries {
			after = e.Sequence
			if e.Kind != "record_signals" || e.Status != "applied" {
				continue
			}
			var cmd struct{ Signals []struct{ EventID string } }
			if err := json.Unmarshal(e.Command, &cmd); err != nil {
				t.Fatalf("ledger entry %d: %v", e.Sequence, err)
			}
			for _, s := range cmd.Signals {
				if _, dup := found[s.EventID]; !dup {
					found[s.EventID] = e.Index
				}
			}
		}
	}
	acked.mu.Lock()
	defer acked.mu.Unlock()
	missing := 0
	for id, index := range acked.ids {
		got, ok := found[id]
		switch {
		case !ok:
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged signal %s (index %d) is not in the ledger", id, index)
			}
		case got != index:
			t.Errorf("signal %s: in the ledger at index %d, acknowledged at %d", id, got, index)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged signals are missing from the ledger", missing, len(acked.ids))
	}
}

// checkPrincipalEvents checks that a principal's events, as its own
// endpoint serves them after the restart, are the ledger's entries about it.
func checkPrincipalEvents(ctx context.Context, t *testing.T, cl *client.Client, lastSeq uint64) {
	t.Helper()
	id := principalID(0)
	ev, _, err := cl.Events(ctx, id, client.Page{Limit: 1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Registration, then one entry per batch: every batch names every
	// principal.
	signals := 0
	for _, e := range ev.Entries {
		if e.Sequence > lastSeq {
			t.Fatalf("%s: event %d after the last sequence %d", id, e.Sequence, lastSeq)
		}
		if e.Kind == "record_signals" {
			signals++
		}
	}
	if want := 20 * durabilityWriters; signals != want {
		t.Fatalf("%s: %d record_signals events after the restart, want %d", id, signals, want)
	}
}

// resendAll sends every acknowledged signal again, in batches, and checks
// that each is answered as a duplicate.
func resendAll(ctx context.Context, t *testing.T, cl *client.Client, acked *ackSet) {
	t.Helper()
	acked.mu.Lock()
	ids := make([]string, 0, len(acked.ids))
	for id := range acked.ids {
		ids = append(ids, id)
	}
	acked.mu.Unlock()
	for start := 0; start < len(ids); start += 1000 {
		var batch []client.Signal
		for _, id := range ids[start:min(start+1000, len(ids))] {
			batch = append(batch, client.Signal{EventID: id, PrincipalID: principalID(0), Event: "login_success",
				Category: client.CategoryAuthentication, Impact: "1"})
		}
		res, err := cl.SendSignals(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup, _ := res.Counts(); dup != len(batch) {
			t.Fatalf("re-sent %d acknowledged signals: %d duplicates", len(batch), dup)
		}
	}
}

// entriesAfter describes the ledger entries after seq, for a failure
// message.
func entriesAfter(ctx context.Context, cl *client.Client, seq uint64) string {
	page, _, err := cl.Ledger(ctx, client.Page{After: seq, Limit: 10}, nil)
	if err != nil {
		return "\n(ledger: " + err.Error() + ")"
	}
	var b strings.Builder
	for _, e := range page.Entries {
		fmt.Fprintf(&b, "\n  entry %d at index %d: %s by %s, %s %s", e.Sequence, e.Index, e.Kind, e.Actor, e.Status, e.Error)
	}
	return b.String()
}
