package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// OrgSpec is the body of PUT /v1/orgs/{orgId}.
type OrgSpec struct {
	BaseTrustScore json.Number `json:"baseTrustScore"`
	Name           string      `json:"name,omitempty"`
}

// WriteResult is the answer to a write: the ledger index it committed at.
type WriteResult struct {
	Index uint64 `json:"index"`
}

// OrgResult is the answer to PutOrg.
type OrgResult struct {
	Index uint64 `json:"index"`
	Org   *Org   `json:"org"`
}

// PutOrg creates or changes an organization's baseline. Principals
// registered in it afterwards inherit the baseline.
func (c *Client) PutOrg(ctx context.Context, orgID string, spec OrgSpec) (*OrgResult, error) {
	return call[OrgResult](ctx, c, &request{method: http.MethodPut, path: "/v1/orgs/" + seg(orgID), body: spec})
}

// GetOrg reads an organization.
func (c *Client) GetOrg(ctx context.Context, orgID string, opts *ReadOptions) (*Org, *Meta, error) {
	return read[Org](ctx, c, &request{method: http.MethodGet, path: "/v1/orgs/" + seg(orgID)}, opts)
}
