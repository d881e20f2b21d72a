package cluster

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// BenchmarkPropose measures committed entries per second on one node with
// concurrent writers, each entry a batch of 20 signals, archive included.
func BenchmarkPropose(b *testing.B) {
	dir := b.TempDir()
	cfg := Config{NodeID: "node1", DataDir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, Voter: true, tune: fastRaft}
	n, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	if err := n.WaitForLeader(b.Context()); err != nil || !n.IsLeader() {
		b.Fatalf("no leader: %v", err)
	}
	const principals = 100
	for i := range principals {
		if _, err := n.Propose(b.Context(), &fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("p%d", i), PrincipalType: "user"}, ""); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := seq.Add(1)
			sigs := make([]fsm.Signal, 20)
			for i := range sigs {
				sigs[i] = fsm.Signal{EventID: fmt.Sprintf("e%d-%d", k, i), PrincipalID: fmt.Sprintf("p%d", (int(k)+i)%principals),
					Event: "login", Impact: fsm.Point / 10, Attributes: []byte(`{"ip":"10.1.2.3","ua":"bench"}`)}
			}
			res, err := n.Propose(b.Context(), &fsm.RecordSignals{Signals: sigs}, "bench")
			if err != nil || res.Err != nil {
				b.Errorf("propose: %v %v", err, res)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
	if err := n.archive.waitDurable(uint64(b.N + principals)); err != nil {
		b.Fatal(err)
	}
}
