package main

import (
	"encoding/json"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// Short bench runs of both modes against a real node report their
// operations, signals and latencies, and the node counted what they
// report.
func TestBenchReportsWhatTheNodeCounted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	clearEnv(t)
	addr, token := startNode(t)
	common := []string{"--addr", addr, "--token", token, "--duration", "700ms", "--warmup", "200ms",
		"--principals", "10", "--concurrency", "4"}

	var accepted uint64
	for run := range 3 {
		args := []string{"bench", "--mode", "signals", "--batch", "20"}
		if run == 2 {
			// As producer sessions: every batch applied once, as before.
			args = append(args, "--producer")
		}
		code, out, errOut := runCLI("", append(args, common...)...)
		if code != 0 {
			t.Fatalf("bench signals: exit %d\n%s%s", code, out, errOut)
		}
		r := decodeBench(t, out)
		if r.Mode != "signals" || r.Concurrency != 4 || r.Batch != 20 || r.Ops == 0 || r.Errors != 0 || len(r.ErrorKinds) != 0 {
			t.Fatalf("bench signals, run %d: %+v", run+1, r)
		}
		// Event ids are unique to a run: a second run against the same
		// principals gets no duplicates.
		if r.Signals == nil || r.Signals.Accepted != r.Ops*20 || r.Signals.Duplicate != 0 || r.Signals.Rejected != 0 {
			t.Fatalf("bench signals, run %d: signals %+v for %d batches of 20", run+1, r.Signals, r.Ops)
		}
		if r.SignalsPerSec == nil || *r.SignalsPerSec <= r.OpsPerSec || r.ElapsedSeconds < 0.7 {
			t.Fatalf("bench signals, run %d: %+v", run+1, r)
		}
		checkLatency(t, r.Latency)
		if wantReg := run == 0; strings.Contains(errOut, "registered 10 principals") != wantReg {
			t.Errorf("run %d: registration message %v, want %v:\n%s", run+1, !wantReg, wantReg, errOut)
		}
		accepted += r.Signals.Accepted
	}

	code, out, errOut := runCLI("", append([]string{"bench", "--mode", "reads", "--consistency", "stale"}, common...)...)
	if code != 0 {
		t.Fatalf("bench reads: exit %d\n%s%s", code, out, errOut)
	}
	r := decodeBench(t, out)
	if r.Mode != "reads" || r.Consistency != "stale" || r.Ops == 0 || r.Errors != 0 || r.SignalsPerSec != nil || r.Signals != nil {
		t.Fatalf("bench reads: %+v", r)
	}
	checkLatency(t, r.Latency)

	code, out, errOut = runCLI("", append([]string{"bench", "--mode", "decisions"}, common...)...)
	if code != 0 {
		t.Fatalf("bench decisions: exit %d\n%s%s", code, out, errOut)
	}
	if r := decodeBench(t, out); r.Mode != "decisions" || r.Ops == 0 || r.Errors != 0 || r.Signals != nil {
		t.Fatalf("bench decisions: %+v", r)
	} else {
		checkLatency(t, r.Latency)
	}
	// As a gateway: step-up and deny answers are answers, not errors.
	code, out, errOut = runCLI("", append([]string{"bench", "--mode", "authz"}, common...)...)
	if code != 0 {
		t.Fatalf("bench authz: exit %d\n%s%s", code, out, errOut)
	}
	if r := decodeBench(t, out); r.Mode != "authz" || r.Ops == 0 || r.Errors != 0 {
		t.Fatalf("bench authz: %+v", r)
	}

	// The node counted what bench reported, warm-up batches included.
	code, out, _ = runCLI("", "--addr", addr, "--token", token, "status", "-o", "json")
	var st struct {
		Counters  map[string]uint64
		Producers int
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status: exit %d: %s", code, out)
	}
	if st.Counters["signalsAccepted"] < accepted || st.Counters["signalsDuplicate"] != 0 {
		t.Errorf("node counters %v; bench reported %d accepted in its measured windows", st.Counters, accepted)
	}
	// The --producer run's four workers are four producer sessions.
	if st.Producers != 4 {
		t.Errorf("the node keeps %d producer sessions, want the 4 workers of the --producer run", st.Producers)
	}
}

func decodeBench(t *testing.T, out string) benchResult {
	t.Helper()
	var r benchResult
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("bench output is not its JSON report: %v\n%s", err, out)
	}
	return r
}

func checkLatency(t *testing.T, l latencySummary) {
	t.Helper()
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Mean > 0 && l.Mean <= l.Max) {
		t.Errorf("latency summary out of order: %+v", l)
	}
}

func TestBenchUsageAndErrors(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{
		{"bench", "--mode", "writes"},
		{"bench", "--mode", "signals", "--consistency", "stale"},
		{"bench", "--concurrency", "0"},
		{"bench", "--batch", "10001"},
		{"bench", "--duration", "0s"},
		{"bench", "--principals", "0"},
		{"bench", "extra"},
	} {
		if code, _, errOut := runCLI("", args...); code != exitUsage {
			t.Errorf("trustctl %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, errOut)
		}
	}
	code, out, errOut := runCLI("", "--addr", "http://"+closedAddr(t), "--token", "x", "bench", "--duration", "1s")
	if code != exitError || out != "" || !strings.Contains(errOut, "cannot reach trustd") {
		t.Errorf("bench against a closed port: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestLatencyHistogram checks the bucket arithmetic and that quantiles are
// within the histogram's 1% resolution.
func TestLatencyHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := rng.Uint64N(1 << 62)
		if rng.IntN(2) == 0 {
			v = rng.Uint64N(1 << 20)
		}
		i := histIndex(v)
		if i < 0 || i >= histBuckets || histUpper(i) < v || (i > 0 && histUpper(i-1) >= v) {
			t.Fatalf("value %d: bucket %d holds (%d, %d]", v, i, histUpper(max(i-1, 0)), histUpper(i))
		}
	}

	var h latencyHistogram
	if h.quantile(0.5) != 0 {
		t.Fatal("an empty histogram has a median")
	}
	for us := 1; us <= 10000; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	var other latencyHistogram
	other.record(50 * time.Millisecond)
	h.merge(&other)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.9, 9000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got-c.want) > 0.01*float64(c.want) {
			t.Errorf("quantile %.2f: %s, want %s within 1%%", c.q, got, c.want)
		}
	}
	if h.quantile(1) != 50*time.Millisecond || h.max != 50*time.Millisecond || h.total != 10001 {
		t.Errorf("max %s, quantile(1) %s, total %d", h.max, h.quantile(1), h.total)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
