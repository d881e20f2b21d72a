package api

import (
	"errors"
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// The ledger's rules live in fsm, once: before it proposes a write, the
// API asks the ledger (fsm.Ledger.Check) whether it would accept it, so a
// write the ledger would refuse is refused with the problem the refusal
// maps to (problemFor) and nothing is written. Apply checks again: the
// state may change in between.

// stamp is the ledger time of an entry proposed now: the leader stamps
// entries with its clock.
func (s *Server) stamp() int64 { return s.cfg.Now().UnixMilli() }

// checkWrite asks the ledger whether it would accept cmd from the
// request's token.
func (s *Server) checkWrite(r *http.Request, cmd fsm.Command) error {
	return s.ledger().Check(cmd, requestInfoFrom(r.Context()).tokenID(), s.stamp())
}

// proposeChecked proposes cmd from the leader once the ledger's rules
// accept it: a follower answers not-leader (the router forwards writes,
// so this is the race of a leadership change), then the rules decide.
func (s *Server) proposeChecked(r *http.Request, cmd fsm.Command) (*fsm.Result, error) {
	if err := s.requireLeader(); err != nil {
		return nil, err
	}
	if err := s.checkWrite(r, cmd); err != nil {
		return nil, err
	}
	return s.propose(r, cmd)
}

// checkSignals asks the ledger what it would do with each signal of a
// batch, whose signals' fields are named with prefixes. It refuses the
// batch when a signal is outside the token's organizations (403, as
// every scoped write), and when every signal would be rejected: such a
// batch would change nothing, so it is not written; the problem is the
// one of the first signal's reason (404 for an unknown principal, 422 for
// an observedAt outside the window), listing every signal's reason in
// errors.
func (s *Server) checkSignals(r *http.Request, c *fsm.RecordSignals, prefixes []string) error {
	checks, err := s.ledger().CheckSignals(c, requestInfoFrom(r.Context()).tokenID(), s.stamp())
	if err != nil {
		return err
	}
	var rejected fieldErrors
	for i, chk := range checks {
		if chk.Status != fsm.StatusRejected {
			continue
		}
		f := rejectFault(prefixes[i], chk.Err)
		if chk.Err.Code == "scope" {
			return (&fieldErrors{list: []FieldError{f}}).err()
		}
		rejected.list = append(rejected.list, f)
	}
	if len(rejected.list) < len(checks) {
		return nil
	}
	return rejected.err()
}

// rejectFault is a ledger rejection as a fault of the input at prefix.
func rejectFault(prefix string, rej *fsm.RejectError) FieldError {
	return FieldError{Field: prefix + rej.Field, Code: rej.Code, Detail: rej.Reason, kind: rejectKind(rej.Code)}
}

// inputFault answers an invalid rejection of a command that the ledger
// refuses for what it says, whatever the state, as a fault of the request:
// 400 invalid-field naming the field.
func inputFault(err error) error {
	var rej *fsm.RejectError
	if errors.As(err, &rej) && rej.Code == "invalid" {
		return withCode(newProblem(ProblemInvalidField, rej.Field, "%s: %s", rej.Field, rej.Reason), rej.Code)
	}
	return err
}
