package api

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// sniffTimeout bounds how long a new connection may stay silent before
// its first byte says whether it speaks TLS.
const sniffTimeout = 10 * time.Second

// tlsRecordHandshake is the first byte of every TLS connection (a
// handshake record).
const tlsRecordHandshake = 0x16

// NewListener returns the listener the API serves on: connections that
// open with a TLS handshake are served over TLS with tlsConf, the others
// as plain HTTP when allowPlain is set, or answered "use https" and closed
// when not. One port thus serves plain HTTP to local clients on loopback
// and TLS to other nodes (node-to-node HTTP is always TLS). A nil tlsConf
// serves plain HTTP only. Closing it closes inner.
func NewListener(inner net.Listener, tlsConf *tls.Config, allowPlain bool) net.Listener {
	if tlsConf == nil {
		return inner
	}
	l := &sniffListener{inner: inner, conf: tlsConf, plain: allowPlain, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// sniffListener tells TLS from plain connections by their first byte.
type sniffListener struct {
	inner net.Listener
	conf  *tls.Config
	plain bool
	conns chan net.Conn
	done  chan struct{}

	once sync.Once
	mu   sync.Mutex
	err  error // the inner listener's error, once it failed
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.close()
			return
		}
		go l.sniff(c)
	}
}

// sniff reads the connection's first byte (bounded by sniffTimeout) and
// hands the connection on as TLS or plain.
func (l *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(c, 1024)
	first, err := br.Peek(1)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	pc := &peekedConn{Conn: c, r: br}
	var out net.Conn = pc
	switch {
	case first[0] == tlsRecordHandshake:
		out = tls.Server(pc, l.conf)
	case !l.plain:
		_ = c.SetWriteDeadline(time.Now().Add(sniffTimeout))
		_, _ = c.Write([]byte("HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
			"This port serves HTTPS: use an https:// URL (trustctl --ca-fingerprint pins the cluster CA).\n"))
		_ = c.Close()
		return
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next connection, TLS or plain.
func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) close() { l.once.Do(func() { close(l.done) }) }

// Close stops accepting and closes the inner listener.
func (l *sniffListener) Close() error {
	l.close()
	return l.inner.Close()
}

// Addr is the inner listener's address.
func (l *sniffListener) Addr() net.Addr { return l.inner.Addr() }

// peekedConn is a connection whose first bytes were read into r.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
