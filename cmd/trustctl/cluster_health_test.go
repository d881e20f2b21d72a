package main

import (
	"testing"

	"github.com/trustledger/trustledger/api/client"
)

// A member every probe reaches but gossip does not see alive (a wrong
// gossip key, a blocked gossip port) makes the cluster degraded; with
// gossip off (every state unknown) nothing is flagged.
func TestHealthCountsGossip(t *testing.T) {
	member := func(id, gossip string) client.ClusterMember {
		return client.ClusterMember{ID: id, Suffrage: "voter", Gossip: gossip, Reachable: true, Region: "r"}
	}
	for _, c := range []struct {
		name    string
		members []client.ClusterMember
		healthy bool
		down    int
	}{
		{"all alive", []client.ClusterMember{member("n1", "alive"), member("n2", "alive"), member("n3", "alive")}, true, 0},
		{"one on another gossip key", []client.ClusterMember{member("n1", "alive"), member("n2", "alive"), member("n3", "unknown")}, false, 1},
		{"one suspect", []client.ClusterMember{member("n1", "alive"), member("n2", "suspect"), member("n3", "alive")}, false, 1},
		{"gossip off", []client.ClusterMember{member("n1", "unknown"), member("n2", "unknown")}, true, 0},
	} {
		h := health(&client.Cluster{LeaderID: "n1", Voters: len(c.members), Members: c.members})
		if h.Healthy != c.healthy || len(h.GossipDown) != c.down {
			t.Errorf("%s: healthy %v, gossip down %v", c.name, h.Healthy, h.GossipDown)
		}
	}
}
