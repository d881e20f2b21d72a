package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Registration is the body of POST /v1/principals. Empty optional fields
// are left out, so the server's defaults apply (the baseline is inherited
// from the organization, else from the principal type).
type Registration struct {
	PrincipalID   string `json:"principalId"`
	PrincipalType string `json:"principalType"`
	OrgID         string `json:"orgId,omitempty"`
	// Scores are in points (0-100), rates in points per hour; any JSON
	// number, for example json.Number("72.5").
	BaseTrustScore    json.Number `json:"baseTrustScore,omitempty"`
	MinTrustScore     json.Number `json:"minTrustScore,omitempty"`
	MaxTrustScore     json.Number `json:"maxTrustScore,omitempty"`
	TrustDecayRate    json.Number `json:"trustDecayRate,omitempty"`
	TrustRecoveryRate json.Number `json:"trustRecoveryRate,omitempty"`
	// AssessmentFrequency is continuous, hourly, daily, weekly or monthly.
	AssessmentFrequency string `json:"assessmentFrequency,omitempty"`
	// IsActive defaults to true.
	IsActive *bool `json:"isActive,omitempty"`
	// Metadata is a JSON object.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// PrincipalUpdate is the body of PATCH /v1/principals/{id}; nil or empty
// fields are left unchanged.
type PrincipalUpdate struct {
	// OrgID moves the principal to another organization ("" to none).
	OrgID               *string         `json:"orgId,omitempty"`
	MinTrustScore       json.Number     `json:"minTrustScore,omitempty"`
	MaxTrustScore       json.Number     `json:"maxTrustScore,omitempty"`
	TrustDecayRate      json.Number     `json:"trustDecayRate,omitempty"`
	TrustRecoveryRate   json.Number     `json:"trustRecoveryRate,omitempty"`
	AssessmentFrequency string          `json:"assessmentFrequency,omitempty"`
	IsActive            *bool           `json:"isActive,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
}

// RecordResult is the answer to a write that returns the record.
type RecordResult struct {
	// Index is the ledger index the write committed at.
	Index  uint64  `json:"index"`
	Record *Record `json:"record"`
}

// RegisterPrincipal registers a principal and returns its first record.
func (c *Client) RegisterPrincipal(ctx context.Context, reg Registration) (*RecordResult, error) {
	return call[RecordResult](ctx, c, &request{method: http.MethodPost, path: "/v1/principals", body: reg})
}

// UpdatePrincipal changes a principal's settings.
func (c *Client) UpdatePrincipal(ctx context.Context, id string, upd PrincipalUpdate) (*RecordResult, error) {
	return call[RecordResult](ctx, c, &request{method: http.MethodPatch, path: "/v1/principals/" + seg(id), body: upd})
}

// GetPrincipal reads a principal's trust record. With opts it can read at
// another instant, at another consistency level, or block until the
// ledger passes an index.
func (c *Client) GetPrincipal(ctx context.Context, id string, opts *ReadOptions) (*Record, *Meta, error) {
	return read[Record](ctx, c, &request{method: http.MethodGet, path: "/v1/principals/" + seg(id)}, opts)
}

// ListFilter selects principals for ListPrincipals. Empty fields do not
// filter.
type ListFilter struct {
	// Type is a principal type (user, service, device, application,
	// network).
	Type string
	// Level is a trust level (untrusted, low, medium, high, verified).
	Level string
	// OrgID is an organization id.
	OrgID string
	// RequiresReview, when set, keeps principals whose requiresReview is
	// the given value.
	RequiresReview *bool
	// Overdue, when set, keeps principals whose assessmentOverdue (their
	// nextAssessmentAt passed without new evidence) is the given value.
	Overdue *bool
	// Limit is the page size; 0 means the server's default.
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
}

// PrincipalList is one page of ListPrincipals.
type PrincipalList struct {
	Principals []Record `json:"principals"`
	// NextCursor is empty on the last page.
	NextCursor string `json:"nextCursor"`
}

// ListPrincipals lists trust records matching f, ordered by principal id,
// one page at a time.
func (c *Client) ListPrincipals(ctx context.Context, f ListFilter, opts *ReadOptions) (*PrincipalList, *Meta, error) {
	q := url.Values{}
	setIf(q, "type", f.Type)
	setIf(q, "level", f.Level)
	setIf(q, "orgId", f.OrgID)
	if f.RequiresReview != nil {
		q.Set("requiresReview", strconv.FormatBool(*f.RequiresReview))
	}
	if f.Overdue != nil {
		q.Set("overdue", strconv.FormatBool(*f.Overdue))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	setIf(q, "cursor", f.Cursor)
	return read[PrincipalList](ctx, c, &request{method: http.MethodGet, path: "/v1/principals", query: q}, opts)
}

// History is a principal's score history.
type History struct {
	PrincipalID string         `json:"principalId"`
	History     []HistoryPoint `json:"history"`
}

// History reads a principal's score history, oldest first.
func (c *Client) History(ctx context.Context, id string, opts *ReadOptions) (*History, *Meta, error) {
	return read[History](ctx, c, &request{method: http.MethodGet, path: "/v1/principals/" + seg(id) + "/history"}, opts)
}

// Page selects a range of ledger entries: those with a sequence number
// above After, at most Limit of them (0: the server's default).
type Page struct {
	After uint64
	Limit int
}

func (p Page) apply(q url.Values) {
	if p.After > 0 {
		q.Set("after", strconv.FormatUint(p.After, 10))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
}

// Events is a page of a principal's ledger entries.
type Events struct {
	Entries []LedgerEntry `json:"entries"`
	// Next is the sequence to pass as Page.After for the next page, when
	// the server gives one.
	Next uint64 `json:"next,omitempty"`
}

// Events reads the ledger entries about a principal.
func (c *Client) Events(ctx context.Context, id string, page Page, opts *ReadOptions) (*Events, *Meta, error) {
	q := url.Values{}
	page.apply(q)
	return read[Events](ctx, c, &request{method: http.MethodGet, path: "/v1/principals/" + seg(id) + "/events", query: q}, opts)
}

func setIf(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}
