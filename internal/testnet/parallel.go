package testnet

import (
	"flag"
	"runtime"
	"strconv"
)

// waitingParallel is how many parallel tests a package of cluster tests
// runs at once unless -test.parallel says otherwise. Its tests spend their
// time waiting — for elections, lease expiries, processes, fault windows —
// not computing, so the default (GOMAXPROCS, 2 on a small CI machine)
// leaves the machine idle behind a few long waits.
const waitingParallel = 6

// RaiseParallel raises -test.parallel to waitingParallel when the command
// line did not set it; call it from TestMain before m.Run.
func RaiseParallel() {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if p := flag.Lookup("test.parallel"); p != nil && !set && runtime.GOMAXPROCS(0) < waitingParallel {
		_ = p.Value.Set(strconv.Itoa(waitingParallel))
	}
}
