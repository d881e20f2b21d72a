package cluster

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// BenchmarkArchive measures the CPU the archive spends per entry of 20
// signals over 10,000 principals (index keys scattered as in production),
// when the flusher finds 32 entries waiting (about one flush interval at a
// few thousand entries per second) or 1024 (a flusher that fell behind).
func BenchmarkArchive(b *testing.B) {
	for _, group := range []int{32, 1024} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) { benchmarkArchive(b, group) })
	}
}

func benchmarkArchive(b *testing.B, group int) {
	const principals, perEntry = 10_000, 20
	l := fsm.NewLedger()
	for i := range principals {
		data, _ := fsm.EncodeEntry(&fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("principal-%d", i), PrincipalType: "user"}, 1, "")
		l.Apply(uint64(i+1), data)
	}
	// Pre-build the entries so only the archive is measured.
	const distinct = 512
	results := make([]*fsm.Result, distinct)
	datas := make([][]byte, distinct)
	for k := range distinct {
		sigs := make([]fsm.Signal, perEntry)
		for i := range sigs {
			sigs[i] = fsm.Signal{EventID: fmt.Sprintf("e%d-%d", k, i), PrincipalID: fmt.Sprintf("principal-%d", (k*7919+i*104729)%principals),
				Event: "login", Impact: fsm.Point / 10, Attributes: []byte(`{"ip":"10.1.2.3","ua":"bench"}`)}
		}
		datas[k], _ = fsm.EncodeEntry(&fsm.RecordSignals{Signals: sigs}, 2, "bench")
		results[k] = l.Apply(uint64(principals+k+1), datas[k])
	}
	a, err := openArchive(filepath.Join(b.TempDir(), "ledger.db"), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := range b.N {
		r := *results[i%distinct]
		r.Sequence = uint64(i + 1)
		a.append(&r, datas[i%distinct])
		if i%group == group-1 || i == b.N-1 {
			if err := a.waitDurable(uint64(i + 1)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/entry")
}

// cpuTime returns the CPU time (user + system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
