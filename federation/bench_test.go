package federation

import (
	"fmt"
	"testing"
)

// BenchmarkVerify measures what one SET costs a core: parse, signature
// verification, claim checks and mapping to a ledger command.
// Run with -cpu 1 for SETs per second per core.
func BenchmarkVerify(b *testing.B) {
	p := newTestPartner(b)
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			const n = 1024
			tokens := make([][]byte, n)
			for i := range tokens {
				tokens[i] = []byte(p.signed(b, alg, claims(fmt.Sprintf("bench-%d", i))))
			}
			var v Verifier
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tok, err := Parse(tokens[i%n])
				if err != nil {
					b.Fatal(err)
				}
				set, err := v.Verify(tok, p.view, Window{Now: testNow})
				if err != nil {
					b.Fatal(err)
				}
				if cmd, err := set.Command("p1"); err != nil || cmd == nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SETs/s")
		})
	}
}
