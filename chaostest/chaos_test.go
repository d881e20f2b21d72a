package chaostest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnet"
)

var binFlag = flag.String("chaos.bin", "", "directory with prebuilt trustd and trustctl (default: build them once for the package's tests)")

// built is the directory of the binaries the tests built, removed by
// TestMain.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	testnet.RaiseParallel()
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binaries returns the directory of trustd and trustctl: -chaos.bin, or
// built once from the module.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds trustd and runs a cluster of trustd processes")
	}
	if *binFlag != "" {
		return *binFlag
	}
	built.once.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "trustledger-chaos-bin-"); built.err != nil {
			return
		}
		built.err = BuildBinaries(context.Background(), root, built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// report fails t with the failed checks of s, naming the directory kept
// with the history and the command that replays the seed.
func report(t *testing.T, s *Summary) {
	t.Helper()
	t.Logf("seed %d: %d faults %v, max failover %s, write availability %.2f%%, %d unknowns, liveness %v, elapsed %s",
		s.Seed, total(s.Faults), s.Faults, s.MaxFailover, s.WriteAvailability, s.Unknowns, s.Liveness, s.Elapsed)
	for _, c := range s.Failed() {
		t.Errorf("check failed: %s: %s", c.Name, c.Detail)
	}
	if s.Verdict != "pass" {
		t.Errorf("seed %d failed; the seed, the history (history.json) and the nodes' logs are in %s; replay with: %s",
			s.Seed, s.Dir, s.Replay)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// The short chaos run of CI: two seeds of 20 s of faults each on three
// voters with six clients. Seed 1 brings a leader pause, a whole-cluster
// restart (kill-all) and a backup; seed 13 a pause, a leader kill, one-way
// loss and a leadership transfer (the faults of their schedules that fit
// in 20 s with the recoveries). Each must pass every check: linearizable
// and default reads linearizable, every acknowledged signal exactly once
// on every node, equal digests after the heal, every node serving within
// 20 s of it, no node exiting on its own. The seeds run side by side, each
// on a cluster of its own.
func TestChaosShort(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	for _, run := range []struct {
		seed    uint64
		require []string
	}{
		{seed: 1, require: []string{KillAll}},
		{seed: 13, require: []string{KillLeader, OneWay}},
	} {
		t.Run(fmt.Sprintf("seed=%d", run.seed), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s, err := Run(ctx, Options{Seed: run.seed, Duration: 20 * time.Second, Require: run.require, Bin: bin, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			report(t, s)
		})
	}
}

// The checker catches a stale read: with the
// clients' reads forced to stale and a follower cut off from the others,
// the isolation probe writes a fresh value through the leader and reads
// it back from the isolated follower, which still answers from its own
// state — and Porcupine must report the history as not linearizable.
// Every other check must still pass.
func TestCheckerCatchesStaleReads(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Run(ctx, Options{Seed: 3, Duration: 8 * time.Second, Faults: []string{IsolateFollower},
		Reads: []string{client.ConsistencyStale}, Bin: bin, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir != "" {
		defer func() { _ = os.RemoveAll(s.Dir) }()
	}
	var failed []string
	for _, c := range s.Failed() {
		failed = append(failed, c.Name)
		t.Logf("failed as it should: %s: %s", c.Name, c.Detail)
	}
	want := "linearizable: writes and stale reads"
	if len(failed) != 1 || failed[0] != want {
		t.Fatalf("failed checks %q, want only %q (faults %v)", failed, want, s.Faults)
	}
	probe := s.Operations["probe"]
	if probe.OK < 2 {
		t.Fatalf("the isolation probe ran %+v; want its write and its stale read", probe)
	}
	if !strings.Contains(s.Verdict, "fail") {
		t.Fatalf("verdict %q", s.Verdict)
	}
}

// The checker catches a double apply: trustd built with the brokendedup
// tag (fsm/dedup_broken.go; no product binary has it) forgets every event
// id, so the workload's resends of acknowledged batches are applied again.
// The exactly-once checks must fail, and only they.
func TestCheckerCatchesDoubleApply(t *testing.T) {
	t.Parallel()
	binaries(t) // skips with -short, like the other cluster runs
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := BuildBinaries(ctx, root, bin, "brokendedup"); err != nil {
		t.Fatal(err)
	}
	s, err := Run(ctx, Options{Seed: 5, Duration: 8 * time.Second, Faults: []string{Backup}, Bin: bin, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir != "" {
		defer func() { _ = os.RemoveAll(s.Dir) }()
	}
	failed := map[string]bool{}
	for _, c := range s.Failed() {
		failed[c.Name] = true
		t.Logf("failed as it should: %s: %s", c.Name, c.Detail)
	}
	for _, want := range []string{"resent acknowledged batches answer duplicate", "no event id applied twice"} {
		if !failed[want] {
			t.Errorf("check %q passed on nodes that apply event ids twice", want)
		}
		delete(failed, want)
	}
	for name := range failed {
		t.Errorf("check %q failed too; only the exactly-once checks should", name)
	}
}
