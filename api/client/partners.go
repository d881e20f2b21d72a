package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// PartnerSpec is the body of PUT /v1/federation/partners/{partnerId}: a
// federation partner whose signed assessments (Security Event Tokens) blend
// into trust scores.
type PartnerSpec struct {
	// Issuer and Audience are matched against the SETs' iss and aud.
	Issuer   string `json:"issuer"`
	Audience string `json:"audience"`
	// JWKS is the partner's public keys: {"keys": [JWK, ...]}.
	JWKS json.RawMessage `json:"jwks"`
	// Weight (0-1) is how much the partner's assessments count.
	Weight json.Number `json:"weight"`
	// MaxInfluence bounds the partner's effect on a score, in points.
	MaxInfluence json.Number `json:"maxInfluence"`
	// Status is active (default) or suspended.
	Status string `json:"status,omitempty"`
	// RateLimit is SETs per second accepted from the partner; nil means
	// the server's default.
	RateLimit *int64 `json:"rateLimit,omitempty"`
}

// PartnerResult is the answer to PutPartner.
type PartnerResult struct {
	Index   uint64   `json:"index"`
	Partner *Partner `json:"partner"`
}

// PutPartner registers or replaces a federation partner.
func (c *Client) PutPartner(ctx context.Context, partnerID string, spec PartnerSpec) (*PartnerResult, error) {
	return call[PartnerResult](ctx, c, &request{method: http.MethodPut, path: "/v1/federation/partners/" + seg(partnerID), body: spec})
}

// GetPartner reads a federation partner.
func (c *Client) GetPartner(ctx context.Context, partnerID string, opts *ReadOptions) (*Partner, *Meta, error) {
	return read[Partner](ctx, c, &request{method: http.MethodGet, path: "/v1/federation/partners/" + seg(partnerID)}, opts)
}

// ListPartners lists the federation partners.
func (c *Client) ListPartners(ctx context.Context, opts *ReadOptions) ([]Partner, *Meta, error) {
	out, meta, err := read[struct {
		Partners []Partner `json:"partners"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/federation/partners"}, opts)
	if err != nil {
		return nil, meta, err
	}
	return out.Partners, meta, nil
}

// RemovePartner removes a federation partner; its assessments stop
// counting.
func (c *Client) RemovePartner(ctx context.Context, partnerID string) (*WriteResult, error) {
	return call[WriteResult](ctx, c, &request{method: http.MethodDelete, path: "/v1/federation/partners/" + seg(partnerID)})
}
