package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// Detections (docs/api.md, "Detections") and their compatible view, the
// alerts: the same records, the same review state machine.

var reviewActions = []string{fsm.ReviewAcknowledge, fsm.ReviewRemediate, fsm.ReviewDismiss, fsm.ReviewConfirmCompromised,
	fsm.ReviewConfirmSafe}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var errs fieldErrors
	status := errs.oneOf("status", q.Get("status"), false, fsm.DetectionStates)
	pid := errs.id("principalId", q.Get("principalId"), false)
	limit := queryLimit(&errs, q.Get("limit"), 100, 1000)
	after := detectionCursor(&errs, q.Get("cursor"))
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	if pid != "" {
		noteSubject(r, pid)
	}
	alerts, next := s.ledger().AlertPage(status, pid, after, limit)
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts, "nextCursor": cursorText(next)})
	return nil
}

// detectionCursor parses the cursor= of a page of detections or alerts.
func detectionCursor(errs *fieldErrors, v string) fsm.Cursor {
	if v == "" {
		return fsm.Cursor{}
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	pid, id, ok := strings.Cut(string(b), "\x00")
	if err != nil || !ok || !fsm.ValidID(pid) || !fsm.ValidID(id) {
		errs.invalid("cursor", "is not a cursor this API returned")
		return fsm.Cursor{}
	}
	return fsm.Cursor{PrincipalID: pid, ID: id}
}

// cursorText is the cursor= of the next page ("" when there is none).
func cursorText(c fsm.Cursor) string {
	if c == (fsm.Cursor{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c.PrincipalID + "\x00" + c.ID))
}

func (s *Server) listDetections(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var errs fieldErrors
	f := fsm.DetectionFilter{
		State:       errs.oneOf("state", q.Get("state"), false, fsm.DetectionStates),
		PrincipalID: errs.id("principalId", q.Get("principalId"), false),
		Type:        errs.id("type", q.Get("type"), false),
		Source:      errs.oneOf("source", q.Get("source"), false, fsm.DetectionSources()),
	}
	limit := queryLimit(&errs, q.Get("limit"), 100, 1000)
	after := detectionCursor(&errs, q.Get("cursor"))
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	if f.PrincipalID != "" {
		noteSubject(r, f.PrincipalID)
	}
	ds, next := s.ledger().DetectionPage(f, after, limit)
	writeJSON(w, http.StatusOK, map[string]any{"detections": ds, "nextCursor": cursorText(next)})
	return nil
}

func (s *Server) getDetection(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "detectionId")
	if err != nil {
		return err
	}
	d, ok := s.ledger().Detection(id)
	if !ok {
		return newProblem(ProblemNotFound, "detectionId", "unknown detection %q", id)
	}
	noteSubject(r, d.PrincipalID)
	writeJSON(w, http.StatusOK, d)
	return nil
}

// reviewInput is the body of POST /v1/alerts/{id}/review (note) and of
// POST /v1/detections/{id}/review (reason).
type reviewInput struct {
	Action string `json:"action"`
	Note   string `json:"note"`
	Reason string `json:"reason"`
}

// review proposes a review of detection id once the ledger's rules — its
// review state machine among them — accept it (proposeChecked); Apply
// checks again, so of two reviews racing the second is refused (409).
func (s *Server) review(w http.ResponseWriter, r *http.Request, field string) (res *fsm.Result, id, pid string, err error) {
	if id, err = pathID(r, "id", field); err != nil {
		return nil, "", "", err
	}
	var in reviewInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return nil, "", "", err
	}
	var errs fieldErrors
	text := in.Note
	textField := "note"
	if field == "detectionId" {
		text, textField = in.Reason, "reason"
		if in.Note != "" {
			errs.invalid("note", "a detection review takes reason")
		}
	} else if in.Reason != "" {
		errs.invalid("reason", "an alert review takes note")
	}
	cmd := &fsm.ReviewAlert{
		AlertID: id,
		Action:  errs.oneOf("action", in.Action, true, reviewActions),
		Note:    errs.text(textField, text, false, fsm.MaxTextLen),
	}
	if err := errs.err(); err != nil {
		return nil, "", "", err
	}
	pid, _ = s.ledger().AlertPrincipal(id)
	noteSubject(r, pid)
	res, err = s.proposeChecked(r, cmd)
	var rej *fsm.RejectError
	if errors.As(err, &rej) && rej.Field == "alertId" {
		rej.Field = field
	}
	return res, id, pid, err
}

func (s *Server) reviewAlert(w http.ResponseWriter, r *http.Request) error {
	res, id, pid, err := s.review(w, r, "alertId")
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

func (s *Server) reviewDetection(w http.ResponseWriter, r *http.Request) error {
	res, id, _, err := s.review(w, r, "detectionId")
	if err != nil {
		return err
	}
	out := map[string]any{"index": res.Index}
	if d, ok := s.ledger().Detection(id); ok {
		out["detection"] = d
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
