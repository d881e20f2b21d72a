package fsm

import (
	"strconv"
	"testing"
)

// BenchmarkApplyWithFullOutbox applies 1,000-signal batches, each lowering
// 1,000 principals a level, while a paused stream holds a full outbox: every
// event derived drops the oldest. It reports signals per second and the
// events derived per batch.
func BenchmarkApplyWithFullOutbox(b *testing.B) {
	l := NewLedger()
	idx := uint64(0)
	now := t0
	apply := func(c Command) *Result {
		data, err := EncodeEntry(c, now, "bench")
		if err != nil {
			b.Fatal(err)
		}
		idx++
		return l.Apply(idx, data)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		apply(&RegisterPrincipal{PrincipalID: "u" + strconv.Itoa(i), PrincipalType: "user", Base: Some(95 * Point)})
	}
	apply(&PutStream{StreamID: "s", Op: "create", Method: DeliveryPoll})
	apply(&SetStreamStatus{StreamID: "s", Status: StreamPaused})
	for len(l.tx.outbox) < MaxOutbox {
		l.emit(outEvent{At: now, Type: evAssessment, Principal: "u0"})
	}
	seq := l.tx.outSeq
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		sig := make([]Signal, n)
		impact := int64(-40 * Point)
		if k%2 == 1 {
			impact = 40 * Point
		}
		for i := range sig {
			sig[i] = Signal{EventID: "e-" + strconv.Itoa(k) + "-" + strconv.Itoa(i), PrincipalID: "u" + strconv.Itoa(i),
				Event: "policy_violation", Category: 2, Impact: impact}
		}
		now += 1000
		if r := apply(&RecordSignals{Signals: sig}); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "signals/s")
	b.ReportMetric(float64(l.tx.outSeq-seq)/float64(b.N), "events/batch")
	if len(l.tx.outbox) != MaxOutbox {
		b.Fatalf("outbox %d", len(l.tx.outbox))
	}
}
