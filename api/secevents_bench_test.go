package api

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trustledger/trustledger/federation"
)

// BenchmarkSETPush measures SETs per second through one node end to end:
// HTTP, authentication, rate limit, verification, the dry run and a Raft
// commit (with fsync) per SET, from concurrent clients.
func BenchmarkSETPush(b *testing.B) {
	h := newHarness(b)
	const principals = 100
	for i := 0; i < principals; i++ {
		h.register(fmt.Sprintf("u%d", i), "user", "")
	}
	p := h.addPartner("p1", nil)
	run := 0
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			run++
			sets := make([]string, b.N)
			for i := range sets {
				sets[i] = p.sign(b, alg, p.claims(fmt.Sprintf("bench-%d-%d", run, i), fmt.Sprintf("u%d", i%principals),
					federation.EventTrustAssessment, assessment(i%101)))
			}
			client := h.srv.Client()
			var next, failed atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", h.srv.URL+"/v1/federation/events", strings.NewReader(sets[next.Add(1)-1]))
					req.Header.Set("Content-Type", federation.MediaType)
					req.Header.Set("Authorization", "Bearer "+p.token)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						failed.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SETs/s")
			if failed.Load() > 0 {
				b.Fatalf("%d of %d deliveries failed", failed.Load(), b.N)
			}
		})
	}
}
