package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/trustledger/trustledger/fsm"
)

// Status is a node's view of itself and the ledger (GET /v1/status).
type Status struct {
	NodeID string `json:"nodeId"`
	// State is leader, follower, candidate or shutdown.
	State        string `json:"state"`
	LeaderID     string `json:"leaderId"`
	AppliedIndex uint64 `json:"appliedIndex"`
	// Digest is the running SHA-256 state digest: nodes at the same
	// applied index report the same digest.
	Digest string `json:"digest"`
	Region string `json:"region"`
	// LeaderAddr is the leader's Raft address.
	LeaderAddr string `json:"leaderAddr,omitempty"`
	// Sequence is the number of ledger events applied.
	Sequence uint64 `json:"sequence"`
	// LedgerTime is the ledger clock (RFC 3339): it never runs backwards.
	LedgerTime string `json:"ledgerTime"`
	Principals int64  `json:"principals"`
	// Producers counts the idempotent producer sessions the ledger keeps.
	Producers     int64 `json:"producers"`
	PolicyVersion int64 `json:"policyVersion"`
	ModelVersion  int64 `json:"modelVersion"`
	// LastContact is milliseconds since the node last heard from the
	// leader: 0 on the leader, -1 when it never has.
	LastContact int64 `json:"lastContact"`
	// Counters are running totals of ledger activity.
	Counters map[string]int64 `json:"counters,omitempty"`
	Version  string           `json:"version,omitempty"`
}

// Status reads the node's status.
func (c *Client) Status(ctx context.Context) (*Status, *Meta, error) {
	return read[Status](ctx, c, &request{method: http.MethodGet, path: "/v1/status"}, nil)
}

// Health checks liveness (GET /healthz): nil when the node answers 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/healthz"}, nil)
	return err
}

// Ready checks readiness (GET /readyz): nil when the node has a leader and
// has caught up; otherwise an *Error, usually with status 503.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/readyz"}, nil)
	return err
}

// RaisedAlert names an alert a ledger entry raised and its principal.
type RaisedAlert = fsm.RaisedAlert

// LedgerEntry is one applied ledger entry.
type LedgerEntry struct {
	// Sequence numbers ledger events (unlike the Raft index, it does not
	// count configuration and no-op entries).
	Sequence uint64 `json:"sequence"`
	Index    uint64 `json:"index"`
	Time     string `json:"time"`
	// Kind names the command, for example record_signals.
	Kind  string `json:"kind"`
	Actor string `json:"actor,omitempty"`
	// Status is applied or rejected.
	Status   string        `json:"status"`
	Error    string        `json:"error,omitempty"`
	Subjects []string      `json:"subjects,omitempty"`
	Alerts   []RaisedAlert `json:"alerts,omitempty"` // the alerts it raised, in order (ids a verifier's replay reuses)
	// Command is the command as JSON (secrets redacted).
	Command json.RawMessage `json:"command,omitempty"`
	// Leaf is the exact bytes hashed into the ledger's Merkle tree: verify
	// it with an inclusion proof, and read the entry from it
	// (docs/verification.md).
	Leaf []byte `json:"leaf"`
}

// LedgerPage is a page of the ledger.
type LedgerPage struct {
	Entries []LedgerEntry `json:"entries"`
	// Next is the sequence to pass as Page.After for the following page.
	Next uint64 `json:"next"`
}

// Ledger reads ledger entries after a sequence number.
func (c *Client) Ledger(ctx context.Context, page Page, opts *ReadOptions) (*LedgerPage, *Meta, error) {
	q := url.Values{}
	page.apply(q)
	return read[LedgerPage](ctx, c, &request{method: http.MethodGet, path: "/v1/ledger", query: q}, opts)
}

// ImportResult is the answer to Import.
type ImportResult struct {
	// Index is the ledger index of the last record committed.
	Index uint64 `json:"index"`
	// Imported counts the records imported.
	Imported int `json:"imported"`
	// Results has one entry per record, in the order sent.
	Results []ImportedRecord `json:"results"`
}

// ImportedRecord is the outcome of importing one record.
type ImportedRecord struct {
	PrincipalID string `json:"principalId"`
	// Status is ImportImported or ImportRejected.
	Status string `json:"status"`
	Index  uint64 `json:"index,omitempty"`
	// Code, Field and Reason say why a record was rejected (for example
	// code conflict when the principal exists).
	Code   string `json:"code,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Warnings note what was normalised or dropped on the way in.
	Warnings []string `json:"warnings,omitempty"`
}

// MaxImportBatch is the most records one Import call may carry.
const MaxImportBatch = 1000

// Import imports PrincipalTrust records in the original format (each a
// JSON object; JSON-typed properties may be native JSON or JSON in a
// string). A record the ledger refuses (say, an existing principal) is
// reported in its result; a malformed record fails the whole call.
func (c *Client) Import(ctx context.Context, records []json.RawMessage) (*ImportResult, error) {
	body := struct {
		Records []json.RawMessage `json:"records"`
	}{records}
	return call[ImportResult](ctx, c, &request{method: http.MethodPost, path: "/v1/import", body: body})
}

// Import statuses of a record (ImportedRecord.Status).
const (
	ImportImported = "imported"
	ImportRejected = "rejected"
)
