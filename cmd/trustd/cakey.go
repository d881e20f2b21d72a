package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

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
	u.Scheme, u.Path = "https", "/v1/cluster/ca-key"
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: node.PeerClientTLS(leaderID)}}
	defer cl.CloseIdleConnections()
	// The address is the leader's, as the cluster's membership records it,
	// and the TLS configuration accepts only that member's certificate.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil) // #nosec G704 -- a member's address, its certificate verified
	if err != nil {
		return nil, 0, err
	}
	resp, err := cl.Do(req) // #nosec G704 -- a member's address, its certificate verified
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, &askError{status: resp.StatusCode}
	}
	var out struct {
		CAKey string `json:"caKey"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, resp.StatusCode, err
	}
	return []byte(out.CAKey), resp.StatusCode, nil
}

type askError struct{ status int }

func (e *askError) Error() string { return "the leader answered " + http.StatusText(e.status) }
