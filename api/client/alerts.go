package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/trustledger/trustledger/fsm"
)

// Review actions for alerts and detections.
const (
	ReviewAcknowledge        = fsm.ReviewAcknowledge
	ReviewRemediate          = fsm.ReviewRemediate
	ReviewDismiss            = fsm.ReviewDismiss
	ReviewConfirmCompromised = fsm.ReviewConfirmCompromised
	ReviewConfirmSafe        = fsm.ReviewConfirmSafe
)

// ReviewActionFor returns the review action that sets alert status
// status (confirmed_safe → confirm-safe, remediated → remediate), for
// callers that name the outcome rather than the action.
func ReviewActionFor(status string) (string, bool) {
	if status == fsm.AlertRemediated {
		return ReviewRemediate, true
	}
	return fsm.ReviewActionFor(status)
}

// AlertFilter selects alerts; empty fields do not filter.
type AlertFilter struct {
	// Status is open, acknowledged, remediated, dismissed,
	// confirmed_compromised or confirmed_safe.
	Status      string
	PrincipalID string
}

// Alerts lists trust alerts.
func (c *Client) Alerts(ctx context.Context, f AlertFilter, opts *ReadOptions) ([]Alert, *Meta, error) {
	q := url.Values{}
	setIf(q, "status", f.Status)
	setIf(q, "principalId", f.PrincipalID)
	out, meta, err := read[struct {
		Alerts []Alert `json:"alerts"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/alerts", query: q}, opts)
	if err != nil {
		return nil, meta, err
	}
	return out.Alerts, meta, nil
}

// Review is the body of POST /v1/alerts/{id}/review.
type Review struct {
	// Action is one of the Review* constants.
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
}

// ReviewResult is the answer to ReviewAlert.
type ReviewResult struct {
	Index uint64 `json:"index"`
	// Alert is the alert after the review, when the server includes it.
	Alert *Alert `json:"alert,omitempty"`
}

// ReviewAlert records an operator's review of an alert.
func (c *Client) ReviewAlert(ctx context.Context, alertID string, r Review) (*ReviewResult, error) {
	return call[ReviewResult](ctx, c, &request{method: http.MethodPost, path: "/v1/alerts/" + seg(alertID) + "/review", body: r})
}
