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
// reports a change, until the node closes. Only the leader acts.
func (n *Node) reconcileLoop() {
	if n.gossip == nil {
		return // nothing to reconcile from
	}
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		case <-n.reconcileKick:
		}
		if n.IsLeader() {
			n.reconcile()
		}
	}
}

// reconnectLoop tries, every GossipReconnectInterval, to reach the members
// gossip reports dead or gone, as serf does: memberlist itself never
// contacts them again, so a node that restarted (with a pool of its own)
// would otherwise stay apart. Answering, it refutes its death and the
// pools merge.
func (n *Node) reconnectLoop() {
	t := time.NewTicker(n.cfg.GossipReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-n.closed:
			return
		case <-t.C:
		}
		for id, m := range n.gossip.members() {
			if id == n.cfg.NodeID || (m.state != GossipDead && m.state != GossipLeft) || m.peer.GossipAddr == "" ||
				time.Since(m.since) > gossipReconnectFor || n.isClosed() {
				continue
			}
			if _, err := n.gossip.join([]string{m.peer.GossipAddr}); err == nil {
				n.log.Info("reconnected to a gossip member", "member", id, "gossip_addr", m.peer.GossipAddr)
			}
		}
	}
}

// reconcile brings the Raft configuration in line with gossip, as Consul's
// leader does: a node that gossip reports alive, that advertises a Raft
// address and that an operator has not removed is added (as a voter or a
// non-voter, as it advertises) when the configuration lacks it. With
// DeadServerGrace set, a server gossip has reported dead or gone for longer
// than the grace period is removed, unless the voters left up could not
// then form a quorum. Nothing else is changed automatically: conflicting
// addresses are logged for an operator.
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
	byID := map[string]raft.Server{}
	byAddr := map[string]string{}
	for _, s := range conf.Servers {
		byID[string(s.ID)] = s
		byAddr[string(s.Address)] = string(s.ID)
	}
	members := n.gossip.members()
	for id, m := range members {
		if id == n.cfg.NodeID || !m.valid || m.state != GossipAlive || m.peer.RaftAddr == "" {
			continue
		}
		s, in := byID[id]
		switch {
		case in && string(s.Address) != m.peer.RaftAddr:
			n.log.Warn("reconcile: a member gossips another raft address than the configuration has; remove and re-join it to change it",
				"member", id, "configured", s.Address, "gossiped", m.peer.RaftAddr)
		case in:
		case n.gossip.isRemoved(id):
		case byAddr[m.peer.RaftAddr] != "":
			n.log.Warn("reconcile: a member gossips a raft address that belongs to another server",
				"member", id, "raft_addr", m.peer.RaftAddr, "server", byAddr[m.peer.RaftAddr])
		default:
			n.reconcileAdd(m.peer)
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

func (n *Node) reconcileAdd(p Peer) {
	ctx, cancel := context.WithTimeout(context.Background(), membershipTimeout)
	defer cancel()
	var f raft.IndexFuture
	if p.Voter {
		f = n.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, timeoutOf(ctx))
	} else {
		f = n.raft.AddNonvoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, timeoutOf(ctx))
	}
	if err := n.waitFuture(ctx, f); err != nil {
		n.log.Warn("reconcile: add a gossip member", "member", p.ID, "error", err)
		return
	}
	n.log.Info("reconcile: added a gossip member to the raft configuration", "member", p.ID,
		"raft_addr", p.RaftAddr, "voter", p.Voter, "region", p.Region, "index", f.Index())
}
