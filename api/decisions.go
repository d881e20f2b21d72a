package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// decisionInput is the body of POST /v1/decisions.
type decisionInput struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	// Sensitivity may be left out for an action the policy maps.
	Sensitivity string `json:"sensitivity"`
	// Context describes the request being decided (device, network,
	// geography...): a JSON object the policy's context rules read.
	Context jsonDoc `json:"context"`
}

// decisionRequest checks a decision input and turns it into the ledger's
// request; ctx is the context's compact JSON.
func decisionRequest(in *decisionInput) (req fsm.DecisionRequest, ctx []byte, err error) {
	var errs fieldErrors
	req = fsm.DecisionRequest{
		PrincipalID: errs.id("principalId", in.PrincipalID, true),
		Action:      errs.text("action", in.Action, true, fsm.MaxIDLen),
		Sensitivity: errs.oneOf("sensitivity", in.Sensitivity, false, fsm.Sensitivities),
	}
	ctx = in.Context.bytesOf(&errs, "context", '{', fsm.MaxJSONFieldBytes)
	if err := errs.err(); err != nil {
		return req, nil, err
	}
	if req.Context, err = fsm.ParseContext(ctx); err != nil {
		return req, nil, newProblem(ProblemInvalidField, "context", "context: %v", err)
	}
	return req, ctx, nil
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) error {
	var in decisionInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	req, ctx, err := decisionRequest(&in)
	if err != nil {
		return err
	}
	noteSubject(r, req.PrincipalID)
	d, err := s.ledger().Decide(req, s.evalTime(w, r))
	if err != nil {
		return inputFault(err)
	}
	d.DecisionID = newDecisionID()
	info := requestInfoFrom(r.Context())
	info.decision, info.decisionContext = &d, ctx
	writeJSON(w, http.StatusOK, d)
	return nil
}

// newDecisionID returns a random UUID (version 4) for a decision.
func newDecisionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// decisionLog is what the audit event of a decision carries (docs/
// operations.md, "Decision logs"): enough to replay it at its ledger index.
func decisionLog(d *fsm.Decision, ctx []byte) map[string]any {
	sum := sha256.Sum256(ctx)
	codes := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		codes[i] = r.Code
	}
	m := map[string]any{"decisionId": d.DecisionID, "principalId": d.PrincipalID, "action": d.Action,
		"sensitivity": d.Sensitivity, "decision": d.Decision, "trustScore": d.TrustScore, "reasons": d.Reasons,
		"reasonCodes": codes, "requiredAuthentication": d.RequiredAuthentication, "policyVersion": d.PolicyVersion,
		"ledgerIndex": d.LedgerIndex, "evaluatedAt": d.EvaluatedAt, "contextDigest": "sha256:" + hex.EncodeToString(sum[:])}
	if d.RequiredPermission != "" {
		m["requiredPermission"] = d.RequiredPermission
	}
	if len(ctx) > 0 {
		m["context"] = json.RawMessage(ctx)
	}
	return m
}
