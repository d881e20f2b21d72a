package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// GetPolicy reads the scoring and decision policy as the server writes it.
func (c *Client) GetPolicy(ctx context.Context, opts *ReadOptions) (json.RawMessage, *Meta, error) {
	out, meta, err := read[json.RawMessage](ctx, c, &request{method: http.MethodGet, path: "/v1/policy"}, opts)
	if err != nil {
		return nil, meta, err
	}
	return *out, meta, nil
}

// PolicyResult is the answer to SetPolicy.
type PolicyResult struct {
	// Index is the ledger index the policy took effect at.
	Index uint64 `json:"index"`
	// Changed is false when the document changed nothing (nothing was
	// written).
	Changed bool `json:"changed"`
	// Policy is the policy now in force.
	Policy json.RawMessage `json:"policy,omitempty"`
}

// SetPolicy changes the policy with a JSON document in the shape GetPolicy
// returns: fields left out keep their values, arrays given replace the
// old ones whole. With "version" set, the change is refused (409) unless
// the policy is still at that version. The change is a ledger command.
func (c *Client) SetPolicy(ctx context.Context, policy json.RawMessage) (*PolicyResult, error) {
	return call[PolicyResult](ctx, c, &request{method: http.MethodPut, path: "/v1/policy", raw: policy})
}
