package cluster

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Suffrage of a member in the Raft configuration; SuffrageNone marks a
// node gossip knows that is not in the configuration.
const (
	SuffrageVoter    = "voter"
	SuffrageNonvoter = "nonvoter"
	SuffrageStaging  = "staging"
	SuffrageNone     = "none"
)

// Member is one node as this node sees the cluster: its place in the Raft
// configuration and what gossip says about it.
type Member struct {
	ID     string
	Region string
	// Role is the node's role: "voter" or "nonvoter" (a read replica). It
	// is the Raft suffrage for members of the configuration, else the
	// role the node advertises.
	Role string
	// Suffrage is the Raft suffrage: voter, nonvoter, staging, or none
	// when the node is not in the configuration.
	Suffrage                      string
	RaftAddr, APIAddr, GossipAddr string
	// Gossip is alive, suspect, dead, left or unknown; GossipSince is when
	// it last changed (zero when unknown).
	Gossip      string
	GossipSince time.Time
	// Leader marks the member this node knows as the leader; Self this
	// node.
	Leader, Self bool
}

// Membership is the cluster as this node sees it.
type Membership struct {
	// LeaderID is the leader this node knows ("" when none).
	LeaderID string
	// Term is this node's current Raft term.
	Term uint64
	// CommitIndex and LastIndex are this node's Raft commit and last log
	// index; AppliedIndex is what its ledger has applied.
	CommitIndex, LastIndex, AppliedIndex uint64
	// Voters is the number of voters in the configuration, Quorum the
	// number that must agree, and FailureTolerance how many more voters
	// may fail with the cluster still available (voters up − quorum).
	Voters, Quorum, FailureTolerance int
	// Members is every node of the configuration, and every node gossip
	// knows outside it, by id.
	Members []Member
}

// Members returns the cluster as this node sees it. Any node answers; the
// Raft configuration is the latest this node has.
func (n *Node) Members() (Membership, error) {
	conf, err := n.configuration()
	if err != nil {
		return Membership{}, err
	}
	leaderID, _ := n.Leader()
	out := Membership{LeaderID: leaderID, Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(),
		LastIndex: n.raft.LastIndex(), AppliedIndex: n.AppliedIndex()}
	var gossiped map[string]gossipMember
	if n.gossipNow() != nil {
		gossiped = n.gossipNow().members()
	}
	seen := map[string]bool{}
	up := 0
	for _, s := range conf.Servers {
		id := string(s.ID)
		seen[id] = true
		m := n.describe(id, gossiped)
		m.RaftAddr = string(s.Address)
		m.Suffrage = suffrage(s.Suffrage)
		m.Role = SuffrageNonvoter
		if s.Suffrage == raft.Voter {
			m.Role = SuffrageVoter
			out.Voters++
			if m.Self || m.Gossip == GossipAlive || (n.gossipNow() == nil && m.Gossip == GossipUnknown) {
				up++
			}
		}
		out.Members = append(out.Members, m)
	}
	for id, g := range gossiped {
		if seen[id] || g.state == GossipLeft {
			continue
		}
		m := n.describe(id, gossiped)
		m.Suffrage = SuffrageNone
		out.Members = append(out.Members, m)
	}
	sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].ID < out.Members[j].ID })
	if out.Voters > 0 {
		out.Quorum = out.Voters/2 + 1
		out.FailureTolerance = max(0, up-out.Quorum)
	}
	return out, nil
}

// describe fills what the peer registry and gossip know of id.
func (n *Node) describe(id string, gossiped map[string]gossipMember) Member {
	leaderID, _ := n.Leader()
	m := Member{ID: id, Gossip: GossipUnknown, Leader: id == leaderID, Self: id == n.cfg.NodeID}
	p, _ := n.peer(id)
	if g, ok := gossiped[id]; ok {
		m.Gossip, m.GossipSince = g.state, g.since
	}
	if m.Self {
		p = n.self()
		if n.gossipNow() != nil {
			p.GossipAddr = n.gossipNow().addr()
		}
	}
	m.Region, m.RaftAddr, m.APIAddr, m.GossipAddr = p.Region, p.RaftAddr, p.APIAddr, p.GossipAddr
	m.Role = SuffrageNonvoter
	if p.Voter {
		m.Role = SuffrageVoter
	}
	return m
}

func suffrage(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return SuffrageVoter
	case raft.Nonvoter:
		return SuffrageNonvoter
	case raft.Staging:
		return SuffrageStaging
	}
	return strings.ToLower(s.String())
}

// self describes this node.
func (n *Node) self() Peer {
	return Peer{ID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIAddr, Region: n.cfg.Region, Voter: n.cfg.Voter}
}

// Self describes this node as it would ask to join: id, addresses, region
// and role.
func (n *Node) Self() Peer {
	p := n.self()
	p.GossipAddr = n.GossipAddr()
	return p
}

// APIAddr returns the base URL of this node's HTTP API ("" when not
// configured).
func (n *Node) APIAddr() string { return n.cfg.APIAddr }

// GossipAddr returns the gossip address other nodes reach this node at,
// or "" when gossip is off.
func (n *Node) GossipAddr() string {
	if n.gossipNow() == nil {
		return ""
	}
	return n.gossipNow().addr()
}

// LeaderAPIAddr returns the base URL of the leader's HTTP API, or "" when
// no leader is known or its API address is not (yet) known here.
func (n *Node) LeaderAPIAddr() string {
	id, _ := n.Leader()
	if id == "" {
		return ""
	}
	if id == n.cfg.NodeID {
		return n.cfg.APIAddr
	}
	p, _ := n.peer(id)
	return p.APIAddr
}

// peer returns what is known of node id: gossip's meta when it has it,
// else what a join request or NotePeers said.
func (n *Node) peer(id string) (Peer, bool) {
	if g, ok := n.gossipMember(id); ok && g.valid {
		return g.peer, true
	}
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	p, ok := n.peers[id]
	return p, ok
}

func (n *Node) gossipMember(id string) (gossipMember, bool) {
	if n.gossipNow() == nil {
		return gossipMember{}, false
	}
	return n.gossipNow().member(id)
}

// NotePeers records what is known of other nodes (a joining node learns
// the members from the join answer before gossip has run).
func (n *Node) NotePeers(peers []Peer) {
	for _, p := range peers {
		if p.ID != "" && p.ID != n.cfg.NodeID {
			n.notePeer(p)
		}
	}
}

func (n *Node) notePeer(p Peer) {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	n.peers[p.ID] = p
}

// JoinGossip contacts the gossip pool at the given addresses (host:port);
// it succeeds when at least one answers, and returns how many did.
func (n *Node) JoinGossip(addrs []string) (int, error) {
	if n.gossipNow() == nil {
		return 0, fmt.Errorf("gossip is off on this node")
	}
	return n.gossipNow().join(addrs)
}

// joinGossipAsync asks memberlist to contact addr without holding up the
// caller; failures are logged (the joining node also contacts the pool).
func (n *Node) joinGossipAsync(addr string) {
	n.goLoop(func() {
		if _, err := n.gossipNow().join([]string{addr}); err != nil {
			n.log.Warn("could not reach a joining node's gossip address", "gossip_addr", addr, "error", err)
		}
	})
}
