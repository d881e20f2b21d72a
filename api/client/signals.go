package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// Signal categories: the five score components.
const (
	CategoryAuthentication = fsm.CategoryAuthentication
	CategoryBehavior       = fsm.CategoryBehavior
	CategoryCompliance     = fsm.CategoryCompliance
	CategoryHistory        = fsm.CategoryHistory
	CategoryContext        = fsm.CategoryContext
)

// Signal is one trust signal.
type Signal struct {
	// EventID makes the signal idempotent: a repeated id is acknowledged
	// as a duplicate and not applied again within the dedup window. It is
	// required by SendSignals, optional in a SimulateRequest.
	EventID     string `json:"eventId,omitempty"`
	PrincipalID string `json:"principalId"`
	// Event names what happened, for example "login_success".
	Event string `json:"event"`
	// Category is one of the Category* constants.
	Category string `json:"category"`
	// Impact is the signed effect in points, for example
	// json.Number("-10").
	Impact json.Number `json:"impact"`
	// ObservedAt is when the source saw the event (RFC 3339), if known.
	ObservedAt string `json:"observedAt,omitempty"`
	// Attributes is any JSON object the source attaches.
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// Signal result statuses.
const (
	SignalAccepted  = fsm.StatusAccepted
	SignalDuplicate = fsm.StatusDuplicate
	SignalRejected  = fsm.StatusRejected
)

// SignalResult is the outcome of one signal of a batch: its Status is one
// of the Signal* statuses, and Reason says why a signal was rejected.
type SignalResult = fsm.SignalResult

// SignalsResult is the answer to SendSignals.
type SignalsResult struct {
	// Index is the ledger index the batch committed at.
	Index uint64 `json:"index"`
	// Results has one entry per signal, in the order sent.
	Results []SignalResult `json:"results"`
}

// Counts returns how many signals were accepted, duplicate and rejected.
func (r *SignalsResult) Counts() (accepted, duplicate, rejected int) {
	for _, s := range r.Results {
		switch s.Status {
		case SignalAccepted:
			accepted++
		case SignalDuplicate:
			duplicate++
		default:
			rejected++
		}
	}
	return accepted, duplicate, rejected
}

// SendSignals records a batch of signals as one ledger entry. A signal the
// ledger rejects does not fail the batch: look at each result.
func (c *Client) SendSignals(ctx context.Context, signals []Signal) (*SignalsResult, error) {
	body := struct {
		Signals []Signal `json:"signals"`
	}{signals}
	return call[SignalsResult](ctx, c, &request{method: http.MethodPost, path: "/v1/signals", body: body})
}

// Producer names the producer session of an idempotent batch (docs/api.md,
// "Signals and idempotency"): Epoch is the session's start (Unix ms), kept
// for all its batches; Sequence numbers them from 1.
type Producer struct {
	ID       string `json:"id"`
	Epoch    int64  `json:"epoch"`
	Sequence uint64 `json:"sequence"`
}

// SendBatch records a batch of a producer session as one ledger entry: it
// is applied at most once however often, and however late, it is sent in
// its session; a batch the ledger can no longer judge is refused (409).
func (c *Client) SendBatch(ctx context.Context, signals []Signal, p Producer) (*SignalsResult, error) {
	body := struct {
		Signals  []Signal `json:"signals"`
		Producer Producer `json:"producer"`
	}{signals, p}
	return call[SignalsResult](ctx, c, &request{method: http.MethodPost, path: "/v1/signals", body: body})
}

// Factors is a factor report. Each present field replaces the principal's
// previous report of that kind; riskIndicators is a JSON array, the others
// JSON objects.
type Factors struct {
	AuthenticationFactors json.RawMessage `json:"authenticationFactors,omitempty"`
	BehaviorMetrics       json.RawMessage `json:"behaviorMetrics,omitempty"`
	ComplianceStatus      json.RawMessage `json:"complianceStatus,omitempty"`
	RiskIndicators        json.RawMessage `json:"riskIndicators,omitempty"`
	Context               json.RawMessage `json:"context,omitempty"`
}

// SetFactors reports a principal's factors (PUT /v1/principals/{id}/factors).
func (c *Client) SetFactors(ctx context.Context, principalID string, f Factors) (*RecordResult, error) {
	return call[RecordResult](ctx, c, &request{method: http.MethodPut, path: "/v1/principals/" + seg(principalID) + "/factors", body: f})
}
