package api

import (
	"net"
	"sync"
)

// DefaultMaxConns is the cap on open API connections that LimitListener
// applies when given no cap. It is far above what relying services need
// with keep-alive (each holds a few connections), and far below the file
// descriptor limit Go raises itself to at start on Linux, so that a flood
// of connections cannot starve the node's Raft, gossip and data files of
// descriptors.
const DefaultMaxConns = 1024

// LimitListener returns a listener that keeps at most max connections
// accepted from inner open at once (max <= 0 means DefaultMaxConns).
// Every accepted connection counts until it is closed, idle keep-alive
// connections included.
//
// At the cap, a new connection is accepted and closed at once rather than
// left waiting: its client sees the connection closed promptly and may
// retry or use another node, no goroutine or buffer is spent on it, and
// the kernel's accept queue does not fill up behind a blocked Accept. A
// slot frees when a connection closes; the http.Server's
// ReadHeaderTimeout and IdleTimeout close connections that hold one
// without using it.
//
// Wrap the plain TCP listener, under any TLS listener, so that a refused
// connection costs no handshake.
func LimitListener(inner net.Listener, max int) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	return &limitListener{Listener: inner, slots: make(chan struct{}, max)}
}

// limitListener is the listener LimitListener returns.
type limitListener struct {
	net.Listener
	slots chan struct{} // one element per open connection
}

// Accept waits for a connection with a free slot and returns it. It
// returns inner's errors, and so stops when inner is closed.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.Close()
		}
	}
}

// limitConn is an accepted connection holding a slot until it closes.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot (once, however often it
// is called).
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
