package fsm

import (
	"bytes"
	"strconv"
	"testing"
)

// producerBatch is a batch of n signals of producer id's session epoch at
// sequence seq, with event ids unique to (epoch, seq).
func producerBatch(pid string, epoch int64, seq uint64, principal string, n int) *RecordSignals {
	c := &RecordSignals{Producer: &Producer{ID: pid, Epoch: epoch, Sequence: seq}}
	for i := 0; i < n; i++ {
		c.Signals = append(c.Signals, Signal{EventID: pid + "-" + strconv.FormatInt(epoch, 10) + "-" + strconv.FormatUint(seq, 10) + "-" + strconv.Itoa(i),
			PrincipalID: principal, Event: "successful_mfa", Impact: Point / 10})
	}
	return c
}

// The retries a producer session covers: a batch is applied once however
// late its retry, in or out of order within 64 sequences; one further
// behind, of a fenced session, or of a forgotten session's epoch, is
// refused (so never applied twice); the batch's ids are not kept; the
// state survives a snapshot.
func TestProducerRetries(t *testing.T) {
	w := newWorld(t, 7)
	id := w.principals[0]
	accepted := func(c *RecordSignals) (int, error) {
		t.Helper()
		res := w.apply(c)
		if res.Err != nil {
			return 0, res.Err
		}
		n := 0
		for _, s := range res.Signals {
			if s.Status == StatusAccepted {
				n++
			}
		}
		return n, nil
	}
	want := func(c *RecordSignals, n int) {
		t.Helper()
		got, err := accepted(c)
		if err != nil || got != n {
			t.Fatalf("batch %+v: %d accepted (%v), want %d", *c.Producer, got, err, n)
		}
	}
	refused := func(c *RecordSignals, field string) {
		t.Helper()
		before := w.l.Status().Counters
		if err := w.l.Check(c, "test", w.now); err == nil {
			t.Fatalf("Check accepts %+v", *c.Producer)
		}
		res := w.apply(c)
		rej, ok := res.Err.(*RejectError)
		after := w.l.Status().Counters
		if !ok || rej.Field != field || after.SignalsAccepted != before.SignalsAccepted || after.Rejected != before.Rejected+1 {
			t.Fatalf("batch %+v: %v, want a rejection of %s that changes nothing", *c.Producer, res.Err, field)
		}
	}
	ids := w.l.DedupSize()
	e1 := w.now - hourMS
	want(producerBatch("ingest", e1, 1, id, 3), 3)
	w.now += 7 * 24 * hourMS / 2 // a retry days later
	want(producerBatch("ingest", e1, 1, id, 3), 0)
	want(producerBatch("ingest", e1, 3, id, 2), 2) // out of order
	want(producerBatch("ingest", e1, 2, id, 2), 2)
	want(producerBatch("ingest", e1, 3, id, 2), 0)
	want(producerBatch("ingest", e1, 2, id, 2), 0)
	if w.l.DedupSize() != ids {
		t.Fatalf("a producer's batches kept %d event ids", w.l.DedupSize()-ids)
	}
	// In one batch, a repeated id counts once.
	dup := producerBatch("ingest", e1, 4, id, 2)
	dup.Signals[1].EventID = dup.Signals[0].EventID
	want(dup, 1)
	want(producerBatch("ingest", e1, 70, id, 1), 1)
	refused(producerBatch("ingest", e1, 5, id, 1), "producer.sequence") // 65 behind
	want(producerBatch("ingest", e1, 7, id, 1), 1)                      // 63 behind: judged
	// The state survives a snapshot.
	var buf bytes.Buffer
	if _, err := w.l.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	restored := NewLedger()
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	w.l = restored
	want(producerBatch("ingest", e1, 70, id, 1), 0)
	// A new session fences the old one.
	e2 := w.now
	want(producerBatch("ingest", e2, 1, id, 1), 1)
	refused(producerBatch("ingest", e1, 71, id, 1), "producer.epoch")
	// Forgotten: an idle producer's old session is refused, a new one is
	// not; the producer batch applied after the expiry drops the idle
	// sessions.
	want(producerBatch("idle", w.now, 1, id, 1), 1)
	w.now += 8 * 24 * hourMS
	refused(producerBatch("ingest", e2, 2, id, 1), "producer.epoch")
	want(producerBatch("ingest", w.now, 1, id, 1), 1)
	if w.l.Producers() != 1 {
		t.Fatalf("%d producer sessions kept after the others' expiry, want 1", w.l.Producers())
	}
	// At most maxProducers.
	pol := DefaultPolicy()
	pol.MaxProducers = 1
	w.apply(&SetPolicy{Policy: pol})
	refused(producerBatch("other", w.now, 1, id, 1), "producer.id")
}

// Property: whatever the order and repetition of a producer's batches, each
// (epoch, sequence) is applied at most once, and every batch is applied,
// answered as a duplicate, or refused.
func TestPropertyProducerBatchesApplyOnce(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		id := w.principals[0]
		applied := map[[2]int64]int{}
		epoch := w.now
		var sent [][2]int64
		for i := 0; i < 80; i++ {
			w.now += w.rng.Int64N(10 * 60_000)
			var e int64
			var seq uint64
			switch k := w.rng.IntN(10); {
			case k < 5 || len(sent) == 0: // the next batch
				e, seq = epoch, uint64(len(sent)+1+w.rng.IntN(3))
			case k < 9: // a retry of one sent before
				b := sent[w.rng.IntN(len(sent))]
				e, seq = b[0], uint64(b[1])
			default: // a new session
				epoch = w.now
				e, seq = epoch, 1
			}
			sent = append(sent, [2]int64{e, int64(seq)}) // #nosec G115 -- test sequences are small
			res := w.apply(producerBatch("p", e, seq, id, 1+w.rng.IntN(3)))
			if res.Err != nil {
				continue
			}
			for _, s := range res.Signals {
				if s.Status == StatusAccepted {
					applied[[2]int64{e, int64(seq)}]++ // #nosec G115 -- test sequences are small
					break
				}
			}
			if n := applied[[2]int64{e, int64(seq)}]; n > 1 { // #nosec G115 -- test sequences are small
				t.Fatalf("batch (%d, %d) applied %d times", e, seq, n)
			}
		}
	})
}

// A session belongs to the token that writes it: another token's batches
// under the same producer id neither take its sequences nor fence it. A
// batch of which nothing applied consumes no sequence; a session whose
// epoch ran ahead of ledger time is still refused once forgotten.
func TestProducerSessionsBelongToTheirToken(t *testing.T) {
	w := newWorld(t, 9)
	id := w.principals[0]
	as := func(actor string, c *RecordSignals) *Result {
		t.Helper()
		d, err := EncodeEntry(c, w.now, actor)
		if err != nil {
			t.Fatal(err)
		}
		w.idx++
		return w.l.Apply(w.idx, d)
	}
	status := func(res *Result) string {
		if res.Err != nil {
			return "refused"
		}
		return res.Signals[0].Status
	}
	e := w.now
	if got := status(as("tok-a", producerBatch("ingest", e, 1, id, 1))); got != StatusAccepted {
		t.Fatalf("a's batch 1: %s", got)
	}
	if got := status(as("tok-b", producerBatch("ingest", e+5, 1, id, 1))); got != StatusAccepted {
		t.Fatalf("b's batch 1 of its own session: %s", got)
	}
	if got := status(as("tok-a", producerBatch("ingest", e, 2, id, 1))); got != StatusAccepted {
		t.Fatalf("a's batch 2 after b's newer epoch: %s (b fenced a)", got)
	}
	// Nothing applied (an unknown principal): the sequence is not used up.
	bad := producerBatch("ingest", e, 3, "nobody", 1)
	if got := status(as("tok-a", bad)); got != StatusRejected {
		t.Fatalf("a batch about nobody: %s", got)
	}
	if got := status(as("tok-a", producerBatch("ingest", e, 3, id, 1))); got != StatusAccepted {
		t.Fatalf("batch 3 sent again with a known principal: %s", got)
	}
	// An epoch 10 minutes ahead of ledger time, forgotten after the expiry.
	ahead := w.now + 10*60_000
	as("tok-c", producerBatch("late", ahead, 1, id, 1))
	w.now += 7*24*hourMS + 60_000
	as("tok-c", &RecordSignals{Signals: []Signal{{EventID: w.freshID(), PrincipalID: id, Event: "x"}}})
	if got := status(as("tok-c", producerBatch("late", ahead, 1, id, 1))); got == StatusAccepted {
		t.Fatal("a forgotten session whose epoch ran ahead applied its batch again")
	}
}
