package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// Decisions.
const (
	DecisionAllow  = fsm.DecisionAllow
	DecisionStepUp = fsm.DecisionStepUp
	DecisionDeny   = fsm.DecisionDeny
)

// DecisionRequest is the body of POST /v1/decisions.
type DecisionRequest struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	// Sensitivity is low, medium, high or critical; it may be left empty
	// for an action the policy maps (and only raises the action's).
	Sensitivity string `json:"sensitivity,omitempty"`
	// Context is any JSON object describing the request.
	Context json.RawMessage `json:"context,omitempty"`
}

// Decide asks for an access decision. opts may set the evaluation instant
// and the consistency level.
func (c *Client) Decide(ctx context.Context, req DecisionRequest, opts *ReadOptions) (*Decision, *Meta, error) {
	return read[Decision](ctx, c, &request{method: http.MethodPost, path: "/v1/decisions", body: req}, opts)
}

// SimulateRequest is the body of POST /v1/simulate: hypothetical signals
// and a factor report applied to a scratch copy of the state. The signals'
// EventID may be left empty.
type SimulateRequest struct {
	PrincipalID string   `json:"principalId"`
	Signals     []Signal `json:"signals,omitempty"`
	Factors     *Factors `json:"factors,omitempty"`
}

// Simulation is what a principal's record would be after the hypothetical
// events; nothing was written.
type Simulation struct {
	PrincipalID string `json:"principalId"`
	// Before is the score before the hypothetical events.
	Before SimulatedScore `json:"before"`
	// Baseline is Before under its first name, which read as the record's
	// baseline. Deprecated: use Before; removed in API v2.
	Baseline SimulatedScore `json:"baseline"`
	// Record is the record after them.
	Record *Record `json:"record"`
	// Delta is Record.TrustScore minus Before.TrustScore.
	Delta int64 `json:"delta"`
	// Signals has the outcome of each hypothetical signal.
	Signals []SignalResult `json:"signals"`
	// Factors is the outcome of the hypothetical factor report, if any.
	Factors *SimulatedStep `json:"factors,omitempty"`
}

// SimulatedScore is a score and its breakdown.
type SimulatedScore struct {
	TrustScore      int64           `json:"trustScore"`
	TrustLevel      string          `json:"trustLevel"`
	ScoreComponents ScoreComponents `json:"scoreComponents"`
}

// SimulatedStep is the outcome of one hypothetical command.
type SimulatedStep struct {
	// Status is applied or rejected.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Simulate answers what a principal's record would be after hypothetical
// signals and factors, without writing anything. opts.At evaluates at
// another instant (for example a day later, to see recovery).
func (c *Client) Simulate(ctx context.Context, req SimulateRequest, opts *ReadOptions) (*Simulation, *Meta, error) {
	return read[Simulation](ctx, c, &request{method: http.MethodPost, path: "/v1/simulate", body: req}, opts)
}
