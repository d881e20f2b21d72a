// Package testnet gives tests loopback addresses, with the standard
// library only, so that every package's tests can use it.
package testnet

import (
	"net"
	"sync"
	"testing"
)

// handedOut remembers the addresses FreeAddr gave, so that no two get the
// same port (the OS may hand a port it just freed out again).
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddr returns a loopback address, never the same twice in a test
// binary, whose port the OS just handed out: for a node that must come back
// on the same addresses after a restart.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		handedOut.Lock()
		fresh := !handedOut.addrs[addr]
		handedOut.addrs[addr] = true
		handedOut.Unlock()
		if fresh {
			return addr
		}
	}
}
