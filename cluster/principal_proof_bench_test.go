package cluster

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/verify"
)

// BenchmarkPrincipalProof builds a ledger of 10^5 entries over 1,000
// principals, two of which (hot100, hot1000) have 100 and 1,000 signal
// entries of their own and one endorser each, and measures a principal
// proof for each: the bundle's entries, its bytes (leaves and proofs),
// the time the node takes to gather the entries and their inclusion
// proofs, and the time a verifier takes to check the proofs and replay.
//
//	go test ./cluster -run '^$' -bench BenchmarkPrincipalProof -benchtime 1x
func BenchmarkPrincipalProof(b *testing.B) {
	const n = 100_000
	l := fsm.NewLedger()
	a, err := openArchive(filepath.Join(b.TempDir(), "ledger.db"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	var seq int
	apply := func(cmd fsm.Command) {
		seq++
		data, err := fsm.EncodeEntry(cmd, int64(1_700_000_000_000+1000*seq), "bench")
		if err != nil {
			b.Fatal(err)
		}
		res := l.Apply(uint64(seq), data)
		a.append(res, data)
		if seq%10_000 == 0 {
			if err := a.waitDurable(uint64(seq)); err != nil {
				b.Fatal(err)
			}
		}
	}
	apply(&fsm.SetOrg{OrgID: "eng", Name: "Engineering", Base: 60 * fsm.Point})
	for i := range 998 {
		apply(&fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("q%d", i), PrincipalType: "user", OrgID: "eng"})
	}
	for _, id := range []string{"hot100", "hot1000"} {
		apply(&fsm.RegisterPrincipal{PrincipalID: id, PrincipalType: "user", OrgID: "eng"})
	}
	apply(&fsm.AddEndorsement{EndorserID: "q1", EndorseeID: "hot100", Reason: "bench"})
	apply(&fsm.AddEndorsement{EndorserID: "q2", EndorseeID: "hot1000", Reason: "bench"})
	for i := 0; seq < n; i++ {
		id := fmt.Sprintf("q%d", i%998)
		switch {
		case i%900 == 0:
			id = "hot100"
		case i%90 == 0:
			id = "hot1000"
		}
		apply(&fsm.RecordSignals{Signals: []fsm.Signal{{EventID: fmt.Sprintf("e%d", i), PrincipalID: id, Event: "login",
			Category: uint8(i % fsm.NumComponents), Impact: int64(i%7-3) * fsm.Point / 2}}})
	}
	if err := a.waitDurable(n); err != nil {
		b.Fatal(err)
	}
	head, _ := a.treeHead()
	cp := verify.Checkpoint{Size: head.Size, Root: head.Root}
	lh := l.Head()
	for _, id := range []string{"hot100", "hot1000"} {
		b.Run(id, func(b *testing.B) {
			var entries, bytes int
			var gather, check time.Duration
			for range b.N {
				t0 := time.Now()
				deps, err := a.dependencies(id, n)
				if err != nil {
					b.Fatal(err)
				}
				proofs := make([][][]byte, len(deps))
				for i := range deps {
					if proofs[i], err = a.inclusionProof(deps[i].Sequence-1, n); err != nil {
						b.Fatal(err)
					}
				}
				gather += time.Since(t0)
				entries, bytes = len(deps), 0
				for i := range deps {
					bytes += len(deps[i].Leaf) + 32*len(proofs[i])
				}
				t0 = time.Now()
				for i := range deps {
					if err := verify.Inclusion(cp, deps[i].Sequence, deps[i].Leaf, proofs[i]); err != nil {
						b.Fatal(err)
					}
				}
				r, err := fsm.Replay(ReplayEntries(deps), lh)
				if err != nil {
					b.Fatal(err)
				}
				got, _ := r.Record(id, lh.Time)
				check += time.Since(t0)
				want, _ := l.Record(id, lh.Time)
				if got.TrustScoreExact != want.TrustScoreExact {
					b.Fatalf("replayed score %v, ledger %v", got.TrustScoreExact, want.TrustScoreExact)
				}
			}
			b.ReportMetric(float64(entries), "entries")
			b.ReportMetric(float64(bytes)/1024, "bundle-KiB")
			b.ReportMetric(float64(gather.Microseconds())/float64(b.N)/1000, "gather-ms")
			b.ReportMetric(float64(check.Microseconds())/float64(b.N)/1000, "verify-ms")
		})
	}
}
