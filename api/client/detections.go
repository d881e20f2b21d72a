package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/trustledger/trustledger/fsm"
)

// Detection states (docs/scoring.md, "12. Detections and review").
const (
	DetectionOpen                 = fsm.AlertOpen
	DetectionAcknowledged         = fsm.AlertAcknowledged
	DetectionRemediated           = fsm.AlertRemediated
	DetectionDismissed            = fsm.AlertDismissed
	DetectionConfirmedCompromised = fsm.AlertConfirmedCompromised
	DetectionConfirmedSafe        = fsm.AlertConfirmedSafe
)

// Detection sources: what raised a detection.
const (
	SourceRule    = fsm.SourceRule    // a ledger rule over the principal's evidence
	SourceSignal  = fsm.SourceSignal  // an event's own content (an anomaly score)
	SourcePartner = fsm.SourcePartner // a federation partner's SET
	SourceImport  = fsm.SourceImport  // an imported record that required review
)

// DetectionFilter selects detections; empty fields do not filter.
type DetectionFilter struct {
	// State is open, acknowledged, remediated, dismissed,
	// confirmed_compromised or confirmed_safe.
	State       string
	PrincipalID string
	// Type is a detection type, such as sharp_drop or anomaly_score.
	Type string
	// Source is rule, signal, partner or import.
	Source string
}

// Detections lists detections, by principal id then in the order they
// were raised.
func (c *Client) Detections(ctx context.Context, f DetectionFilter, opts *ReadOptions) ([]Detection, *Meta, error) {
	q := url.Values{}
	setIf(q, "state", f.State)
	setIf(q, "principalId", f.PrincipalID)
	setIf(q, "type", f.Type)
	setIf(q, "source", f.Source)
	out, meta, err := read[struct {
		Detections []Detection `json:"detections"`
	}](ctx, c, &request{method: http.MethodGet, path: "/v1/detections", query: q}, opts)
	if err != nil {
		return nil, meta, err
	}
	return out.Detections, meta, nil
}

// Detection reads one detection; IsNotFound(err) when there is none of
// that id.
func (c *Client) Detection(ctx context.Context, id string, opts *ReadOptions) (*Detection, *Meta, error) {
	return read[Detection](ctx, c, &request{method: http.MethodGet, path: "/v1/detections/" + seg(id)}, opts)
}

// DetectionReview is the body of POST /v1/detections/{id}/review.
type DetectionReview struct {
	// Action is one of the Review* constants.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// DetectionReviewResult is the answer to ReviewDetection.
type DetectionReviewResult struct {
	Index uint64 `json:"index"`
	// Detection is the detection after the review, when the server
	// includes it.
	Detection *Detection `json:"detection,omitempty"`
}

// ReviewDetection records an analyst's review of a detection (analyst
// role). The server refuses, with 409 Conflict, an action its review state
// machine does not allow from the detection's state.
func (c *Client) ReviewDetection(ctx context.Context, id, action, reason string) (*DetectionReviewResult, error) {
	return call[DetectionReviewResult](ctx, c, &request{method: http.MethodPost, path: "/v1/detections/" + seg(id) + "/review",
		body: DetectionReview{Action: action, Reason: reason}})
}
