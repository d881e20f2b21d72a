package api

import (
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// decisionInput is the body of POST /v1/decisions.
type decisionInput struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	Sensitivity string `json:"sensitivity"`
	// Context describes the request being decided (resource, network,
	// device...). It must be a JSON object; scoring model 1 does not use
	// it in decisions.
	Context jsonDoc `json:"context"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request) error {
	var in decisionInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	req := fsm.DecisionRequest{
		PrincipalID: errs.id("principalId", in.PrincipalID, true),
		Action:      errs.text("action", in.Action, true, fsm.MaxIDLen),
		Sensitivity: errs.oneOf("sensitivity", in.Sensitivity, true, fsm.Sensitivities),
	}
	in.Context.bytesOf(&errs, "context", '{', fsm.MaxJSONFieldBytes)
	if err := errs.err(); err != nil {
		return err
	}
	noteSubject(r, req.PrincipalID)
	d := s.ledger().Decide(req, s.evalTime(w, r))
	requestInfoFrom(r.Context()).decision = &d
	writeJSON(w, http.StatusOK, d)
	return nil
}
