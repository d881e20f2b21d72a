package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// kickReconcile asks the reconciler to run soon. It never blocks.
func (n *Node) kickReconcile() {
	select {
	case n.reconcileKick <- struct{}{}:
	default:
	}
}

// reconcileLoop runs reconcile every ReconcileInterval and whenever gossip
// reports a change, until the node closes. Only the leader reconciles;
// every node remembers the members' addresses (rememberPeers).
func (n *Node) reconcileLoop() {
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	var remembered []byte
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		case <-n.reconcileKick:
		}
		// Every node remembers the members' addresses as soon as gossip
		// tells it of them, for its next start.
		n.rememberPeers(&remembered)
		if n.gossipNow() != nil && n.IsLeader() {
			n.reconcile()
		}
	}
}

// reconnectLoop tries, every GossipReconnectInterval, to reach the members
// gossip reports dead or gone, as serf does, and the servers of the Raft
// configuration gossip does not know alive (rejoin.go): memberlist itself
// never contacts them again, so a node that restarted (with a pool of its
// own) would otherwise stay apart. Answering, it refutes its death and the
// pools merge.
func (n *Node) reconnectLoop() {
	t := time.NewTicker(n.cfg.GossipReconnectInterval)
	defer t.Stop()
	n.rejoinAtStart()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		}
		n.rejoinGossip()
		for id, m := range n.gossipNow().members() {
			if id == n.cfg.NodeID || (m.state != GossipDead && m.state != GossipLeft) || m.peer.GossipAddr == "" ||
				time.Since(m.since) > gossipReconnectFor || n.isClosed() {
				continue
			}
			if _, err := n.gossipNow().join([]string{m.peer.GossipAddr}); err == nil {
				n.log.Info("reconnected to a gossip member", "member", id, "gossip_addr", m.peer.GossipAddr)
			}
		}
	}
}

// reconcile applies the dead-server grace period (DeadServerGrace): a
// server gossip has reported dead or gone for longer than the grace period
// is removed, unless the voters left up could not then form a quorum.
// Gossip only detects failures; it never adds a server: a node enters the
// Raft configuration only through an authenticated join (Join). A node
// that gossips without being a member is logged for an operator.
func (n *Node) reconcile() {
	n.membershipMu.Lock()
	defer n.membershipMu.Unlock()
	conf, err := n.configuration()
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			n.log.Warn("reconcile: read raft configuration", "error", err)
		}
		return
	}
	inConf := map[string]bool{}
	for _, s := range conf.Servers {
		inConf[string(s.ID)] = true
	}
	members := n.gossipNow().members()
	for id, m := range members {
		if !inConf[id] && m.state == GossipAlive && id != n.cfg.NodeID {
			n.log.Debug("reconcile: a node gossips that is not a member; it becomes one only by an authenticated join",
				"member", id, "gossip_addr", m.peer.GossipAddr)
		}
	}
	if n.cfg.DeadServerGrace <= 0 {
		return
	}
	for _, s := range conf.Servers {
		id := string(s.ID)
		m, ok := members[id]
		if id == n.cfg.NodeID || !ok || (m.state != GossipDead && m.state != GossipLeft) ||
			time.Since(m.since) < n.cfg.DeadServerGrace {
			continue
		}
		if s.Suffrage == raft.Voter {
			if err := n.checkQuorum(conf, id); err != nil {
				n.log.Warn("reconcile: keeping a dead server", "member", id, "since", m.since, "reason", err)
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), membershipTimeout)
		f := n.raft.RemoveServer(s.ID, 0, timeoutOf(ctx))
		err := n.waitFuture(ctx, f)
		cancel()
		if err != nil {
			n.log.Warn("reconcile: remove a dead server", "member", id, "error", err)
			return
		}
		n.log.Info("reconcile: removed a server dead for longer than the grace period", "member", id,
			"state", m.state, "since", m.since, "grace", n.cfg.DeadServerGrace, "index", f.Index())
		// One removal per pass: the next pass sees the new configuration.
		return
	}
}
