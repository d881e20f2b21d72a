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

// ProvenEntry is a ledger entry with its inclusion proof in the tree of
// the bundle's checkpoint.
type ProvenEntry struct {
	LedgerEntry
	// Proof is the entry's audit path (leaf index sequence − 1).
	Proof [][]byte `json:"proof"`
}

// PrincipalProof is the answer to GET /v1/principals/{id}/proof: a
// principal's record and what proves it (docs/verification.md,
// "Verifying a principal"). Verify it with the verify package or
// trustctl verify principal; the node's word for it proves nothing.
type PrincipalProof struct {
	PrincipalID string `json:"principalId"`
	// Checkpoint is the signed checkpoint note of the tree of TreeSize
	// entries.
	Checkpoint string `json:"checkpoint"`
	TreeSize   uint64 `json:"treeSize"`
	// Record is the principal's record (a Record) after TreeSize
	// entries, read at the ledger time of the entry at sequence TreeSize,
	// as the exact bytes a verifier's replay must reproduce.
	Record json.RawMessage `json:"record"`
	// Head is the entry at sequence TreeSize.
	Head ProvenEntry `json:"head"`
	// Entries are the entries the record depends on, in sequence order.
	Entries []ProvenEntry `json:"entries"`
}

// PrincipalProof fetches principal id's proof bundle (auditor role), at the
// node's newest entry, or at treeSize entries when it is not 0.
func (c *Client) PrincipalProof(ctx context.Context, id string, treeSize uint64) (*PrincipalProof, error) {
	q := url.Values{}
	if treeSize > 0 {
		q.Set("treeSize", strconv.FormatUint(treeSize, 10))
	}
	return call[PrincipalProof](ctx, c, &request{method: http.MethodGet, path: "/v1/principals/" + seg(id) + "/proof", query: q})
}
