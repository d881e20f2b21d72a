package api

import (
	"fmt"
	"strings"
	"testing"
)

// signalBatchBody builds a POST /v1/signals body of n signals shaped like
// production traffic: short ids, an event name, a category, an impact and
// one in four with attributes.
func signalBatchBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"signals":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventId":"evt-%08d","principalId":"principal-%d","event":"login_success","category":"authentication","impact":%d`,
			i, i%1000, 1+i%3)
		if i%4 == 0 {
			b.WriteString(`,"observedAt":"2026-11-23T08:04:46.888Z","attributes":{"ip":"10.0.0.1","device":"laptop-42","mfa":true}`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkParseSignals measures the decoding and validation of a signal
// batch (the fast path of POST /v1/signals), the largest share of leader
// CPU under ingest.
func BenchmarkParseSignals(b *testing.B) {
	for _, n := range []int{100, 1000} {
		body := signalBatchBody(n)
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				sigs, _, err := parseSignals(body, true)
				if err != nil || len(sigs) != n {
					b.Fatalf("parseSignals: %d signals, %v", len(sigs), err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "signals/s")
		})
	}
}
