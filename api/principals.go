package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/trustledger/trustledger/fsm"
)

// registerInput is the body of POST /v1/principals.
type registerInput struct {
	PrincipalID    string  `json:"principalId"`
	PrincipalType  string  `json:"principalType"`
	OrgID          string  `json:"orgId"`
	BaseTrustScore decimal `json:"baseTrustScore"`
	settingsInput
}

// settingsInput are the fields a registration sets and an update changes.
type settingsInput struct {
	MinTrustScore       decimal `json:"minTrustScore"`
	MaxTrustScore       decimal `json:"maxTrustScore"`
	TrustDecayRate      decimal `json:"trustDecayRate"`
	TrustRecoveryRate   decimal `json:"trustRecoveryRate"`
	AssessmentFrequency string  `json:"assessmentFrequency"`
	IsActive            *bool   `json:"isActive"`
	Metadata            jsonDoc `json:"metadata"`
}

func frequencyNames() []string {
	out := make([]string, 0, len(fsm.AssessmentFrequencies))
	for _, f := range fsm.AssessmentFrequencies {
		out = append(out, f.Name)
	}
	return out
}

// command validates the input and returns the ledger command.
func (in *registerInput) command() (*fsm.RegisterPrincipal, error) {
	var errs fieldErrors
	c := &fsm.RegisterPrincipal{
		PrincipalID:   errs.id("principalId", in.PrincipalID, true),
		PrincipalType: errs.oneOf("principalType", in.PrincipalType, true, fsm.PrincipalTypes),
		OrgID:         errs.id("orgId", in.OrgID, false),
		Base:          errs.points("baseTrustScore", in.BaseTrustScore, false),
		Min:           errs.points("minTrustScore", in.MinTrustScore, false),
		Max:           errs.points("maxTrustScore", in.MaxTrustScore, false),
		DecayRate:     errs.points("trustDecayRate", in.TrustDecayRate, false),
		RecoveryRate:  errs.points("trustRecoveryRate", in.TrustRecoveryRate, false),
		Frequency:     errs.oneOf("assessmentFrequency", in.AssessmentFrequency, false, frequencyNames()),
		Inactive:      in.IsActive != nil && !*in.IsActive,
		Metadata:      in.Metadata.bytesOf(&errs, "metadata", '{', fsm.MaxJSONFieldBytes),
	}
	checkBounds(&errs, c.Min, c.Max)
	return c, errs.err()
}

// checkBounds checks minTrustScore ≤ maxTrustScore.
func checkBounds(errs *fieldErrors, lo, hi fsm.Opt) {
	if lo.Set && hi.Set && lo.V > hi.V {
		errs.invalid("minTrustScore", "must not exceed maxTrustScore")
	}
}

func (s *Server) registerPrincipal(w http.ResponseWriter, r *http.Request) error {
	var in registerInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	cmd, err := in.command()
	if err != nil {
		return err
	}
	noteSubject(r, cmd.PrincipalID)
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/principals/"+url.PathEscape(cmd.PrincipalID))
	s.writeRecord(w, r, http.StatusCreated, res.Index, cmd.PrincipalID)
	return nil
}

// writeRecord answers a write with its index and the principal's record
// evaluated now.
func (s *Server) writeRecord(w http.ResponseWriter, r *http.Request, status int, index uint64, id string) {
	t := s.evalTime(w, r)
	rec, ok := s.ledger().Record(id, t)
	if !ok {
		writeJSON(w, status, map[string]any{"index": index})
		return
	}
	writeJSON(w, status, map[string]any{"index": index, "record": rec})
}

// updateInput is the body of PATCH /v1/principals/{id}. Absent fields are
// left unchanged.
type updateInput struct {
	OrgID *string `json:"orgId"`
	settingsInput
}

func (in *updateInput) command(id string) (*fsm.UpdatePrincipal, error) {
	var errs fieldErrors
	c := &fsm.UpdatePrincipal{
		PrincipalID:  id,
		OrgID:        in.OrgID,
		Min:          errs.points("minTrustScore", in.MinTrustScore, false),
		Max:          errs.points("maxTrustScore", in.MaxTrustScore, false),
		DecayRate:    errs.points("trustDecayRate", in.TrustDecayRate, false),
		RecoveryRate: errs.points("trustRecoveryRate", in.TrustRecoveryRate, false),
		Frequency:    errs.oneOf("assessmentFrequency", in.AssessmentFrequency, false, frequencyNames()),
		Active:       in.IsActive,
		Metadata:     in.Metadata.bytesOf(&errs, "metadata", '{', fsm.MaxJSONFieldBytes),
	}
	if in.OrgID != nil {
		errs.id("orgId", *in.OrgID, false)
	}
	checkBounds(&errs, c.Min, c.Max)
	return c, errs.err()
}

func (s *Server) updatePrincipal(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	var in updateInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	cmd, err := in.command(id)
	if err != nil {
		return err
	}
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	s.writeRecord(w, r, http.StatusOK, res.Index, id)
	return nil
}

// pathID reads and checks an identifier from the URL path.
func pathID(r *http.Request, param, field string) (string, error) {
	raw := chi.URLParam(r, param)
	id, err := url.PathUnescape(raw)
	if err != nil || !fsm.ValidID(id) {
		return "", withCode(newProblem(ProblemInvalidField, field, "%s: %q is not a valid identifier", field, raw), "invalid")
	}
	return id, nil
}

// subjectPath reads the principal id of a /v1/principals/{id} route and
// names it as the request's subject in the audit log.
func subjectPath(r *http.Request) (string, error) {
	id, err := pathID(r, "id", "principalId")
	if err == nil {
		noteSubject(r, id)
	}
	return id, err
}

// requirePrincipal fails with 404 when a principal to read is unknown.
func (s *Server) requirePrincipal(id, field string) error {
	if s.ledger().Has(id) {
		return nil
	}
	return withCode(newProblem(ProblemNotFound, field, "unknown principal %q", id), "not_found")
}

func (s *Server) getPrincipal(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	t := s.evalTime(w, r)
	rec, ok := s.ledger().Record(id, t)
	if !ok {
		return s.requirePrincipal(id, "principalId")
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// principalList is one page of GET /v1/principals.
type principalList struct {
	Principals []*fsm.Record `json:"principals"`
	NextCursor string        `json:"nextCursor"`
}

func (s *Server) listPrincipals(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := fsm.Filter{Type: q.Get("type"), Level: q.Get("level"), OrgID: q.Get("orgId")}
	var errs fieldErrors
	errs.oneOf("type", f.Type, false, fsm.PrincipalTypes)
	errs.oneOf("level", f.Level, false, fsm.Levels)
	errs.id("orgId", f.OrgID, false)
	f.RequiresReview = queryBool(&errs, q, "requiresReview")
	f.Overdue = queryBool(&errs, q, "overdue")
	f.Limit = queryLimit(&errs, q.Get("limit"), 100, 1000)
	if c := q.Get("cursor"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || !fsm.ValidID(string(after)) {
			errs.invalid("cursor", "is not a cursor this API returned")
		}
		f.After = string(after)
	}
	if err := paramProblem(errs.err()); err != nil {
		return err
	}
	t := s.evalTime(w, r)
	recs, next := s.ledger().List(f, t)
	out := principalList{Principals: recs}
	if out.Principals == nil {
		out.Principals = []*fsm.Record{}
	}
	if next != "" {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(next))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// queryLimit parses a limit= parameter within [1, hi] (def when absent).
func queryLimit(errs *fieldErrors, v string, def, hi int) int {
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > hi {
		errs.invalid("limit", "must be an integer within [1, %d]", hi)
		return def
	}
	return n
}

// paramProblem turns an invalid-field problem about query parameters into
// an invalid-parameter one.
func paramProblem(err error) error {
	if p, ok := err.(*Problem); ok && p.Type == ProblemInvalidField.URI() {
		p.Type, p.Title = ProblemInvalidParameter.URI(), ProblemInvalidParameter.Title
	}
	return err
}

func (s *Server) principalHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	h, ok := s.ledger().History(id)
	if !ok {
		return s.requirePrincipal(id, "principalId")
	}
	writeJSON(w, http.StatusOK, map[string]any{"principalId": id, "history": h})
	return nil
}

func (s *Server) principalEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.requirePrincipal(id, "principalId"); err != nil {
		return err
	}
	entries, err := s.node.PrincipalEntries(id, after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, entryPage(entries, limit, map[string]any{"principalId": id}))
	return nil
}

// pageParams reads ?after= (a ledger sequence) and ?limit=.
func pageParams(r *http.Request) (after uint64, limit int, err error) {
	q := r.URL.Query()
	var errs fieldErrors
	after = errs.sequence("after", q.Get("after"))
	limit = queryLimit(&errs, q.Get("limit"), 100, 1000)
	return after, limit, paramProblem(errs.err())
}

// queryBool parses an optional true/false parameter (nil when absent).
func queryBool(errs *fieldErrors, q url.Values, name string) *bool {
	v := q.Get(name)
	if v == "" {
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		errs.invalid(name, "must be true or false")
	}
	return &b
}
