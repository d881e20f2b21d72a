package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// ModifierRequest is the body of POST /v1/principals/{id}/modifiers: a
// temporary adjustment of the score, in points, until ExpiresAt (RFC 3339).
type ModifierRequest struct {
	Amount    json.Number `json:"amount"`
	Reason    string      `json:"reason"`
	ExpiresAt string      `json:"expiresAt"`
}

// ModifierResult is the answer to AddModifier.
type ModifierResult struct {
	Index      uint64  `json:"index"`
	ModifierID string  `json:"modifierId"`
	Record     *Record `json:"record"`
}

// AddModifier adds a temporary modifier to a principal's score (analyst
// role).
func (c *Client) AddModifier(ctx context.Context, principalID string, req ModifierRequest) (*ModifierResult, error) {
	return call[ModifierResult](ctx, c, &request{method: http.MethodPost, path: "/v1/principals/" + seg(principalID) + "/modifiers", body: req})
}

// RemoveModifier removes a modifier before it expires (analyst role).
func (c *Client) RemoveModifier(ctx context.Context, principalID, modifierID string) (*RecordResult, error) {
	return call[RecordResult](ctx, c, &request{method: http.MethodDelete,
		path: "/v1/principals/" + seg(principalID) + "/modifiers/" + seg(modifierID)})
}
