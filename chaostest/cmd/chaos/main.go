// Command chaos runs the trustledger chaos suite once: real trustd
// processes on loopback, Raft through a fault proxy, six clients, and the
// fault schedule of a seed; then it checks the history and the nodes and
// prints a JSON summary on standard output (progress goes to standard
// error). It exits 0 when every check passed, 1 when one failed (the run's
// directory, with the history, is kept and named in the summary), 2 when
// the run could not be made.
//
//	go run ./chaostest/cmd/chaos -duration 10m -seed 7
//
// scripts/chaos wraps it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/trustledger/trustledger/chaostest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()%1_000_000), "seed of the fault schedule and the workload (default: from the clock)")
	duration := fs.Duration("duration", 10*time.Minute, "length of the fault phase")
	voters := fs.Int("voters", 3, "number of trustd voters (3 or 5)")
	clients := fs.Int("clients", 6, "number of concurrent clients")
	faults := fs.String("faults", "", "comma-separated fault kinds to draw from (default all: "+strings.Join(chaostest.AllFaults, ",")+")")
	require := fs.String("require", chaostest.KillAll, "comma-separated fault kinds the schedule must contain")
	reads := fs.String("reads", "linearizable,default", "comma-separated read consistency levels of the clients (stale shows the checker catching stale reads)")
	bin := fs.String("bin", "", "directory with prebuilt trustd and trustctl (default: build them)")
	dir := fs.String("dir", "", "where the run's directory is made (default the system's temporary directory)")
	quiet := fs.Bool("quiet", false, "no progress on standard error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *voters < 1 {
		fmt.Fprintln(stderr, "chaos: -voters must be at least 1")
		return 2
	}
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	known := map[string]bool{}
	for _, k := range chaostest.AllFaults {
		known[k] = true
	}
	for _, k := range append(split(*faults), split(*require)...) {
		if !known[k] {
			fmt.Fprintf(stderr, "chaos: unknown fault kind %q (known: %s)\n", k, strings.Join(chaostest.AllFaults, ", "))
			return 2
		}
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s chaos: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
	}
	if *quiet {
		logf = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := chaostest.Run(ctx, chaostest.Options{Seed: *seed, Duration: *duration, Voters: *voters, Clients: *clients,
		Faults: split(*faults), Require: split(*require), Reads: split(*reads), Bin: *bin, Dir: *dir, Logf: logf})
	if err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 2
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "chaos: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, string(b))
	if s.Verdict != "pass" {
		fmt.Fprintf(stderr, "chaos: FAIL (seed %d): the history and the nodes' logs are in %s; replay: %s\n", s.Seed, s.Dir, s.Replay)
		return 1
	}
	return 0
}
