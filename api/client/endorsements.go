package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// EndorsementRequest is the body of POST /v1/endorsements.
type EndorsementRequest struct {
	EndorserID string `json:"endorserId"`
	EndorseeID string `json:"endorseeId"`
	// Weight is the bonus in points; empty means the policy's default.
	Weight json.Number `json:"weight,omitempty"`
	Reason string      `json:"reason,omitempty"`
	// ExpiresAt (RFC 3339) ends the endorsement; empty means never.
	ExpiresAt string `json:"expiresAt,omitempty"`
}

// EndorsementResult is the answer to Endorse.
type EndorsementResult struct {
	Index         uint64 `json:"index"`
	EndorsementID string `json:"endorsementId"`
	// Endorsement is the new endorsement, when the server includes it.
	Endorsement *Endorsement `json:"endorsement,omitempty"`
}

// Endorse has one principal vouch for another.
func (c *Client) Endorse(ctx context.Context, req EndorsementRequest) (*EndorsementResult, error) {
	return call[EndorsementResult](ctx, c, &request{method: http.MethodPost, path: "/v1/endorsements", body: req})
}

// GetEndorsement reads an endorsement, evaluated now or at opts.At
// (Counted says whether it adds to the endorsee's score then).
func (c *Client) GetEndorsement(ctx context.Context, endorsementID string, opts *ReadOptions) (*Endorsement, *Meta, error) {
	return read[Endorsement](ctx, c, &request{method: http.MethodGet, path: "/v1/endorsements/" + seg(endorsementID)}, opts)
}

// RevokeEndorsement revokes an endorsement.
func (c *Client) RevokeEndorsement(ctx context.Context, endorsementID string) (*WriteResult, error) {
	return call[WriteResult](ctx, c, &request{method: http.MethodDelete, path: "/v1/endorsements/" + seg(endorsementID)})
}
