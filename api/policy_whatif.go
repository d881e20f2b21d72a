package api

import (
	"encoding/json"
	"net/http"
)

// whatIfInput is the body of POST /v1/policy/simulate: a proposed policy
// (as PUT /v1/policy takes it: what is left out stays as it is) and the
// request to decide for every principal with it.
type whatIfInput struct {
	Policy      json.RawMessage `json:"policy"`
	Action      string          `json:"action"`
	Sensitivity string          `json:"sensitivity"`
	Context     jsonDoc         `json:"context"`
	// Limit is how many changes to list (default 100, at most 1000).
	Limit *int `json:"limit"`
}

// simulatePolicy answers what a proposed policy would change: every
// principal's decision for the request under the policy in force and under
// the proposed one, nothing written (Entra's What If, for trust policies).
func (s *Server) simulatePolicy(w http.ResponseWriter, r *http.Request) error {
	var in whatIfInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	limit := 100
	var errs fieldErrors
	if in.Limit != nil {
		if *in.Limit < 0 || *in.Limit > 1000 {
			errs.invalid("limit", "must be within [0, 1000]")
		}
		limit = *in.Limit
	}
	if len(in.Policy) == 0 || jsonKind(in.Policy) != "object" {
		errs.invalid("policy", "must be a policy object, as PUT /v1/policy takes it")
	}
	req, _, err := decisionRequest(&decisionInput{PrincipalID: "what-if", Action: in.Action, Sensitivity: in.Sensitivity, Context: in.Context})
	if err != nil {
		return err
	}
	if err := errs.err(); err != nil {
		return err
	}
	l := s.ledger()
	cur := l.Policy()
	pol, _, err := proposedPolicy(&cur, in.Policy, "policy.")
	if err != nil {
		return err
	}
	out, err := l.PolicyWhatIf(&pol, req, s.evalTime(w, r), limit, r.Context().Done())
	if err != nil {
		return inputFault(err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
