package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Errors of membership operations; they are wrapped with the details, so
// test them with errors.Is.
var (
	// ErrInvalidPeer: a join request that does not describe a node.
	ErrInvalidPeer = errors.New("invalid node description")
	// ErrMemberConflict: the node id or address is taken by another
	// member, or a member's address differs from the one asked for.
	ErrMemberConflict = errors.New("membership conflict")
	// ErrQuorum: the change would leave the cluster unable to reach a
	// quorum with the servers that are up.
	ErrQuorum = errors.New("the change would lose quorum")
	// ErrUnknownMember: no such server in the Raft configuration.
	ErrUnknownMember = errors.New("no such member")
)

// Join actions.
const (
	JoinAdded    = "added"    // the node was not a member and now is
	JoinPromoted = "promoted" // a non-voter became a voter
	JoinDemoted  = "demoted"  // a voter became a non-voter
	JoinNone     = "none"     // already a member as asked: nothing changed
)

// JoinResult says what a join did.
type JoinResult struct {
	// Action is one of the Join* constants.
	Action string
	// Index is the Raft index of the configuration change (0 for none).
	Index uint64
}

// membershipTimeout bounds a Raft configuration change when the caller's
// context has no deadline.
const membershipTimeout = 30 * time.Second

// Join adds a node to the cluster (docs/operations.md, "Joining"): a voter
// with AddVoter, a read replica with AddNonvoter. It runs on the leader;
// elsewhere it returns *NotLeaderError or ErrNoLeader so the caller can
// forward. Joining is idempotent: a member that asks again with the same
// id and addresses changes nothing (a change of voter flag promotes or
// demotes it). A node id that is a member at another Raft address, or a
// Raft address that belongs to another member, is refused with
// ErrMemberConflict: remove the old member first. A node an operator
// removed may join again.
func (n *Node) Join(ctx context.Context, p Peer) (JoinResult, error) {
	if err := p.Validate(); err != nil {
		return JoinResult{}, fmt.Errorf("%w: %w", ErrInvalidPeer, err)
	}
	if p.APIAddr == "" {
		return JoinResult{}, fmt.Errorf("%w: apiAddr is required", ErrInvalidPeer)
	}
	if n.isClosed() {
		return JoinResult{}, ErrClosed
	}
	if !n.IsLeader() {
		return JoinResult{}, n.notLeader()
	}
	n.membershipMu.Lock()
	defer n.membershipMu.Unlock()
	conf, err := n.configuration()
	if err != nil {
		return JoinResult{}, err
	}
	if g, ok := n.gossipMember(p.ID); ok && g.valid && g.state == GossipAlive && g.peer.APIAddr != p.APIAddr {
		return JoinResult{}, fmt.Errorf("%w: node %s is alive with API address %s, not %s; stop it or use another node id",
			ErrMemberConflict, p.ID, g.peer.APIAddr, p.APIAddr)
	}
	var cur *raft.Server
	for i, s := range conf.Servers {
		switch {
		case string(s.ID) == p.ID:
			cur = &conf.Servers[i]
		case string(s.Address) == p.RaftAddr:
			return JoinResult{}, fmt.Errorf("%w: raft address %s belongs to member %s; remove it first or use another address",
				ErrMemberConflict, p.RaftAddr, s.ID)
		}
	}
	if cur != nil && string(cur.Address) != p.RaftAddr {
		return JoinResult{}, fmt.Errorf("%w: node %s is a member at raft address %s, not %s; remove it first (trustctl cluster remove %s) or use another node id",
			ErrMemberConflict, p.ID, cur.Address, p.RaftAddr, p.ID)
	}

	ctx, cancel := membershipContext(ctx)
	defer cancel()
	res := JoinResult{Action: JoinNone}
	var f raft.IndexFuture
	switch {
	case cur == nil && p.Voter:
		res.Action, f = JoinAdded, n.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, timeoutOf(ctx))
	case cur == nil:
		res.Action, f = JoinAdded, n.raft.AddNonvoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, timeoutOf(ctx))
	case p.Voter && cur.Suffrage != raft.Voter:
		res.Action, f = JoinPromoted, n.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr), 0, timeoutOf(ctx))
	case !p.Voter && cur.Suffrage == raft.Voter:
		if p.ID == n.cfg.NodeID {
			return JoinResult{}, fmt.Errorf("%w: the leader cannot demote itself; transfer leadership first", ErrMemberConflict)
		}
		if err := n.checkQuorum(conf, p.ID); err != nil {
			return JoinResult{}, err
		}
		res.Action, f = JoinDemoted, n.raft.DemoteVoter(raft.ServerID(p.ID), 0, timeoutOf(ctx))
	}
	if f != nil {
		if err := n.waitFuture(ctx, f); err != nil {
			return JoinResult{}, n.membershipError("join "+p.ID, err)
		}
		res.Index = f.Index()
		n.log.Info("cluster membership changed", "action", res.Action, "member", p.ID, "raft_addr", p.RaftAddr,
			"voter", p.Voter, "region", p.Region, "index", res.Index)
	}
	n.notePeer(p)
	if n.gossipNow() != nil && p.GossipAddr != "" && p.ID != n.cfg.NodeID {
		n.joinGossipAsync(p.GossipAddr)
	}
	return res, nil
}

// RemoveServer removes a node from the Raft configuration (an operator's
// decision: docs/operations.md, "Failures, removal and the dead-server
// grace"). It runs on the leader. Removing a voter is refused
// with ErrQuorum when the voters that remain and are up could not form a
// quorum. Gossip never adds the node back; it may join again explicitly.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if n.isClosed() {
		return ErrClosed
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	n.membershipMu.Lock()
	defer n.membershipMu.Unlock()
	conf, err := n.configuration()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(conf.Servers, func(s raft.Server) bool { return string(s.ID) == id })
	if i < 0 {
		return fmt.Errorf("%w: %s is not in the Raft configuration", ErrUnknownMember, id)
	}
	if conf.Servers[i].Suffrage == raft.Voter {
		if err := n.checkQuorum(conf, id); err != nil {
			return err
		}
	}
	ctx, cancel := membershipContext(ctx)
	defer cancel()
	f := n.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx))
	if err := n.waitFuture(ctx, f); err != nil {
		return n.membershipError("remove "+id, err)
	}
	n.log.Info("removed a server from the cluster", "member", id, "index", f.Index())
	return nil
}

// TransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is empty, and returns the id of the new leader
// once it is known. It runs on the leader.
func (n *Node) TransferLeadership(ctx context.Context, id string) (string, error) {
	if n.isClosed() {
		return "", ErrClosed
	}
	if !n.IsLeader() {
		return "", n.notLeader()
	}
	conf, err := n.configuration()
	if err != nil {
		return "", err
	}
	ctx, cancel := membershipContext(ctx)
	defer cancel()
	// A follower asked to take over votes at once, though it knows this
	// leader: no read lease may run across a transfer (lease.go).
	n.lease.transfer.Add(1)
	n.lease.end()
	defer n.lease.transfer.Add(-1)
	var f raft.Future
	if id == "" || id == n.cfg.NodeID {
		if id == n.cfg.NodeID {
			return id, nil // already the leader
		}
		others := 0
		for _, s := range conf.Servers {
			if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
				others++
			}
		}
		if others == 0 {
			return "", fmt.Errorf("%w: there is no other voter to transfer leadership to", ErrMemberConflict)
		}
		f = n.raft.LeadershipTransfer()
	} else {
		i := slices.IndexFunc(conf.Servers, func(s raft.Server) bool { return string(s.ID) == id })
		if i < 0 {
			return "", fmt.Errorf("%w: %s is not in the Raft configuration", ErrUnknownMember, id)
		}
		if conf.Servers[i].Suffrage != raft.Voter {
			return "", fmt.Errorf("%w: %s is not a voter and cannot lead", ErrMemberConflict, id)
		}
		f = n.raft.LeadershipTransferToServer(conf.Servers[i].ID, conf.Servers[i].Address)
	}
	if err := n.waitFuture(ctx, f); err != nil {
		return "", n.membershipError("transfer leadership", err)
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		if leader, _ := n.Leader(); leader != "" && leader != n.cfg.NodeID {
			n.log.Info("leadership transferred", "to", leader)
			return leader, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", fmt.Errorf("transfer leadership: no new leader yet: %w", ctx.Err())
		case <-n.closed:
			return "", ErrClosed
		}
	}
}

// membershipError maps Raft's errors on configuration changes.
func (n *Node) membershipError(what string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%s: %w", what, n.notLeader())
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%s: %w (leadership transfer in progress)", what, ErrNoLeader)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%s: %w", what, ErrClosed)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// configuration returns the latest Raft configuration this node knows.
func (n *Node) configuration() (raft.Configuration, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			return raft.Configuration{}, ErrClosed
		}
		return raft.Configuration{}, fmt.Errorf("read raft configuration: %w", err)
	}
	return f.Configuration(), nil
}

// checkQuorum refuses to take voter id out of the configuration when the
// voters that would remain, counting only those that are up, could not
// form a quorum of the new configuration.
func (n *Node) checkQuorum(conf raft.Configuration, id string) error {
	remaining, up := 0, 0
	for _, s := range conf.Servers {
		if s.Suffrage != raft.Voter || string(s.ID) == id {
			continue
		}
		remaining++
		if n.isUp(string(s.ID)) {
			up++
		}
	}
	if remaining == 0 {
		return fmt.Errorf("%w: %s is the last voter", ErrQuorum, id)
	}
	if need := remaining/2 + 1; up < need {
		return fmt.Errorf("%w: without %s, %d voter(s) would remain of which %d are up; a quorum needs %d",
			ErrQuorum, id, remaining, up, need)
	}
	return nil
}

// isUp reports whether a server is taken as running for quorum checks:
// this node always; others when gossip says alive. Without gossip nothing
// is known, and servers are assumed up.
func (n *Node) isUp(id string) bool {
	if id == n.cfg.NodeID || n.gossipNow() == nil {
		return true
	}
	return n.gossipNow().state(id) == GossipAlive
}

// membershipContext gives ctx a deadline when it has none.
func membershipContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, membershipTimeout)
}

// timeoutOf is the time left before ctx's deadline (Raft's enqueue
// timeout).
func timeoutOf(ctx context.Context) time.Duration {
	dl, _ := ctx.Deadline()
	return max(time.Until(dl), time.Millisecond)
}
