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

// caKeyRetry is how often a voter without the cluster CA key asks the
// leader for it.
const caKeyRetry = 2 * time.Second

// fetchCAKey asks the leader, node to node, for the cluster CA key until
// this voter holds it (GET /v1/cluster/ca-key, authenticated by the node's
// certificate; the leader hands it only to voters of the Raft
// configuration), so that whichever voter leads can admit nodes. It
// returns when the node has the key or ctx ends.
func fetchCAKey(ctx context.Context, node *cluster.Node, log *slog.Logger) {
	t := time.NewTicker(caKeyRetry)
	defer t.Stop()
	for !node.HasCAKey() {
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
		key, status, err := askCAKey(ctx, node, leaderID, addr)
		switch {
		case err != nil:
			log.Debug("could not fetch the cluster CA key from the leader yet", "leader", leaderID, "status", status, "error", err)
		default:
			if err := node.InstallCAKey(key); err != nil {
				log.Warn("the leader's cluster CA key does not fit this node's CA", "leader", leaderID, "error", err)
			}
		}
	}
}

func askCAKey(ctx context.Context, node *cluster.Node, leaderID, apiAddr string) ([]byte, int, error) {
	u, err := url.Parse(apiAddr)
	if err != nil {
		return nil, 0, err
	}
	u.Scheme, u.Path = "https", ""
	// The address is the leader's, as the cluster's membership records it,
	// and the TLS configuration accepts only that member's certificate.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: node.PeerClientTLS(leaderID)}}
	defer hc.CloseIdleConnections()
	cl, err := client.New(client.Config{Address: u.String(), HTTPClient: hc, Timeout: 10 * time.Second, UserAgent: "trustd"})
	if err != nil {
		return nil, 0, err
	}
	key, err := cl.ClusterCAKey(ctx)
	var ce *client.Error
	if errors.As(err, &ce) {
		return nil, ce.StatusCode, err
	}
	return key, http.StatusOK, err
}
