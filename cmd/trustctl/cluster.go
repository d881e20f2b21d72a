package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/pki"
)

func clusterJoin(fs *flag.FlagSet, c *cli) prepare {
	var req client.JoinRequest
	fs.StringVar(&req.NodeID, "node-id", "", "the joining node's `ID` (its --node-id; required)")
	fs.StringVar(&req.RaftAddr, "raft-addr", "", "the joining node's Raft `HOST:PORT`, as other nodes dial it (required)")
	fs.StringVar(&req.APIAddr, "api-addr", "", "the joining node's API `URL`, such as http://10.0.0.2:8470 (required)")
	fs.StringVar(&req.GossipAddr, "gossip-addr", "", "the joining node's gossip `HOST:PORT`; the leader contacts it")
	fs.StringVar(&req.Region, "region", "", "the joining node's region")
	voter := fs.Bool("voter", true, "join as a voter; --voter=false joins a read replica (a Raft non-voter)")
	enrollKey := fs.String("enrollment-key", "", "the joining node's enrollment key `FINGERPRINT` (sha256:…, from its log), checked before its identity is handed over")
	wait := fs.Duration("wait", 15*time.Second, "retry this long while the member answers 503 (no leader yet, or it does not know the leader's address yet); 0 tries once")
	return func([]string) (call, error) {
		if err := required("--node-id", req.NodeID, "--raft-addr", req.RaftAddr, "--api-addr", req.APIAddr); err != nil {
			return nil, err
		}
		req.Voter = voter
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			if err := c.enrollNode(ctx, req, *enrollKey, *wait); err != nil {
				return nil, err
			}
			res, err := joinRetrying(ctx, cl, req, *wait)
			return show(res, err, func(w io.Writer) { writeJoin(w, req, res) })
		}, nil
	}
}

// required fails naming the flags, given as name and value pairs, whose
// value is empty.
func required(flagsAndValues ...string) error {
	var missing []string
	for i := 0; i+1 < len(flagsAndValues); i += 2 {
		if flagsAndValues[i+1] == "" {
			missing = append(missing, flagsAndValues[i])
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	return nil
}

// joinRetrying asks for the join, again while the member answers 503 and
// wait has not passed. Joining is idempotent, so retrying it is safe.
func joinRetrying(ctx context.Context, cl *client.Client, req client.JoinRequest, wait time.Duration) (*client.JoinResult, error) {
	return retryUnavailable(ctx, wait, func() (*client.JoinResult, error) { return cl.Join(ctx, req) })
}

// retryUnavailable calls f, again while it fails with 503 (no leader yet,
// or the leader's address not known yet: a cluster settling after a
// membership change) and wait has not passed. f must be safe to repeat.
func retryUnavailable[T any](ctx context.Context, wait time.Duration, f func() (T, error)) (T, error) {
	deadline := time.Now().Add(wait)
	res, err := f()
	for err != nil && client.StatusCode(err) == 503 && time.Now().Before(deadline) {
		pause := time.Second
		var pe *client.Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 && pe.RetryAfter < pause {
			pause = pe.RetryAfter
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(min(pause, time.Until(deadline))):
		}
		res, err = f()
	}
	return res, err
}

func writeJoin(w io.Writer, req client.JoinRequest, res *client.JoinResult) {
	role := "voter"
	if !*req.Voter {
		role = "read replica"
	}
	switch res.Action {
	case client.JoinAdded:
		fmt.Fprintf(w, "Node %s joined as a %s at index %d (leader %s).\n", req.NodeID, role, res.Index, res.LeaderID)
	case client.JoinPromoted, client.JoinDemoted:
		fmt.Fprintf(w, "Node %s %s to %s at index %d (leader %s).\n", req.NodeID, res.Action, role, res.Index, res.LeaderID)
	default:
		fmt.Fprintf(w, "Node %s is already a member as a %s; nothing changed.\n", req.NodeID, role)
	}
}

func clusterMembers(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	view, err := cl.Cluster(ctx)
	return show(view, err, func(w io.Writer) {
		row(w, "NODE", "REGION", "ROLE", "SUFFRAGE", "STATE", "GOSSIP", "APPLIED", "LAG", "LAST CONTACT", "API", "RAFT")
		for _, m := range view.Members {
			id := m.ID
			if m.Leader {
				id += " *"
			}
			state, applied, lag := m.State, "", ""
			if m.Reachable {
				applied = fmt.Sprint(m.AppliedIndex)
				if m.Lag >= 0 {
					lag = fmt.Sprint(m.Lag)
				}
			} else {
				state = "unreachable"
			}
			row(w, id, m.Region, m.Role, m.Suffrage, state, m.Gossip, applied, lag, contact(m), m.APIAddr, m.RaftAddr)
		}
		fmt.Fprintf(w, "\n* leader. Seen from %s at %s.\n", view.NodeID, cl.Address())
	})
}

func contact(m client.ClusterMember) string {
	switch {
	case !m.Reachable:
		return ""
	case m.State == "leader":
		return "-"
	case m.LastContact < 0:
		return "never"
	}
	return (time.Duration(m.LastContact) * time.Millisecond).String() + " ago"
}

func clusterRemove(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	err := cl.RemoveNode(ctx, pos[0])
	return show(map[string]any{"nodeId": pos[0], "removed": true}, err, func(w io.Writer) {
		fmt.Fprintf(w, "Node %s removed from the cluster. Stop it if it still runs; it may join again later.\n", pos[0])
	})
}

func clusterTransfer(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	res, err := cl.TransferLeadership(ctx, id)
	return show(res, err, func(w io.Writer) {
		fmt.Fprintf(w, "Leadership moved from %s to %s.\n", res.PreviousLeaderID, res.LeaderID)
	})
}

// clusterHealth is trustctl cluster status's summary.
type clusterHealth struct {
	Healthy          bool           `json:"healthy"`
	LeaderID         string         `json:"leaderId"`
	Term             uint64         `json:"term"`
	Voters           int            `json:"voters"`
	Replicas         int            `json:"replicas"`
	Quorum           int            `json:"quorum"`
	FailureTolerance int            `json:"failureTolerance"`
	Unreachable      []string       `json:"unreachable"`
	GossipDown       []string       `json:"gossipDown"` // members gossip does not see alive, as "id (state)": a wrong key, a blocked port
	MaxLag           int64          `json:"maxLag"`
	Regions          map[string]int `json:"regions"`
	CommitIndex      uint64         `json:"commitIndex"`
	SeenFrom         string         `json:"seenFrom"`
}

func clusterStatus(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	view, err := cl.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	h := health(view)
	return &output{v: h, table: h.table, status: failedIf(!h.Healthy)}, nil
}

// health sums up the cluster view.
func health(view *client.Cluster) clusterHealth {
	h := clusterHealth{LeaderID: view.LeaderID, Term: view.Term, Voters: view.Voters, Quorum: view.Quorum,
		FailureTolerance: view.FailureTolerance, Unreachable: []string{}, GossipDown: []string{}, Regions: map[string]int{},
		CommitIndex: view.CommitIndex, SeenFrom: view.NodeID}
	// With gossip on, some member has a gossip state: then a member gossip
	// does not know ("unknown") is as down as a dead one.
	gossipOn := false
	for _, m := range view.Members {
		gossipOn = gossipOn || m.Gossip != "unknown" && m.Gossip != ""
	}
	for _, m := range view.Members {
		if m.Suffrage == "none" {
			continue
		}
		if m.Suffrage == "nonvoter" {
			h.Replicas++
		}
		h.Regions[m.Region]++
		if !m.Reachable {
			h.Unreachable = append(h.Unreachable, m.ID)
		}
		if gossipOn && m.Gossip != "alive" {
			h.GossipDown = append(h.GossipDown, m.ID+" ("+m.Gossip+")")
		}
		h.MaxLag = max(h.MaxLag, m.Lag)
	}
	h.Healthy = h.LeaderID != "" && len(h.Unreachable) == 0 && len(h.GossipDown) == 0
	return h
}

func (h *clusterHealth) table(w io.Writer) {
	health := "healthy"
	if !h.Healthy {
		health = "DEGRADED"
	}
	leader := h.LeaderID
	if leader == "" {
		leader = "none (no quorum, or an election is under way)"
	}
	regions := make([]string, 0, len(h.Regions))
	for r, n := range h.Regions {
		regions = append(regions, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(regions)
	row(w, "Cluster", health)
	row(w, "Leader", fmt.Sprintf("%s (term %d)", leader, h.Term))
	row(w, "Voters", fmt.Sprintf("%d (quorum %d, %d more may fail)", h.Voters, h.Quorum, h.FailureTolerance))
	row(w, "Read replicas", h.Replicas)
	row(w, "Regions", strings.Join(regions, ", "))
	row(w, "Unreachable", strings.Join(h.Unreachable, ", "))
	row(w, "Not alive in gossip", strings.Join(h.GossipDown, ", "))
	row(w, "Max lag", fmt.Sprintf("%d entries", h.MaxLag))
	row(w, "Commit index", h.CommitIndex)
	row(w, "Seen from", h.SeenFrom)
}

// enrollNode hands a node that has not joined yet its cluster identity
// (docs/operations.md, "Joining"): it reads the node's certificate request
// (GET /v1/cluster/enrollment, over TLS to the node's API port), has the
// cluster sign it (POST /v1/cluster/identity, over TLS with the cluster CA
// pinned), and installs the answer on the node (POST
// /v1/cluster/enrollment, over TLS pinned to the key of the request). A
// node that has an identity already (or uses the operator's PKI) is left
// alone.
func (c *cli) enrollNode(ctx context.Context, req client.JoinRequest, wantKey string, wait time.Duration) error {
	cfg, err := c.clientConfig()
	if err != nil {
		return err
	}
	nodeURL, err := httpsAddr(req.APIAddr)
	if err != nil {
		return usagef("--api-addr: %v", err)
	}
	// The node's certificate is self-signed until it joins: its key is
	// what is checked, below.
	probe, err := client.New(client.Config{Address: nodeURL, Timeout: cfg.Timeout, UserAgent: cfg.UserAgent,
		TLS: client.TLSConfig{InsecureSkipVerify: true}})
	if err != nil {
		return err
	}
	enr, err := probe.Enrollment(ctx)
	switch code := client.StatusCode(err); {
	case code == http.StatusConflict || code == http.StatusNotFound || code == http.StatusNotImplemented:
		return nil // it has its identity
	case err != nil:
		return fmt.Errorf("read the joining node's certificate request from %s: %w", nodeURL, err)
	}
	keyFP, err := csrKeyFingerprint(enr.CSR)
	if err != nil {
		return fmt.Errorf("the joining node's certificate request: %w", err)
	}
	switch {
	case enr.NodeID != req.NodeID:
		return fmt.Errorf("the node at %s is %q, not %q", req.APIAddr, enr.NodeID, req.NodeID)
	case enr.EnrollmentKey != keyFP:
		return fmt.Errorf("the node at %s names enrollment key %s but asks to certify %s", req.APIAddr, enr.EnrollmentKey, keyFP)
	case wantKey != "":
		want, err := pki.ParseFingerprint(wantKey)
		if err != nil {
			return usagef("--enrollment-key: %v", err)
		}
		if want != keyFP {
			return fmt.Errorf("the node at %s has enrollment key %s, not %s: not the node you started (or someone is in between)", req.APIAddr, keyFP, want)
		}
	case !loopbackURL(req.APIAddr):
		fmt.Fprintf(c.stderr, "trustctl: warning: enrolling %s with key %s without --enrollment-key; compare it with the node's log\n", req.NodeID, keyFP)
	}
	member, pin, err := c.pinnedMember(ctx, cfg)
	if err != nil {
		return err
	}
	// Signing the node's certificate is a write on the leader: retried, as
	// the join is, while the cluster has none (it is the same request
	// again: the node's key and CSR do not change).
	g, err := retryUnavailable(ctx, wait, func() (*client.IdentityGrant, error) {
		return member.RequestIdentity(ctx, client.IdentityRequest{NodeID: req.NodeID, CSR: enr.CSR, Voter: req.Voter})
	})
	if err != nil {
		return fmt.Errorf("have the cluster sign %s's certificate: %w", req.NodeID, err)
	}
	target, err := client.New(client.Config{Address: nodeURL, Timeout: cfg.Timeout, UserAgent: cfg.UserAgent,
		TLS: client.TLSConfig{ServerKeyFingerprint: keyFP}})
	if err != nil {
		return err
	}
	if err := target.Enroll(ctx, g, pin); err != nil {
		return fmt.Errorf("install %s's identity on it: %w", req.NodeID, err)
	}
	if c.g.output != "json" {
		fmt.Fprintf(c.stderr, "Node %s received its cluster identity (CA %s).\n", req.NodeID, pin)
	}
	return nil
}

// pinnedMember is a client for the member --addr names, over TLS with the
// cluster CA pinned: --ca-fingerprint, or the CA the member publishes,
// read over the connection the global options give (trusted on first
// use, with a warning off loopback).
func (c *cli) pinnedMember(ctx context.Context, cfg client.Config) (*client.Client, string, error) {
	pin := cfg.TLS.CAFingerprint
	if pin == "" {
		cl, err := c.connect()
		if err != nil {
			return nil, "", err
		}
		ca, err := cl.ClusterCA(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("read the cluster CA from %s: %w", cfg.Address, err)
		}
		cert, err := pki.ParseCert([]byte(ca.Certificate))
		if err != nil {
			return nil, "", fmt.Errorf("the cluster CA from %s: %w", cfg.Address, err)
		}
		pin = pki.Fingerprint(cert.Raw)
		if !loopbackURL(cfg.Address) && !strings.HasPrefix(cfg.Address, "https://") || cfg.TLS.InsecureSkipVerify {
			fmt.Fprintf(c.stderr, "trustctl: warning: trusting cluster CA %s from %s on first use; pass --ca-fingerprint to pin it\n", pin, cfg.Address)
		}
	}
	addr, err := httpsAddr(cfg.Address)
	if err != nil {
		return nil, "", err
	}
	mcfg := cfg
	mcfg.Address = addr
	mcfg.TLS = client.TLSConfig{CAFingerprint: pin, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile}
	cl, err := client.New(mcfg)
	return cl, pin, err
}

// httpsAddr is a node's API URL with the https scheme: nodes serve TLS on
// their API port whatever their URL says.
func httpsAddr(addr string) (string, error) {
	u, err := client.ParseAddress(addr)
	if err != nil {
		return "", err
	}
	u.Scheme = "https"
	return u.String(), nil
}

// loopbackURL reports whether a URL's host is a loopback address.
func loopbackURL(addr string) bool {
	u, err := client.ParseAddress(addr)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// csrKeyFingerprint is the fingerprint of a PEM certificate request's key.
func csrKeyFingerprint(csrPEM string) (string, error) {
	csr, err := pki.ParseCSR([]byte(csrPEM))
	if err != nil {
		return "", err
	}
	return pki.KeyFingerprint(csr.PublicKey)
}

// clusterCAView is what trustctl cluster ca prints.
type clusterCAView struct {
	Fingerprint string `json:"fingerprint"`
	Subject     string `json:"subject"`
	NotAfter    string `json:"notAfter"`
	Certificate string `json:"certificate"`
}

// clusterCA prints the cluster CA the node publishes (GET
// /v1/cluster/ca), after checking that the fingerprint it states is the
// certificate's.
func clusterCA(ctx context.Context, c *cli, cl *client.Client, _ []string) (*output, error) {
	ca, err := cl.ClusterCA(ctx)
	if err != nil {
		return nil, err
	}
	cert, err := pki.ParseCert([]byte(ca.Certificate))
	if err != nil {
		return nil, fmt.Errorf("the cluster CA from %s: %w", cl.Address(), err)
	}
	fp := pki.Fingerprint(cert.Raw)
	if fp != ca.Fingerprint {
		return nil, fmt.Errorf("the cluster CA from %s states fingerprint %s, but its certificate's is %s", cl.Address(), ca.Fingerprint, fp)
	}
	if cfg, err := c.clientConfig(); err == nil && cfg.TLS.CAFingerprint == "" && !loopbackURL(cfg.Address) {
		fmt.Fprintf(c.stderr, "trustctl: note: %s told us this CA over a connection that does not pin one; "+
			"compare the fingerprint with the first node's log before you pin it\n", cfg.Address)
	}
	v := clusterCAView{Fingerprint: fp, Subject: cert.Subject.CommonName, NotAfter: cert.NotAfter.UTC().Format(time.RFC3339),
		Certificate: ca.Certificate}
	return show(v, nil, func(w io.Writer) {
		row(w, "Fingerprint", v.Fingerprint)
		row(w, "Subject", v.Subject)
		row(w, "Expires", v.NotAfter)
		fmt.Fprintf(w, "\n%s", strings.TrimRight(v.Certificate, "\n")+"\n")
	})
}

// gossipKeyRotation is the answer of POST /v1/cluster/gossip-key/rotate.
type gossipKeyRotation struct {
	// Primary is the id of the new key (never the key itself).
	Primary string `json:"primary"`
	// Previous are the ids of the keys it replaced.
	Previous []string `json:"previous"`
	// Members are the nodes that now hold the new key alone.
	Members []string `json:"members"`
}

// clusterGossipKeyRotate has the leader rotate the gossip key on every
// member (add, make primary, remove the old keys).
func clusterGossipKeyRotate(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	var res gossipKeyRotation
	_, err := cl.Do(ctx, http.MethodPost, "/v1/cluster/gossip-key/rotate", nil, struct{}{}, &res)
	return show(res, err, func(w io.Writer) {
		fmt.Fprintf(w, "Gossip key rotated: %s is the only key on %d members.\n", res.Primary, len(res.Members))
		row(w, "Primary", res.Primary)
		row(w, "Replaced", strings.Join(res.Previous, ", "))
		row(w, "Members", strings.Join(res.Members, ", "))
	})
}
