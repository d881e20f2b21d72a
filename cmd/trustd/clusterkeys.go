package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// clusterKeyRetry is how often a voter without the cluster's keys asks the
// leader for them.
const clusterKeyRetry = 2 * time.Second

// fetchClusterKeys asks the leader, node to node, for the keys every voter
// holds until this voter has them: the cluster CA key when the cluster
// runs its own CA (wantCA), so that whichever voter leads can admit nodes
// (GET /v1/cluster/ca-key), and the checkpoint key, so that every voter
// signs checkpoints of the ledger (GET /v1/cluster/checkpoint-key). Both
// calls are authenticated by the node's certificate, and the leader hands
// the keys only to voters of the Raft configuration. It returns when the
// node has the keys or ctx ends.
func fetchClusterKeys(ctx context.Context, node *cluster.Node, wantCA bool, log *slog.Logger) {
	t := time.NewTicker(clusterKeyRetry)
	defer t.Stop()
	for (wantCA && !node.HasCAKey()) || !node.HasCheckpointKey() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		leaderID, _ := node.Leader()
		addr := node.LeaderAPIAddr()
		if !node.HasIdentity() || leaderID == "" || leaderID == node.NodeID() || addr == "" {
			continue
		}
		cl, err := leaderClient(node, leaderID, addr)
		if err != nil {
			log.Debug("no client for the leader", "leader", leaderID, "error", err)
			continue
		}
		if wantCA && !node.HasCAKey() {
			fetchKey(ctx, "the cluster CA key", leaderID, log, cl.ClusterCAKey, node.InstallCAKey)
		}
		if !node.HasCheckpointKey() {
			fetchKey(ctx, "the checkpoint key", leaderID, log, cl.ClusterCheckpointKey, node.InstallCheckpointKey)
		}
	}
}

// fetchKey fetches one key from the leader and installs it; a failure is
// logged, and the caller tries again later.
func fetchKey[K any](ctx context.Context, what, leaderID string, log *slog.Logger,
	fetch func(context.Context) (K, error), install func(K) error) {
	key, err := fetch(ctx)
	if err != nil {
		log.Debug("could not fetch "+what+" from the leader yet", "leader", leaderID, "status", statusOf(err), "error", err)
		return
	}
	if err := install(key); err != nil {
		log.Warn("could not install "+what+" the leader sent", "leader", leaderID, "error", err)
	}
}

func statusOf(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.StatusCode
	}
	return 0
}

// leaderClient is a node-to-node client for the leader: the address is
// the leader's, as the cluster's membership records it, and the TLS
// configuration accepts only that member's certificate.
func leaderClient(node *cluster.Node, leaderID, apiAddr string) (*client.Client, error) {
	u, err := url.Parse(apiAddr)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Path = "https", ""
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: node.PeerClientTLS(leaderID)}}
	return client.New(client.Config{Address: u.String(), HTTPClient: hc, Timeout: 10 * time.Second, UserAgent: "trustd"})
}
