package api

import (
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

var alertStatuses = []string{fsm.AlertOpen, fsm.AlertAcknowledged, fsm.AlertDismissed,
	fsm.AlertConfirmedCompromised, fsm.AlertConfirmedSafe}

var reviewActions = []string{fsm.ReviewAcknowledge, fsm.ReviewDismiss, fsm.ReviewConfirmCompromised, fsm.ReviewConfirmSafe}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var errs fieldErrors
	status := errs.oneOf("status", q.Get("status"), false, alertStatuses)
	pid := errs.id("principalId", q.Get("principalId"), false)
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	if pid != "" {
		noteSubject(r, pid)
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": s.ledger().Alerts(status, pid)})
	return nil
}

// reviewInput is the body of POST /v1/alerts/{id}/review.
type reviewInput struct {
	Action string `json:"action"`
	Note   string `json:"note"`
}

func (s *Server) reviewAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "alertId")
	if err != nil {
		return err
	}
	var in reviewInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	cmd := &fsm.ReviewAlert{
		AlertID: id,
		Action:  errs.oneOf("action", in.Action, true, reviewActions),
		Note:    errs.text("note", in.Note, false, fsm.MaxTextLen),
	}
	if err := errs.err(); err != nil {
		return err
	}
	pid, _ := s.ledger().AlertPrincipal(id)
	noteSubject(r, pid)
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	out := map[string]any{"index": res.Index}
	for _, a := range s.ledger().Alerts("", pid) {
		if a.AlertID == id {
			out["alert"] = a
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
