package chaostest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer echoes every connection back, and reports each chunk it
// received on got.
func echoServer(t *testing.T) (addr string, got <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	ch := make(chan []byte, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						ch <- append([]byte(nil), buf[:n]...)
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// expectRead reads len(want) bytes within timeout.
func expectRead(t *testing.T, c net.Conn, want string, timeout time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %q: %v", want, err)
	}
	if string(buf) != want {
		t.Fatalf("read %q, want %q", buf, want)
	}
}

// expectSilence checks that nothing arrives for a while: a blocked
// direction delivers nothing.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read %q, %v through a blocked link; want a timeout", buf[:n], err)
	}
}

func expectReceived(t *testing.T, got <-chan []byte, want string) {
	t.Helper()
	var all []byte
	deadline := time.After(5 * time.Second)
	for !bytes.Equal(all, []byte(want)) {
		select {
		case b := <-got:
			all = append(all, b...)
		case <-deadline:
			t.Fatalf("the server received %q, want %q", all, want)
		}
	}
}

func expectNothingReceived(t *testing.T, got <-chan []byte) {
	t.Helper()
	select {
	case b := <-got:
		t.Fatalf("the server received %q through a blocked link", b)
	case <-time.After(300 * time.Millisecond):
	}
}

// The proxy learns the dialer of each connection from /proc (here the
// test process, taken for node a), and blocks each direction of a pair on
// its own: requests, replies, both; bytes held while blocked arrive once
// the link heals.
func TestProxyLinks(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("needs Linux's /proc/net/tcp")
	}
	self := os.Getpid()
	network := NewNetwork(ProcIdentifier(func() map[int]string { return map[int]string{self: "a"} }))
	defer network.Close()
	target, got := echoServer(t)
	pb, err := network.Listen("b", target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := network.Listen("a", "127.0.0.1:1"); err != nil { // a's own proxy: a node of the network
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", pb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	write := func(s string) {
		t.Helper()
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	write("ping")
	expectReceived(t, got, "ping")
	expectRead(t, c, "ping", 5*time.Second)
	if acc, unknown := network.Stats(); acc != 1 || unknown != 0 {
		t.Fatalf("%d connections, %d unidentified; want 1, 0", acc, unknown)
	}

	// a's messages to b are lost: the request does not arrive.
	network.Block(Link{"a", "b"})
	write("req")
	expectNothingReceived(t, got)
	expectSilence(t, c)
	network.Heal()
	expectReceived(t, got, "req")
	expectRead(t, c, "req", 5*time.Second)

	// b's messages to a are lost: the request arrives, the reply does
	// not.
	network.Block(Link{"b", "a"})
	write("rep")
	expectReceived(t, got, "rep")
	expectSilence(t, c)
	network.Heal()
	expectRead(t, c, "rep", 5*time.Second)

	// Isolating b blocks both ways.
	network.Isolate("b")
	if n := len(network.Blocked()); n != 2 {
		t.Fatalf("isolating b blocked %v", network.Blocked())
	}
	write("iso")
	expectNothingReceived(t, got)
	network.Heal()
	expectReceived(t, got, "iso")
	expectRead(t, c, "iso", 5*time.Second)
}

// A connection whose dialer is unknown obeys only an isolation of its
// destination.
func TestProxyUnknownDialer(t *testing.T) {
	network := NewNetwork(func(net.Addr, net.Addr) string { return Unknown })
	defer network.Close()
	target, got := echoServer(t)
	pb, err := network.Listen("b", target)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "c"} {
		if _, err := network.Listen(id, "127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", pb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	network.Block(Link{"a", "b"}) // not enforceable without the source: c still reaches b
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectReceived(t, got, "x")
	expectRead(t, c, "x", 5*time.Second)
	network.Isolate("b")
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	expectNothingReceived(t, got)
	network.Heal()
	expectReceived(t, got, "y")
	if _, unknown := network.Stats(); unknown != 1 {
		t.Fatalf("%d unidentified connections, want 1", unknown)
	}
}
