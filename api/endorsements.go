package api

import (
	"net/http"
	"net/url"

	"github.com/trustledger/trustledger/fsm"
)

// endorsementInput is the body of POST /v1/endorsements.
type endorsementInput struct {
	EndorserID string  `json:"endorserId"`
	EndorseeID string  `json:"endorseeId"`
	Weight     decimal `json:"weight"`
	Reason     string  `json:"reason"`
	ExpiresAt  string  `json:"expiresAt"`
}

// command checks the input rules of an endorsement; the ledger's rules
// (no self-endorsement, the policy's weight range, an expiry in the
// future, the principals, the budget) are asked before proposing.
func (in *endorsementInput) command() (*fsm.AddEndorsement, error) {
	var errs fieldErrors
	c := &fsm.AddEndorsement{
		EndorserID: errs.id("endorserId", in.EndorserID, true),
		EndorseeID: errs.id("endorseeId", in.EndorseeID, true),
		Weight:     errs.scaled("weight", in.Weight, false, 0, maxPoints),
		Reason:     errs.text("reason", in.Reason, false, fsm.MaxTextLen),
		ExpiresAt:  errs.timestamp("expiresAt", in.ExpiresAt, false),
	}
	return c, errs.err()
}

func (s *Server) addEndorsement(w http.ResponseWriter, r *http.Request) error {
	var in endorsementInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	cmd, err := in.command()
	if err != nil {
		return err
	}
	noteSubject(r, cmd.EndorseeID)
	if err := s.requireLeader(); err != nil {
		return err
	}
	if err := s.checkWrite(r, cmd); err != nil {
		// What the endorsement says on its own is input: 400.
		return inputFault(err)
	}
	res, err := s.propose(r, cmd)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/endorsements/"+url.PathEscape(res.ID))
	out := map[string]any{"index": res.Index, "endorsementId": res.ID}
	if e, ok := s.ledger().Endorsement(res.ID, s.evalTime(w, r)); ok {
		out["endorsement"] = e
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) getEndorsement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "endorsementId")
	if err != nil {
		return err
	}
	e, ok := s.ledger().Endorsement(id, s.evalTime(w, r))
	if !ok {
		return withCode(newProblem(ProblemNotFound, "endorsementId", "unknown endorsement %q", id), "not_found")
	}
	noteSubject(r, e.EndorseeID)
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) revokeEndorsement(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "endorsementId")
	if err != nil {
		return err
	}
	if e, ok := s.ledger().Endorsement(id, s.ledger().LedgerTime()); ok {
		noteSubject(r, e.EndorseeID)
	}
	res, err := s.proposeChecked(r, &fsm.RevokeEndorsement{EndorsementID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "endorsementId": id})
	return nil
}
