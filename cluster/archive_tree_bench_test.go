package cluster

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// BenchmarkProofs builds archives of 10^4, 10^5 and 10^6 entries (one
// small signal each) and measures inclusion and consistency proofs drawn
// at random: bytes per proof and generation latency p50/p99, printed as
// metrics. Proof sizes grow as log2(n) hashes of 32 bytes.
//
//	go test ./cluster -run '^$' -bench BenchmarkProofs -benchtime 1x
func BenchmarkProofs(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			a := buildTreeArchive(b, n)
			defer a.Close()
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			const draws = 2000
			var incl, cons []time.Duration
			var inclBytes, consBytes int
			b.ResetTimer()
			for range b.N {
				incl, cons, inclBytes, consBytes = incl[:0], cons[:0], 0, 0
				for range draws {
					seq := 1 + rng.Uint64N(uint64(n))
					t0 := time.Now()
					p, err := a.inclusionProof(seq-1, uint64(n))
					incl = append(incl, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					inclBytes += 32 * len(p)
					from := 1 + rng.Uint64N(uint64(n))
					t0 = time.Now()
					c, err := a.consistencyProof(from, uint64(n))
					cons = append(cons, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					consBytes += 32 * len(c)
				}
			}
			b.ReportMetric(float64(inclBytes)/draws, "incl-bytes")
			b.ReportMetric(pct(incl, 50), "incl-p50-µs")
			b.ReportMetric(pct(incl, 99), "incl-p99-µs")
			b.ReportMetric(float64(consBytes)/draws, "cons-bytes")
			b.ReportMetric(pct(cons, 50), "cons-p50-µs")
			b.ReportMetric(pct(cons, 99), "cons-p99-µs")
		})
	}
}

func pct(d []time.Duration, p int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Nanoseconds()) / 1000
}

// buildTreeArchive writes n entries to a fresh archive and waits until
// they, and their tree nodes, are on disk.
func buildTreeArchive(b *testing.B, n int) *archive {
	b.Helper()
	a, err := openArchive(filepath.Join(b.TempDir(), "ledger.db"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	data, _ := fsm.EncodeEntry(&fsm.RecordSignals{Signals: []fsm.Signal{{EventID: "e", PrincipalID: "p", Event: "login", Impact: 1}}}, 1, "bench")
	for i := 1; i <= n; i++ {
		a.append(&fsm.Result{Index: uint64(i), Sequence: uint64(i), Time: int64(i), Kind: fsm.KindRecordSignals, Subjects: []string{"p"}}, data)
		if i%10_000 == 0 {
			if err := a.waitDurable(uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := a.waitDurable(uint64(n)); err != nil {
		b.Fatal(err)
	}
	if head, _ := a.treeHead(); head.Size != uint64(n) {
		b.Fatalf("tree head %d, want %d", head.Size, n)
	}
	return a
}
