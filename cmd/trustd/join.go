package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
)

// Join retries: the first attempt at once, then with a doubling pause up to
// joinMaxBackoff, for as long as trustd runs.
const (
	joinFirstBackoff = time.Second
	joinMaxBackoff   = 30 * time.Second
	joinTimeout      = 30 * time.Second
)

// joinCluster asks the members named by --join, in turn, to admit this
// node (POST /v1/cluster/join, which a follower forwards to the leader),
// then contacts their gossip pool. Unreachable members and 503s (no leader
// yet, an election) are retried with backoff for as long as trustd runs; a
// refusal (a bad or missing token, a node id taken at another address) is
// returned, and ends trustd. Joining is idempotent, so a restarted node
// that is already a member just gets "none". It returns nil once joined
// or when ctx ends.
func joinCluster(ctx context.Context, cfg config, node *cluster.Node, log *slog.Logger) error {
	token, err := cfg.joinToken()
	if err != nil {
		return err
	}
	self := node.Self()
	voter := self.Voter
	req := client.JoinRequest{NodeID: self.ID, RaftAddr: self.RaftAddr, APIAddr: self.APIAddr, GossipAddr: self.GossipAddr,
		Voter: &voter, Region: self.Region}
	var tlsConf client.TLSConfig
	if cfg.tlsEnabled() {
		// https members are verified against the cluster CA, and this
		// node's certificate is presented if they ask for one.
		tlsConf = client.TLSConfig{CAFile: cfg.peerCAFile(), CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile}
	}
	backoff := joinFirstBackoff
	for attempt := 1; ; attempt++ {
		for _, addr := range cfg.Join {
			res, err := joinOnce(ctx, addr, token, tlsConf, req)
			if err == nil {
				joined(node, res, log, addr)
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) {
				return fmt.Errorf("join through %s: %w", addr, err)
			}
			log.Warn("join attempt failed; will retry", "member", addr, "attempt", attempt, "error", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, joinMaxBackoff)
	}
}

func joinOnce(ctx context.Context, addr, token string, tlsConf client.TLSConfig, req client.JoinRequest) (*client.JoinResult, error) {
	cl, err := client.New(client.Config{Address: addr, Token: token, Timeout: joinTimeout, UserAgent: "trustd", TLS: tlsConf})
	if err != nil {
		return nil, err
	}
	return cl.Join(ctx, req)
}

// permanent reports whether a join failure will not go away by retrying.
func permanent(err error) bool {
	switch client.StatusCode(err) {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusConflict, http.StatusUnprocessableEntity, http.StatusNotImplemented:
		return true
	}
	return false
}

// joined records the members the answer lists and contacts their gossip.
func joined(node *cluster.Node, res *client.JoinResult, log *slog.Logger, via string) {
	var peers []cluster.Peer
	var gossip []string
	for _, m := range res.Members {
		peers = append(peers, cluster.Peer{ID: m.NodeID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, GossipAddr: m.GossipAddr,
			Region: m.Region, Voter: m.Voter})
		if m.NodeID != node.NodeID() && m.GossipAddr != "" {
			gossip = append(gossip, m.GossipAddr)
		}
	}
	node.NotePeers(peers)
	log.Info("joined the cluster", "via", via, "action", res.Action, "leader", res.LeaderID, "members", len(res.Members))
	if len(gossip) > 0 && node.GossipAddr() != "" {
		if n, err := node.JoinGossip(gossip); err != nil {
			// The leader contacts this node's gossip too, and the members
			// retry gone peers: the pool still forms.
			log.Warn("could not reach the members' gossip yet", "error", err)
		} else {
			log.Info("joined the gossip pool", "contacted", n)
		}
	}
}

// joinToken is the operator token --join uses: --token, else the file
// named by --token-file.
func (c *config) joinToken() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	if c.TokenFile != "" {
		tok, err := client.ReadTokenFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return tok, nil
	}
	return "", errors.New("--join needs an operator token: set --token, --token-file, TRUSTLEDGER_TOKEN or TRUSTLEDGER_TOKEN_FILE")
}
