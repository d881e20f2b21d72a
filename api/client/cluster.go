package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Peer describes a node as the cluster knows it: the body of a join and
// the members a join answer lists.
type Peer struct {
	NodeID     string `json:"nodeId"`
	RaftAddr   string `json:"raftAddr,omitempty"`
	APIAddr    string `json:"apiAddr,omitempty"`
	GossipAddr string `json:"gossipAddr,omitempty"`
	Region     string `json:"region,omitempty"`
	Voter      bool   `json:"voter"`
}

// JoinRequest is the body of POST /v1/cluster/join.
type JoinRequest struct {
	// NodeID is the joining node's Raft server id.
	NodeID string `json:"nodeId"`
	// RaftAddr is the host:port other nodes dial for Raft.
	RaftAddr string `json:"raftAddr"`
	// APIAddr is the node's API base URL (followers forward to it when
	// it leads).
	APIAddr string `json:"apiAddr"`
	// GossipAddr is the node's gossip host:port; the leader contacts it.
	GossipAddr string `json:"gossipAddr,omitempty"`
	// Voter: nil or true joins a voter, false a read replica.
	Voter *bool `json:"voter,omitempty"`
	// Region is where the node runs.
	Region string `json:"region,omitempty"`
}

// Join actions.
const (
	JoinAdded    = "added"
	JoinPromoted = "promoted"
	JoinDemoted  = "demoted"
	JoinNone     = "none"
)

// JoinResult is the answer to Join.
type JoinResult struct {
	// Action is one of the Join* constants; Changed is false for none.
	Action  string `json:"action"`
	Changed bool   `json:"changed"`
	// Index is the Raft index of the configuration change (0 for none).
	Index    uint64 `json:"index,omitempty"`
	NodeID   string `json:"nodeId"`
	LeaderID string `json:"leaderId"`
	// Members are the members of the Raft configuration.
	Members []Peer `json:"members"`
}

// Join adds a node to the cluster; any member accepts it. Joining again
// with the same id and addresses changes nothing; a node id that is a
// member at another address is refused with 409.
func (c *Client) Join(ctx context.Context, req JoinRequest) (*JoinResult, error) {
	return call[JoinResult](ctx, c, &request{method: http.MethodPost, path: "/v1/cluster/join", body: req})
}

// Cluster is the answer to GET /v1/cluster: the cluster as the node asked
// sees it.
type Cluster struct {
	NodeID           string          `json:"nodeId"`
	LeaderID         string          `json:"leaderId"`
	Term             uint64          `json:"term"`
	CommitIndex      uint64          `json:"commitIndex"`
	AppliedIndex     uint64          `json:"appliedIndex"`
	Voters           int             `json:"voters"`
	Quorum           int             `json:"quorum"`
	FailureTolerance int             `json:"failureTolerance"`
	Members          []ClusterMember `json:"members"`
}

// ClusterMember is one node of a Cluster.
type ClusterMember struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	// Role is voter or nonvoter (a read replica).
	Role string `json:"role"`
	// Suffrage is the Raft suffrage: voter, nonvoter, staging, or none
	// (known to gossip, not in the Raft configuration).
	Suffrage   string `json:"suffrage"`
	RaftAddr   string `json:"raftAddr,omitempty"`
	APIAddr    string `json:"apiAddr,omitempty"`
	GossipAddr string `json:"gossipAddr,omitempty"`
	// Gossip is alive, suspect, dead, left or unknown.
	Gossip      string `json:"gossip"`
	GossipSince string `json:"gossipSince,omitempty"`
	Leader      bool   `json:"leader"`
	Self        bool   `json:"self"`
	// Reachable tells whether the member answered its status just now;
	// the fields below come from that answer.
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error,omitempty"`
	State        string `json:"state,omitempty"`
	AppliedIndex uint64 `json:"appliedIndex"`
	// Lag is how many entries the member trails the leader (-1 unknown).
	Lag    int64  `json:"lag"`
	Digest string `json:"digest,omitempty"`
	// LastContact is milliseconds since the member heard from the leader
	// (0 on the leader, -1 never or unknown).
	LastContact int64 `json:"lastContact"`
}

// Cluster reads the cluster membership as the node asked sees it.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	return call[Cluster](ctx, c, &request{method: http.MethodGet, path: "/v1/cluster"})
}

// RemoveNode removes a node from the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: "/v1/cluster/nodes/" + seg(id)}, nil)
	return err
}

// LeadershipTransfer is the answer to TransferLeadership.
type LeadershipTransfer struct {
	LeaderID         string `json:"leaderId"`
	PreviousLeaderID string `json:"previousLeaderId"`
}

// TransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is empty.
func (c *Client) TransferLeadership(ctx context.Context, id string) (*LeadershipTransfer, error) {
	body := map[string]string{}
	if id != "" {
		body["id"] = id
	}
	return call[LeadershipTransfer](ctx, c, &request{method: http.MethodPost, path: "/v1/cluster/transfer-leadership", body: body})
}

// SnapshotInfo describes a snapshot that was saved.
type SnapshotInfo struct {
	// Index is the Raft index the snapshot reflects.
	Index uint64 `json:"index"`
	// Bytes is the snapshot's size.
	Bytes int64 `json:"bytes"`
	// ServedBy is the node that took it.
	ServedBy string `json:"servedBy,omitempty"`
}

// Snapshot streams a snapshot of the replicated state to w (a backup).
// opts may ask for consistency=stale to take it on the node asked rather
// than the leader. The client's Timeout does not apply: ctx bounds the
// transfer.
func (c *Client) Snapshot(ctx context.Context, w io.Writer, opts *ReadOptions) (*SnapshotInfo, error) {
	q := url.Values{}
	opts.apply(q)
	resp, err := c.stream(ctx, http.MethodGet, "/v1/cluster/snapshot", q, nil, "")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET /v1/cluster/snapshot: after %d bytes: %w", n, err)
	}
	info := &SnapshotInfo{Bytes: n, ServedBy: resp.Header.Get("X-Trust-Served-By")}
	info.Index, _ = strconv.ParseUint(resp.Header.Get("X-Trust-Snapshot-Index"), 10, 64)
	return info, nil
}

// RestoreResult is the answer to Restore.
type RestoreResult struct {
	// Index is the Raft index the restored state took effect at.
	Index uint64 `json:"index"`
	// Sequence, Digest and SnapshotIndex describe the restored ledger.
	Sequence      uint64 `json:"sequence"`
	Digest        string `json:"digest"`
	SnapshotIndex uint64 `json:"snapshotIndex"`
	Bytes         int64  `json:"bytes"`
	RestoredAt    string `json:"restoredAt"`
}

// Restore replaces the replicated state of the whole cluster with the
// snapshot read from r. The client's Timeout does not apply: ctx bounds
// the transfer and the restore.
func (c *Client) Restore(ctx context.Context, r io.Reader) (*RestoreResult, error) {
	resp, err := c.stream(ctx, http.MethodPost, "/v1/cluster/restore", nil, r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var out RestoreResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&out); err != nil {
		return nil, fmt.Errorf("POST /v1/cluster/restore: decode answer: %w", err)
	}
	return &out, nil
}

// stream sends a request whose body or answer may be large and returns the
// 2xx response for the caller to read and close.
func (c *Client) stream(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	req, err := c.newRequest(ctx, method, path, &u, body, contentType, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, &request{method: method, path: path}, err)
	}
	c.noteAnswer(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		return nil, decodeError(method, path, resp, b)
	}
	return resp, nil
}

// ClusterCA is the answer to GET /v1/cluster/ca: the cluster CA clients
// and joining nodes pin.
type ClusterCA struct {
	// Certificate is the CA certificate, PEM.
	Certificate string `json:"certificate"`
	// Fingerprint is "sha256:" and the hex SHA-256 of its DER bytes.
	Fingerprint string `json:"fingerprint"`
}

// ClusterCA fetches the cluster CA certificate. It needs no token. Over
// plain HTTP, or over TLS without a pin, its answer proves nothing: check
// the fingerprint against one from a trusted source before relying on it.
func (c *Client) ClusterCA(ctx context.Context) (*ClusterCA, error) {
	return call[ClusterCA](ctx, c, &request{method: http.MethodGet, path: "/v1/cluster/ca"})
}

// IdentityRequest is the body of POST /v1/cluster/identity: a joining
// node's certificate request.
type IdentityRequest struct {
	NodeID string `json:"nodeId"`
	// CSR is the node's PEM certificate request.
	CSR   string `json:"csr"`
	Voter *bool  `json:"voter,omitempty"`
}

// IdentityGrant is the answer to RequestIdentity: what a joining node
// needs to take part in the cluster.
type IdentityGrant struct {
	NodeID string `json:"nodeId"`
	// Certificate is the node's PEM certificate, CACertificate the cluster
	// CA's.
	Certificate   string `json:"certificate"`
	CACertificate string `json:"caCertificate"`
	// GossipKeys are the gossip keyring, base64, the primary key first.
	GossipKeys []string `json:"gossipKeys"`
	// Members are the node ids of the Raft configuration.
	Members []string `json:"members"`
}

// RequestIdentity asks the cluster (any member; the leader answers) to
// sign a joining node's certificate request (operator role). The answer
// carries secrets: send it only over TLS with a pinned CA.
func (c *Client) RequestIdentity(ctx context.Context, req IdentityRequest) (*IdentityGrant, error) {
	return call[IdentityGrant](ctx, c, &request{method: http.MethodPost, path: "/v1/cluster/identity", body: req})
}

// Enrollment is the answer to GET /v1/cluster/enrollment on a node that
// has not joined yet.
type Enrollment struct {
	NodeID string `json:"nodeId"`
	// CSR is the node's PEM certificate request.
	CSR   string `json:"csr"`
	Voter bool   `json:"voter"`
	// EnrollmentKey is the fingerprint of the CSR's key, which the node
	// logs at start.
	EnrollmentKey string `json:"enrollmentKey"`
}

// Enrollment reads the certificate request of a node that has not joined
// yet (409 once it has an identity). It needs no token.
func (c *Client) Enrollment(ctx context.Context) (*Enrollment, error) {
	return call[Enrollment](ctx, c, &request{method: http.MethodGet, path: "/v1/cluster/enrollment"})
}

// Enroll installs on a node that has not joined yet the identity the
// cluster granted it (RequestIdentity's answer), over TLS. caFingerprint,
// when set, must be the granted CA's.
func (c *Client) Enroll(ctx context.Context, g *IdentityGrant, caFingerprint string) error {
	body := struct {
		*IdentityGrant
		CAFingerprint string `json:"caFingerprint,omitempty"`
	}{g, caFingerprint}
	_, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/cluster/enrollment", body: body}, nil)
	return err
}

// GossipKeyring is a node's gossip keyring as PUT /v1/cluster/gossip-keys
// answers it: key ids only, the primary first.
type GossipKeyring struct {
	NodeID  string   `json:"nodeId"`
	Primary string   `json:"primary"`
	Keys    []string `json:"keys"`
}

// SetGossipKeys replaces a member's gossip keyring (node to node, during a
// rotation; the caller authenticates with its node certificate, through a
// Config.HTTPClient that presents it). keys are base64, the primary first.
func (c *Client) SetGossipKeys(ctx context.Context, keys []string) (*GossipKeyring, error) {
	return call[GossipKeyring](ctx, c, &request{method: http.MethodPut, path: "/v1/cluster/gossip-keys",
		body: struct {
			Keys []string `json:"keys"`
		}{keys}})
}

// ClusterCAKey fetches the cluster CA's private key, PEM, from the leader
// (node to node, for a voter of the Raft configuration; the caller
// authenticates with its node certificate).
func (c *Client) ClusterCAKey(ctx context.Context) ([]byte, error) {
	out, err := call[struct {
		CAKey string `json:"caKey"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/cluster/ca-key"})
	if err != nil {
		return nil, err
	}
	return []byte(out.CAKey), nil
}

// ClusterCheckpointKey fetches the cluster's checkpoint signer key (a
// signed-note private key) from the leader (node to node, for a voter of
// the Raft configuration; the caller authenticates with its node
// certificate).
func (c *Client) ClusterCheckpointKey(ctx context.Context) (string, error) {
	out, err := call[struct {
		CheckpointKey string `json:"checkpointKey"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/cluster/checkpoint-key"})
	if err != nil {
		return "", err
	}
	return out.CheckpointKey, nil
}
