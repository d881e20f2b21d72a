package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip states of a member, as GET /v1/cluster shows them.
const (
	GossipAlive   = "alive"
	GossipSuspect = "suspect"
	GossipDead    = "dead"
	GossipLeft    = "left"
	// GossipUnknown: gossip is off, or this node has not heard of the
	// member through it.
	GossipUnknown = "unknown"
)

// leaveTimeout bounds the graceful leave broadcast at Close.
const leaveTimeout = time.Second

// gossip is the node's memberlist membership. It advertises this node's
// Peer as node meta, tracks every member's state (memberlist forgets dead
// members after a while; this keeps them, with the time they died, so the
// reconciler can apply the dead-server grace period). Gossip never
// grants Raft membership.
type gossip struct {
	log  *slog.Logger
	self string
	meta []byte
	ml   *memberlist.Memberlist
	ring *memberlist.Keyring // nil: unencrypted
	kick func()              // wakes the reconciler; must not block

	mu   sync.Mutex
	byID map[string]*gossipMember
}

// gossipMember is what gossip says about one node.
type gossipMember struct {
	peer  Peer
	valid bool // the meta decoded
	state string
	since time.Time
}

func startGossip(cfg Config, self Peer, keys [][]byte, kick func(), logger *slog.Logger) (*gossip, error) {
	meta, err := encodeMeta(self)
	if err != nil {
		return nil, err
	}
	g := &gossip{log: logger, self: cfg.NodeID, meta: meta, kick: kick,
		byID: map[string]*gossipMember{}}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.NodeID
	host, port, err := splitPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", cfg.GossipAddr, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.GossipAdvertise != "" {
		ahost, aport, err := splitPort(cfg.GossipAdvertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise address %q: %w", cfg.GossipAdvertise, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ahost, aport
	}
	if len(keys) > 0 {
		ring, err := memberlist.NewKeyring(keys[1:], keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
		mc.Keyring, g.ring = ring, ring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Delegate = g
	mc.Events = g
	mc.Logger = log.New(&memberlistLog{log: logger}, "", 0)
	if cfg.TuneGossip != nil {
		cfg.TuneGossip(mc)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.GossipAddr, err)
	}
	g.ml = ml
	return g, nil
}

func splitPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// useKeys replaces the keyring with keys, the first the primary: new
// keys are added, the primary is switched, and the others are dropped.
func (g *gossip) useKeys(keys [][]byte) error {
	if g.ring == nil {
		return errors.New("gossip runs unencrypted: its keys cannot change")
	}
	for _, k := range keys {
		if err := g.ring.AddKey(k); err != nil {
			return fmt.Errorf("gossip keyring: %w", err)
		}
	}
	if err := g.ring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip keyring: %w", err)
	}
	for _, old := range g.ring.GetKeys() {
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, old) }) {
			if err := g.ring.RemoveKey(old); err != nil {
				return fmt.Errorf("gossip keyring: %w", err)
			}
		}
	}
	return nil
}

// addr returns the gossip address other nodes reach this one at.
func (g *gossip) addr() string {
	n := g.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// join contacts the given gossip addresses; it succeeds when one answers.
func (g *gossip) join(addrs []string) (int, error) {
	return g.ml.Join(addrs)
}

// close leaves the pool (so peers see "left" at once rather than "dead"
// after failure detection) and stops memberlist.
func (g *gossip) close() error {
	if err := g.ml.Leave(leaveTimeout); err != nil {
		g.log.Debug("gossip leave", "error", err)
	}
	return g.ml.Shutdown()
}

// members returns what gossip knows of every node, this one included,
// keyed by node id.
func (g *gossip) members() map[string]gossipMember {
	live := map[string]memberlist.NodeStateType{}
	for _, m := range g.ml.Members() {
		live[m.Name] = m.State
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]gossipMember, len(g.byID))
	for id, m := range g.byID {
		c := *m
		if st, ok := live[id]; ok && st == memberlist.StateSuspect && c.state == GossipAlive {
			c.state = GossipSuspect
		}
		out[id] = c
	}
	return out
}

// member returns what gossip knows of one node.
func (g *gossip) member(id string) (gossipMember, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.byID[id]
	if !ok {
		return gossipMember{}, false
	}
	return *m, true
}

// state returns the member's gossip state (suspect included).
func (g *gossip) state(id string) string {
	m, ok := g.member(id)
	if !ok {
		return GossipUnknown
	}
	if m.state == GossipAlive {
		for _, n := range g.ml.Members() {
			if n.Name == id && n.State == memberlist.StateSuspect {
				return GossipSuspect
			}
		}
	}
	return m.state
}

// update records a memberlist event about node n.
func (g *gossip) update(n *memberlist.Node, state string) {
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	p, ok := decodeMeta(n.Name, addr, n.Meta)
	g.mu.Lock()
	m := g.byID[n.Name]
	if m == nil {
		m = &gossipMember{}
		g.byID[n.Name] = m
	}
	if ok {
		m.peer, m.valid = p, true
	} else if !m.valid {
		m.peer = Peer{ID: n.Name, GossipAddr: addr}
	}
	if m.state != state {
		m.state, m.since = state, time.Now()
	}
	g.mu.Unlock()
	if n.Name != g.self {
		g.log.Debug("gossip member update", "member", n.Name, "state", state, "addr", addr)
	}
	g.kick()
}

// NotifyJoin implements memberlist.EventDelegate.
func (g *gossip) NotifyJoin(n *memberlist.Node) { g.update(n, GossipAlive) }

// NotifyUpdate implements memberlist.EventDelegate.
func (g *gossip) NotifyUpdate(n *memberlist.Node) { g.update(n, GossipAlive) }

// NotifyLeave implements memberlist.EventDelegate: the node failed or
// left.
func (g *gossip) NotifyLeave(n *memberlist.Node) {
	state := GossipDead
	if n.State == memberlist.StateLeft {
		state = GossipLeft
	}
	g.log.Info("gossip member gone", "member", n.Name, "state", state)
	g.update(n, state)
}

// NodeMeta implements memberlist.Delegate.
func (g *gossip) NodeMeta(limit int) []byte {
	if len(g.meta) > limit {
		return nil
	}
	return g.meta
}

// NotifyMsg implements memberlist.Delegate; trustledger sends no user
// messages over gossip.
func (g *gossip) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate: no state beyond membership.
func (g *gossip) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (g *gossip) MergeRemoteState(b []byte, join bool) {}

// memberlistLog turns memberlist's "[LEVEL] memberlist: message" lines into
// slog records.
type memberlistLog struct{ log *slog.Logger }

func (w *memberlistLog) Write(p []byte) (int, error) {
	s := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s, level = strings.TrimSpace(rest), l
			break
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	w.log.Log(context.Background(), level, s, "component", "memberlist")
	return len(p), nil
}
