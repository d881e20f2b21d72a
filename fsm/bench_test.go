package fsm

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchLedger registers n principals (in batches of entries) and returns
// the ledger and the next Raft index.
func benchLedger(b *testing.B, n int) (*Ledger, uint64) {
	b.Helper()
	l := NewLedger()
	idx := uint64(0)
	apply := func(c Command, at int64) { benchApply(b, l, &idx, c, at) }
	apply(&SetOrg{OrgID: "acme", Base: 70 * Point}, t0)
	for i := 0; i < n; i++ {
		apply(&RegisterPrincipal{PrincipalID: "principal-" + strconv.Itoa(i), PrincipalType: PrincipalTypes[i%5], OrgID: "acme"}, t0)
	}
	return l, idx
}

// benchApply applies c stamped at to l at the next index, which must
// accept it.
func benchApply(b *testing.B, l *Ledger, idx *uint64, c Command, at int64) {
	b.Helper()
	d, err := EncodeEntry(c, at, "bench")
	if err != nil {
		b.Fatal(err)
	}
	*idx++
	if r := l.Apply(*idx, d); r.Err != nil {
		b.Fatal(r.Err)
	}
}

// signalBatches pre-encodes batches of 100 signals spread over n principals:
// a production-like mix where one signal in ten is a violation (-3) and the
// rest are routine positive evidence (+1).
func signalBatches(b *testing.B, count, n int, start int) [][]byte {
	b.Helper()
	out := make([][]byte, count)
	ev := start
	for i := range out {
		c := &RecordSignals{Signals: make([]Signal, 100)}
		for j := range c.Signals {
			ev++
			imp := Point
			if (ev/n)%10 == 3 { // each principal: 2 violations in 20 signals
				imp = -3 * Point
			}
			c.Signals[j] = Signal{EventID: "evt-" + strconv.Itoa(ev), PrincipalID: "principal-" + strconv.Itoa(ev%n),
				Event: eventNames[ev%len(eventNames)], Category: uint8(ev % NumComponents), Impact: imp}
		}
		d, err := EncodeEntry(c, t0+int64(ev)*10, "bench")
		if err != nil {
			b.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// benchLedgerSignals is benchLedger with perPrincipal signals applied to
// each principal.
func benchLedgerSignals(b *testing.B, principals, perPrincipal int) (*Ledger, uint64) {
	l, idx := benchLedger(b, principals)
	for _, d := range signalBatches(b, principals*perPrincipal/100, principals, 0) {
		idx++
		l.Apply(idx, d)
	}
	return l, idx
}

// BenchmarkApplySignals measures signals applied per second on one core,
// in batched entries of 100 signals over 100,000 principals.
func BenchmarkApplySignals(b *testing.B) {
	const principals = 100_000
	l, idx := benchLedger(b, principals)
	batches := signalBatches(b, b.N, principals, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		l.Apply(idx, batches[i])
	}
	b.StopTimer()
	if s := l.Status(); s.Counters.SignalsAccepted != uint64(b.N)*100 {
		b.Fatalf("accepted %d of %d", s.Counters.SignalsAccepted, b.N*100)
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "signals/s")
}

// BenchmarkRecord measures evaluating one record (20 signals, factors) and
// rendering its JSON.
func BenchmarkRecord(b *testing.B) {
	l, idx := benchLedger(b, 10)
	for _, d := range signalBatches(b, 2, 10, 0) {
		idx++
		l.Apply(idx, d)
	}
	d, _ := EncodeEntry(&ReportFactors{PrincipalID: "principal-1", AuthenticationFactors: []byte(`{"mfa_enabled":true}`),
		RiskIndicators: []byte(`["new_device"]`)}, t0+hourMS, "bench")
	l.Apply(idx+1, d)
	at := t0 + 48*hourMS
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _ := l.Record("principal-1", at)
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeapPerPrincipal measures live heap per principal holding 20
// signals each (100,000 principals, 2,000,000 signals, dedup index included).
func BenchmarkHeapPerPrincipal(b *testing.B) {
	const principals = 100_000
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		l, idx := benchLedger(b, principals)
		for _, d := range signalBatches(b, principals*20/100, principals, 0) {
			idx++
			l.Apply(idx, d)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if s := l.Status(); s.Counters.SignalsAccepted != principals*20 {
			b.Fatalf("accepted %d", s.Counters.SignalsAccepted)
		}
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/principals, "heap-bytes/principal")
		b.ReportMetric(float64(l.DedupSize()), "dedup-ids")
		runtime.KeepAlive(l)
	}
}

// BenchmarkSnapshotRestore1M measures snapshot and restore of 1,000,000
// principals with 2 signals each.
func BenchmarkSnapshotRestore1M(b *testing.B) {
	const principals = 1_000_000
	l, _ := benchLedgerSignals(b, principals, 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		var buf bytes.Buffer
		snap := l.Snapshot()
		n, err := snap.WriteTo(&buf)
		if err != nil {
			b.Fatal(err)
		}
		snapDur := b.Elapsed()
		l2 := NewLedger()
		if err := l2.Restore(&buf); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if l2.Digest() != l.Digest() || l2.Status().Principals != principals {
			b.Fatal("restored state differs")
		}
		b.ReportMetric(float64(n), "snapshot-bytes")
		b.ReportMetric(snapDur.Seconds(), "snapshot-s")
		b.ReportMetric((b.Elapsed() - snapDur).Seconds(), "restore-s")
	}
}

// BenchmarkSnapshotStall1M measures, at 1,000,000 principals with 2 signals
// each and 2,000,000 dedup ids, what a snapshot costs the entries around
// it: how long Snapshot holds the write lock (every Apply and read waits
// that long), and the longest Apply of the 200 batches of 100 signals after
// it (the copy-on-write clones a snapshot leaves to the next writes), with
// the longest of 200 batches before it for comparison — for batches deduped
// by event id (which write the dedup index's shards) and for producer
// batches (which do not).
func BenchmarkSnapshotStall1M(b *testing.B) {
	const principals = 1_000_000
	l, idx := benchLedgerSignals(b, principals, 2)
	for _, producer := range []bool{false, true} {
		next := signalBatches(b, 400*b.N, principals, principals*(2+4*b.N*btoi(producer)))
		if producer {
			next = asProducerBatches(b, next)
		}
		longest := func(batches [][]byte) time.Duration {
			var worst time.Duration
			for _, d := range batches {
				idx++
				start := time.Now()
				l.Apply(idx, d)
				worst = max(worst, time.Since(start))
			}
			return worst
		}
		var lock, before, after time.Duration
		for i := 0; i < b.N; i++ {
			before = max(before, longest(next[400*i:400*i+200]))
			start := time.Now()
			snap := l.Snapshot()
			lock = max(lock, time.Since(start))
			after = max(after, longest(next[400*i+200:400*i+400]))
			snap.Release()
		}
		name := "by-id"
		if producer {
			name = "producer"
		}
		b.ReportMetric(float64(lock.Microseconds())/1000, name+"-snapshot-lock-ms")
		b.ReportMetric(float64(before.Microseconds())/1000, name+"-max-apply-before-ms")
		b.ReportMetric(float64(after.Microseconds())/1000, name+"-max-apply-after-ms")
	}
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// asProducerBatches re-encodes signal batches as the batches 1, 2, ... of
// one producer session.
func asProducerBatches(b *testing.B, batches [][]byte) [][]byte {
	out := make([][]byte, len(batches))
	for i, d := range batches {
		e, err := DecodeEntry(d)
		if err != nil {
			b.Fatal(err)
		}
		cmd, err := DecodeCommand(e)
		if err != nil {
			b.Fatal(err)
		}
		c := cmd.(*RecordSignals)
		c.Producer = &Producer{ID: "bench", Epoch: t0, Sequence: uint64(i + 1)} // #nosec G115 -- a positive count
		if out[i], err = EncodeEntry(c, e.Stamp, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkDedupHeapHour measures the heap the idempotency state holds
// after an hour of ingest, simulated by spreading 36,000 batches of 100
// signals (3.6M signals) over an hour of ledger time: once from 16
// producer sessions (the batches' ids are not kept: state per producer),
// once without producers (every id kept for dedupWindow). It prints the
// heap of each and, for the per-id index, its bytes per id and what an
// hour at 200,000 signals/s would hold.
func BenchmarkDedupHeapHour(b *testing.B) {
	const principals, batches, producers = 1000, 36_000, 16
	for i := 0; i < b.N; i++ {
		for _, withProducer := range []bool{true, false} {
			l, idx := benchLedger(b, principals)
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			ev := 0
			for n := 0; n < batches; n++ {
				c := &RecordSignals{Signals: make([]Signal, 100)}
				for j := range c.Signals {
					ev++
					c.Signals[j] = Signal{EventID: "evt-" + strconv.Itoa(ev), PrincipalID: "principal-" + strconv.Itoa(ev%principals),
						Event: "successful_mfa", Category: uint8(ev % NumComponents), Impact: Point / 10}
				}
				at := t0 + int64(n)*hourMS/batches
				if withProducer {
					c.Producer = &Producer{ID: "ingest-" + strconv.Itoa(n%producers), Epoch: t0, Sequence: uint64(n/producers + 1)} // #nosec G115 -- a positive count
				}
				benchApply(b, l, &idx, c, at)
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			if s := l.Status(); s.Counters.SignalsAccepted != batches*100 {
				b.Fatalf("accepted %d", s.Counters.SignalsAccepted)
			}
			heap := float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
			if withProducer {
				b.ReportMetric(heap/(1<<20), "producer-MiB")
				b.ReportMetric(float64(l.DedupSize()), "producer-ids-kept")
				b.ReportMetric(float64(l.Producers()), "producers")
			} else {
				perID := heap / float64(l.DedupSize())
				b.ReportMetric(heap/(1<<20), "per-id-MiB")
				b.ReportMetric(perID, "per-id-bytes")
				b.ReportMetric(perID*200_000*3600/(1<<30), "per-id-GiB-per-hour-at-200k/s")
			}
			runtime.KeepAlive(l)
		}
	}
}
