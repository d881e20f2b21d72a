// Package testnet gives tests and test harnesses loopback addresses, with
// the standard library only, so that every package's tests can use it.
package testnet

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// handedOut remembers the addresses FreeAddr gave, so that no two get the
// same port.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddr returns a loopback address, never the same twice in a test
// binary, for a node that must come back on the same addresses after a
// restart. Its port is below the kernel's ephemeral range and was free
// for TCP and UDP when picked: a port of the ephemeral range can be taken
// by any process's outgoing connection between the pick and the node's
// bind (or while the node is down), which made starts fail with "address
// already in use" when test binaries run side by side.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := 10000, EphemeralLow()
	if hi-lo < 1000 {
		lo = 1024
	}
	for tries := 0; tries < 10000; tries++ {
		p := lo + rand.IntN(hi-lo) // #nosec G404 -- picking a port, not a secret
		addr := "127.0.0.1:" + strconv.Itoa(p)
		handedOut.Lock()
		taken := handedOut.addrs[addr]
		handedOut.Unlock()
		if taken || !Free(addr) {
			continue
		}
		handedOut.Lock()
		handedOut.addrs[addr] = true
		handedOut.Unlock()
		return addr
	}
	t.Fatalf("no free loopback port between %d and %d", lo, hi)
	return ""
}

// Free says whether addr can be listened on, for TCP and for UDP.
func Free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	_ = l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	_ = u.Close()
	return true
}

// EphemeralLow is the first port of the kernel's ephemeral range (32768 if
// it cannot be read): ports below it are not handed to outgoing
// connections.
func EphemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 1024 {
				return v
			}
		}
	}
	return 32768
}
