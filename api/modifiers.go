package api

import (
	"errors"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// modifierInput is the body of POST /v1/principals/{id}/modifiers: a
// temporary adjustment of the score, in points, until expiresAt.
type modifierInput struct {
	Amount    decimal `json:"amount"`
	Reason    string  `json:"reason"`
	ExpiresAt string  `json:"expiresAt"`
}

// addModifier adds a temporary modifier (docs/scoring.md, "Temporary
// modifiers"); the ledger checks the amount, the expiry and the limit of
// modifiers in force.
func (s *Server) addModifier(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	var in modifierInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	cmd := &fsm.AddModifier{PrincipalID: id, Delta: errs.scaled("amount", in.Amount, true, -maxPoints, maxPoints).V,
		Reason: errs.text("reason", in.Reason, true, fsm.MaxTextLen), ExpiresAt: errs.timestamp("expiresAt", in.ExpiresAt, true)}
	if err := errs.err(); err != nil {
		return err
	}
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return inputFault(renameField(err, "delta", "amount"))
	}
	rec, _ := s.ledger().Record(id, s.evalTime(w, r))
	writeJSON(w, http.StatusCreated, map[string]any{"index": res.Index, "modifierId": res.ID, "record": rec})
	return nil
}

// removeModifier removes a modifier in force.
func (s *Server) removeModifier(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	mod, err := pathID(r, "modifierId", "modifierId")
	if err != nil {
		return err
	}
	res, err := s.proposeChecked(r, &fsm.RemoveModifier{PrincipalID: id, ModifierID: mod})
	if err != nil {
		return err
	}
	s.writeRecord(w, r, http.StatusOK, res.Index, id)
	return nil
}

// renameField names, in a ledger rejection, the API's field for the
// ledger's.
func renameField(err error, from, to string) error {
	var rej *fsm.RejectError
	if errors.As(err, &rej) && rej.Field == from {
		c := *rej
		c.Field = to
		return &c
	}
	var p *Problem
	if errors.As(err, &p) && p.Field == from {
		q := *p
		q.Field = to
		return &q
	}
	return err
}
