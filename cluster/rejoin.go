package cluster

import (
	"cmp"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Recovery from any restart order (docs/operations.md, "Restarting a
// whole cluster"). A node restarted on its data directory is a member
// already: it needs no join, and finds the others by itself. memberlist
// starts with a pool of its own at every start and never contacts anyone
// by itself, so the node remembers the members it knew (peersFile: their
// API and gossip addresses) and, while a server of its Raft configuration
// is not alive in its gossip pool, contacts that server's gossip address.

// peersFile records, in the data directory, the members this node last
// knew: what their gossip meta said.
const peersFile = "peers.json"

// loadPeers reads the members this node last knew into its registry.
func (n *Node) loadPeers() {
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, peersFile)) // #nosec G304 -- a fixed name in the data directory
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var peers []Peer
	if err == nil {
		err = json.Unmarshal(b, &peers)
	}
	if err != nil {
		n.log.Warn("ignoring the remembered members", "file", peersFile, "error", err)
		return
	}
	for _, p := range peers {
		if p.ID != n.cfg.NodeID && p.Validate() == nil {
			n.notePeer(p)
		}
	}
}

// rememberPeers writes the members this node knows of (gossip's view and
// what joins said) to peersFile when they changed since the last write.
func (n *Node) rememberPeers(last *[]byte) {
	known := map[string]Peer{}
	n.peersMu.Lock()
	for id, p := range n.peers {
		known[id] = p
	}
	n.peersMu.Unlock()
	if g := n.gossipNow(); g != nil {
		for id, m := range g.members() {
			if m.valid {
				known[id] = m.peer
			}
		}
	}
	var peers []Peer
	for id, p := range known {
		if id != n.cfg.NodeID && p.GossipAddr != "" {
			peers = append(peers, p)
		}
	}
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	b, err := json.Marshal(peers)
	if err != nil || string(b) == string(*last) {
		return
	}
	tmp := filepath.Join(n.cfg.DataDir, peersFile+".tmp")
	if err := writeFileSync(tmp, b); err == nil {
		if err := os.Rename(tmp, filepath.Join(n.cfg.DataDir, peersFile)); err == nil {
			*last = b
		}
	}
}

// rejoinGossip contacts, for every server of the Raft configuration that
// is not alive in this node's gossip pool, the gossip address it last
// gossiped (or named when it joined). It returns how many it reached.
func (n *Node) rejoinGossip() int {
	g := n.gossipNow()
	if g == nil {
		return 0
	}
	conf, err := n.configuration()
	if err != nil {
		return 0
	}
	reached := 0
	for _, s := range conf.Servers {
		id := string(s.ID)
		if id == n.cfg.NodeID || n.isClosed() {
			continue
		}
		if st := g.state(id); st == GossipAlive || st == GossipSuspect {
			continue
		}
		p, ok := n.peer(id)
		if !ok || p.GossipAddr == "" {
			continue
		}
		if _, err := g.join([]string{p.GossipAddr}); err == nil {
			reached++
			n.log.Info("rejoined a member's gossip", "member", id, "gossip_addr", p.GossipAddr)
		}
	}
	return reached
}

// IsMember reports whether this node is in its own latest Raft
// configuration: a node restarted on its data directory is, and needs no
// join.
func (n *Node) IsMember() bool {
	conf, err := n.configuration()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(conf.Servers, func(s raft.Server) bool { return string(s.ID) == n.cfg.NodeID })
}

// HasExistingState reports whether the node started on a data directory
// that held Raft state.
func (n *Node) HasExistingState() bool { return n.existing }

// CaughtUp reports whether the node has applied what the cluster had
// committed when it started, so that its state (its tokens among it) is
// not older than what it had before a restart: a leader once it has
// applied an entry past its log at start (its first entry as leader
// follows everything before); a follower once it has heard from a leader
// since it started and applied up to the commit index it learned.
//
// Raft's own applied index is used: it counts the entries the ledger never
// sees (configuration changes, a new leader's no-op) and runs ahead of the
// ledger only by the batch being handed over.
func (n *Node) CaughtUp() bool {
	applied := n.raft.AppliedIndex()
	if n.IsLeader() {
		return applied > n.bootLastIndex || n.raft.CommitIndex() > n.bootLastIndex && applied >= n.raft.CommitIndex()
	}
	id, _ := n.Leader()
	if id == "" {
		return false
	}
	contact := n.raft.LastContact()
	return contact.After(n.openedAt) && applied >= n.raft.CommitIndex()
}

// gossipRejoinLoop is part of reconnectLoop's work at start: it tries the
// configuration's members at once, then every GossipReconnectInterval.
func (n *Node) rejoinAtStart() {
	deadline := time.Now().Add(n.cfg.GossipReconnectInterval)
	for !n.isClosed() && time.Now().Before(deadline) {
		if n.rejoinGossip() > 0 {
			return
		}
		select {
		case <-n.closed:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
