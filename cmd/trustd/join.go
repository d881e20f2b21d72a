package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/pki"
)

// Join retries: the first attempt at once, then with a doubling pause up to
// joinMaxBackoff, for as long as trustd runs.
const (
	joinFirstBackoff = time.Second
	joinMaxBackoff   = 30 * time.Second
	joinTimeout      = 30 * time.Second
)

// joinCluster asks the members named by --join, in turn, to admit this
// node, then contacts their gossip pool (docs/operations.md, "Joining").
// A node without a cluster identity first asks for one: it sends its
// certificate request (POST /v1/cluster/identity) over TLS to a member
// whose cluster CA matches --ca-fingerprint (or, without it, the CA the
// first member shows, trusted on first use with a warning), and installs
// the certificate, CA and gossip keys it is granted. Then it asks to join
// (POST /v1/cluster/join, which a follower forwards to the leader).
// Unreachable members and 503s (no leader yet, an election) are retried
// with backoff for as long as trustd runs; a refusal (a bad or missing
// token, a node id taken at another address, a CA that is not the pinned
// one) is returned, and ends trustd. Joining is idempotent, so a restarted
// node that is already a member just gets "none". It returns nil once
// joined or when ctx ends.
//
// fatal is false for a node that has Raft state of its own: a refusal is
// then logged and retried like any other failure, since the node may be a
// member the cluster has not caught up with, and exiting would lose it.
func joinCluster(ctx context.Context, cfg config, node *cluster.Node, log *slog.Logger, fatal bool) error {
	token, err := cfg.joinToken()
	if err != nil {
		return err
	}
	pin := ""
	if cfg.CAFingerprint != "" {
		pin, _ = pki.ParseFingerprint(cfg.CAFingerprint) // validated
	}
	self := node.Self()
	voter := self.Voter
	backoff := joinFirstBackoff
	for attempt := 1; ; attempt++ {
		for _, addr := range cfg.Join {
			res, err := joinThrough(ctx, cfg, node, log, addr, token, &pin, voter)
			if err == nil {
				joined(node, res, log, addr)
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			if permanent(err) && fatal {
				return fmt.Errorf("join through %s: %w", addr, err)
			}
			if node.IsMember() {
				log.Info("a member of the cluster now: no more join attempts", "member", addr)
				return nil
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

// joinThrough joins through one member: the identity first when the node
// has none, then the join itself.
func joinThrough(ctx context.Context, cfg config, node *cluster.Node, log *slog.Logger, addr, token string, pin *string, voter bool) (*client.JoinResult, error) {
	var tlsConf client.TLSConfig
	switch {
	case cfg.tlsEnabled():
		// The operator's PKI: https members are verified against the
		// cluster CA, and this node's certificate is presented if asked.
		tlsConf = client.TLSConfig{CAFile: cfg.peerCAFile(), CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile}
	case !cfg.Insecure:
		// The cluster's own identity: always TLS, to the member's API
		// port, with the cluster CA pinned.
		addr = httpsURL(addr)
		if !node.HasIdentity() {
			if err := obtainIdentity(ctx, node, log, addr, token, pin, voter); err != nil {
				return nil, err
			}
		}
		_, fp := node.ClusterCA()
		tlsConf = client.TLSConfig{CAFingerprint: fp}
	}
	self := node.Self()
	req := client.JoinRequest{NodeID: self.ID, RaftAddr: self.RaftAddr, APIAddr: self.APIAddr, GossipAddr: self.GossipAddr,
		Voter: &voter, Region: self.Region}
	cl, err := client.New(client.Config{Address: addr, Token: token, Timeout: joinTimeout, UserAgent: "trustd", TLS: tlsConf})
	if err != nil {
		return nil, err
	}
	return cl.Join(ctx, req)
}

// obtainIdentity asks the member at addr for this node's certificate and
// installs it. Without a pin, the member's CA is trusted on first use,
// loudly, and pinned for the rest of the join.
func obtainIdentity(ctx context.Context, node *cluster.Node, log *slog.Logger, addr, token string, pin *string, voter bool) error {
	if *pin == "" {
		cl, err := client.New(client.Config{Address: addr, Timeout: joinTimeout, UserAgent: "trustd",
			TLS: client.TLSConfig{InsecureSkipVerify: true}})
		if err != nil {
			return err
		}
		ca, err := cl.ClusterCA(ctx)
		if err != nil {
			return err
		}
		cert, err := pki.ParseCert([]byte(ca.Certificate))
		if err != nil {
			return &joinRefusal{fmt.Errorf("the member's cluster CA: %w", err)}
		}
		*pin = pki.Fingerprint(cert.Raw)
		log.Warn("JOINING WITHOUT --ca-fingerprint: trusting the cluster CA this member showed, on first use; "+
			"check it against the first node's log or `trustctl cluster ca`, and pass --ca-fingerprint next time",
			"member", addr, "ca_fingerprint", *pin)
	}
	req, err := node.NewIdentityRequest()
	if err != nil {
		return &joinRefusal{err}
	}
	cl, err := client.New(client.Config{Address: addr, Token: token, Timeout: joinTimeout, UserAgent: "trustd",
		TLS: client.TLSConfig{CAFingerprint: *pin}})
	if err != nil {
		return err
	}
	g, err := cl.RequestIdentity(ctx, client.IdentityRequest{NodeID: req.NodeID, CSR: string(req.CSR), Voter: &voter})
	if err != nil {
		var pe *client.PinError
		if errors.As(err, &pe) {
			return &joinRefusal{fmt.Errorf("%s: %w", addr, pe)}
		}
		return err
	}
	grant := cluster.IdentityGrant{NodeID: g.NodeID, Certificate: []byte(g.Certificate), CACertificate: []byte(g.CACertificate),
		Members: g.Members}
	for _, k := range g.GossipKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			return &joinRefusal{fmt.Errorf("the granted gossip key is not base64: %w", err)}
		}
		grant.GossipKeys = append(grant.GossipKeys, b)
	}
	if err := node.InstallIdentity(grant, *pin); err != nil {
		return &joinRefusal{err}
	}
	log.Info("received the cluster identity", "member", addr, "ca_fingerprint", *pin)
	return nil
}

// joinRefusal is a join failure that retrying cannot fix.
type joinRefusal struct{ err error }

func (e *joinRefusal) Error() string { return e.err.Error() }
func (e *joinRefusal) Unwrap() error { return e.err }

// httpsURL is a member's URL with the https scheme (node-to-node requests
// always use TLS on the API port).
func httpsURL(addr string) string {
	u, err := client.ParseAddress(addr)
	if err != nil {
		return addr
	}
	u.Scheme = "https"
	return u.String()
}

// permanent reports whether a join failure will not go away by retrying.
func permanent(err error) bool {
	var refusal *joinRefusal
	var pe *client.PinError
	if errors.As(err, &refusal) || errors.As(err, &pe) {
		return true
	}
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
