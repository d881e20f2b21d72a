package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The ledger's Merkle tree (docs/verification.md). These calls fetch what
// a verifier needs; they verify nothing themselves: a client checks
// proofs against a checkpoint it verified with a key it pinned.

// InclusionProof is the audit path of one entry.
type InclusionProof struct {
	LeafIndex uint64   `json:"leafIndex"`
	TreeSize  uint64   `json:"treeSize"`
	Hashes    [][]byte `json:"hashes"`
}

// ConsistencyProof proves one tree size extends another.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// Checkpoint fetches a signed checkpoint note (GET /v1/ledger/checkpoint):
// the latest when treeSize is 0.
func (c *Client) Checkpoint(ctx context.Context, treeSize uint64) ([]byte, error) {
	q := url.Values{}
	if treeSize > 0 {
		q.Set("treeSize", strconv.FormatUint(treeSize, 10))
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, &request{method: http.MethodGet, path: "/v1/ledger/checkpoint", query: q}, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// CheckpointKey fetches the checkpoint verifier key, name+hash+keydata
// (GET /v1/ledger/checkpoint/key). Pin it: a key fetched from the server
// being verified proves nothing by itself.
func (c *Client) CheckpointKey(ctx context.Context) (string, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, &request{method: http.MethodGet, path: "/v1/ledger/checkpoint/key"}, &raw); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// InclusionProof fetches the audit path of the entry at sequence seq in the
// tree of treeSize entries (0: the node's tree size).
func (c *Client) InclusionProof(ctx context.Context, seq, treeSize uint64) (*InclusionProof, error) {
	q := url.Values{"sequence": {strconv.FormatUint(seq, 10)}}
	if treeSize > 0 {
		q.Set("treeSize", strconv.FormatUint(treeSize, 10))
	}
	return call[InclusionProof](ctx, c, &request{method: http.MethodGet, path: "/v1/ledger/proof/inclusion", query: q})
}

// ConsistencyProof fetches the proof that the tree of from entries is a
// prefix of the tree of to entries (0: the node's tree size).
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) (*ConsistencyProof, error) {
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if to > 0 {
		q.Set("to", strconv.FormatUint(to, 10))
	}
	return call[ConsistencyProof](ctx, c, &request{method: http.MethodGet, path: "/v1/ledger/proof/consistency", query: q})
}
