package chaostest

import (
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Link is the direction of a byte flow between two nodes: bytes that From
// sends to To, on any connection between them, whoever dialed it. Blocking
// Link{A, B} loses every message A sends to B (requests on connections A
// dialed, replies on connections B dialed) and nothing B sends to A: that is
// one-way message loss. Blocking both directions is a partition of the pair.
type Link struct {
	From, To string
}

// String is "From->To".
func (l Link) String() string { return l.From + "->" + l.To }

// Unknown is the source of a connection whose dialer could not be
// identified. Such a connection is blocked only while its destination is
// cut off from every node (see Network.isBlocked).
const Unknown = "?"

// Identifier names the node that dialed a connection the proxy accepted:
// local is the proxy's end, remote the dialer's. It returns Unknown when it
// cannot tell.
type Identifier func(local, remote net.Addr) string

// Network is the fault proxy between the nodes' Raft transports: one TCP
// listener per destination node (its advertised Raft address) forwarding
// to the node's real Raft listener, and one table of blocked links that
// every forwarded connection obeys. It works at layer 4: TLS passes
// through untouched, and a blocked direction is a black hole, not a
// reset — bytes are neither read nor delivered while it is blocked, and
// are delivered late if it heals before the endpoints give up, as TCP
// would after a partition. The zero value is not usable: use NewNetwork.
type Network struct {
	identify Identifier

	mu      sync.Mutex
	nodes   []string
	blocked map[Link]bool
	changed chan struct{} // closed and replaced on every change of blocked
	proxies map[string]*Proxy
	closed  bool

	accepted     atomic.Int64
	unidentified atomic.Int64
}

// NewNetwork returns a network with every link open. identify names the
// dialer of each accepted connection.
func NewNetwork(identify Identifier) *Network {
	return &Network{identify: identify, blocked: map[Link]bool{}, changed: make(chan struct{}),
		proxies: map[string]*Proxy{}}
}

// Proxy is the listener of one destination node.
type Proxy struct {
	net    *Network
	node   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[*pipe]struct{}
	wg    sync.WaitGroup
}

// Listen opens the proxy of node on a loopback port chosen by the OS; it
// forwards to target, the node's real Raft address. The listener is kept
// for the network's lifetime, so the address stays the node's across
// restarts.
func (n *Network) Listen(node, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", node, err)
	}
	p := &Proxy{net: n, node: node, target: target, ln: ln, conns: map[*pipe]struct{}{}}
	n.mu.Lock()
	n.proxies[node] = p
	n.nodes = append(n.nodes, node)
	n.mu.Unlock()
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's address: what the node advertises for Raft.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Block blocks the given links.
func (n *Network) Block(links ...Link) {
	n.update(func() {
		for _, l := range links {
			n.blocked[l] = true
		}
	})
}

// Heal opens every link.
func (n *Network) Heal() {
	n.update(func() { clear(n.blocked) })
}

// Isolate cuts node off from every other node, both ways.
func (n *Network) Isolate(node string) {
	n.update(func() {
		for _, o := range n.nodes {
			if o != node {
				n.blocked[Link{node, o}] = true
				n.blocked[Link{o, node}] = true
			}
		}
	})
}

// Partition cuts every link between nodes of different groups, both
// ways; nodes in no group are cut off from everyone.
func (n *Network) Partition(groups ...[]string) {
	group := map[string]int{}
	for i, g := range groups {
		for _, id := range g {
			group[id] = i + 1
		}
	}
	n.update(func() {
		for _, a := range n.nodes {
			for _, b := range n.nodes {
				if a != b && (group[a] == 0 || group[a] != group[b]) {
					n.blocked[Link{a, b}] = true
				}
			}
		}
	})
}

// Blocked lists the blocked links, sorted.
func (n *Network) Blocked() []Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Link, 0, len(n.blocked))
	for l := range n.blocked {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Stats reports how many connections the proxies accepted and how many of
// them had a dialer that could not be identified.
func (n *Network) Stats() (accepted, unidentified int64) {
	return n.accepted.Load(), n.unidentified.Load()
}

// Close closes every proxy and every connection through them.
func (n *Network) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	proxies := make([]*Proxy, 0, len(n.proxies))
	for _, p := range n.proxies {
		proxies = append(proxies, p)
	}
	close(n.changed)
	n.mu.Unlock()
	for _, p := range proxies {
		p.close()
	}
}

func (n *Network) update(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	f()
	close(n.changed)
	n.changed = make(chan struct{})
}

// isBlocked reports whether l is blocked, and the channel that is closed at
// the next change. A link from or to an unidentified dialer is blocked
// while the known node at its other end is cut off from every other node
// (an isolation), and open otherwise: without its source the proxy cannot
// honour finer rules.
func (n *Network) isBlocked(l Link) (bool, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false, n.changed
	}
	if l.From != Unknown && l.To != Unknown {
		return n.blocked[l], n.changed
	}
	known, inbound := l.To, true
	if l.To == Unknown {
		known, inbound = l.From, false
	}
	for _, o := range n.nodes {
		if o == known {
			continue
		}
		if (inbound && !n.blocked[Link{o, known}]) || (!inbound && !n.blocked[Link{known, o}]) {
			return false, n.changed
		}
	}
	return len(n.nodes) > 1, n.changed
}

// dialTimeout bounds the proxy's connection to the node's real listener.
const dialTimeout = 2 * time.Second

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.net.accepted.Add(1)
		src := Unknown
		if p.net.identify != nil {
			src = p.net.identify(c.LocalAddr(), c.RemoteAddr())
		}
		if src == Unknown {
			p.net.unidentified.Add(1)
		}
		p.wg.Add(1)
		go p.handle(c, src)
	}
}

// pipe is one forwarded connection.
type pipe struct {
	client, server net.Conn
	done           chan struct{}
	once           sync.Once
}

func (pp *pipe) close() {
	pp.once.Do(func() {
		close(pp.done)
		_ = pp.client.Close()
		_ = pp.server.Close()
	})
}

func (p *Proxy) handle(c net.Conn, src string) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		_ = c.Close() // the node is down: the dialer sees the connection close
		return
	}
	pp := &pipe{client: c, server: s, done: make(chan struct{})}
	if !p.track(pp) {
		pp.close()
		return
	}
	defer p.untrack(pp)
	defer pp.close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(pp, s, c, Link{src, p.node}) }()
	go func() { defer wg.Done(); p.copy(pp, c, s, Link{p.node, src}) }()
	wg.Wait()
}

// copy forwards from → to while link is open; while it is blocked, it
// neither reads nor writes. Any error or end of stream tears the whole
// connection down.
func (p *Proxy) copy(pp *pipe, to io.Writer, from io.Reader, link Link) {
	defer pp.close()
	buf := make([]byte, 32<<10)
	for {
		if !p.waitOpen(pp, link) {
			return
		}
		n, err := from.Read(buf)
		if n > 0 {
			// Bytes read while the link was open are held if it closed
			// meanwhile: delivered late, never dropped.
			if !p.waitOpen(pp, link) {
				return
			}
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitOpen waits until link is open; false when the connection ended
// meanwhile.
func (p *Proxy) waitOpen(pp *pipe, link Link) bool {
	for {
		blocked, changed := p.net.isBlocked(link)
		if !blocked {
			select {
			case <-pp.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-changed:
		case <-pp.done:
			return false
		}
	}
}

func (p *Proxy) track(pp *pipe) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[pp] = struct{}{}
	return true
}

func (p *Proxy) untrack(pp *pipe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, pp)
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for pp := range conns {
		pp.close()
	}
	p.wg.Wait()
}
