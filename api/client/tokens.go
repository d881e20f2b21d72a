package client

import (
	"context"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// Token roles (docs/api.md, "Authentication and roles").
const (
	RoleAdmin    = fsm.RoleAdmin
	RoleOperator = fsm.RoleOperator
	RoleWriter   = fsm.RoleWriter
	RoleReader   = fsm.RoleReader
	RolePartner  = fsm.RolePartner
	RoleAuditor  = fsm.RoleAuditor
	RoleGateway  = fsm.RoleGateway
)

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	// ID is the token's id; empty lets the server choose one.
	ID string `json:"id,omitempty"`
	// Role is one of the Role* constants.
	Role string `json:"role"`
	// PartnerID binds a partner token to one federation partner.
	PartnerID string `json:"partnerId,omitempty"`
	// Orgs scopes a writer token to organizations.
	Orgs        []string `json:"orgs,omitempty"`
	Description string   `json:"description,omitempty"`
}

// CreatedToken is a new token. Secret is shown only this once.
type CreatedToken struct {
	Index     uint64   `json:"index"`
	ID        string   `json:"id"`
	Secret    string   `json:"token"`
	Role      string   `json:"role,omitempty"`
	PartnerID string   `json:"partnerId,omitempty"`
	Orgs      []string `json:"orgs,omitempty"`
}

// Token describes a stored token (never its secret).
type Token struct {
	ID          string   `json:"id"`
	Role        string   `json:"role"`
	PartnerID   string   `json:"partnerId,omitempty"`
	Orgs        []string `json:"orgs,omitempty"`
	Description string   `json:"description,omitempty"`
	CreatedAt   string   `json:"createdAt,omitempty"`
	Revoked     bool     `json:"revoked"`
	RevokedAt   string   `json:"revokedAt,omitempty"`
}

// CreateToken creates an API token.
func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (*CreatedToken, error) {
	return call[CreatedToken](ctx, c, &request{method: http.MethodPost, path: "/v1/tokens", body: req})
}

// ListTokens lists the stored tokens.
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	out, err := call[struct {
		Tokens []Token `json:"tokens"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/tokens"})
	if err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken revokes a token; requests bearing it are refused from then
// on.
func (c *Client) RevokeToken(ctx context.Context, id string) (*WriteResult, error) {
	return call[WriteResult](ctx, c, &request{method: http.MethodDelete, path: "/v1/tokens/" + seg(id)})
}
