package api

import (
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// orgInput is the body of PUT /v1/orgs/{orgId}.
type orgInput struct {
	BaseTrustScore decimal `json:"baseTrustScore"`
	Name           string  `json:"name"`
}

func (s *Server) putOrg(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "orgId", "orgId")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in orgInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs fieldErrors
	cmd := &fsm.SetOrg{
		OrgID: id,
		Name:  errs.text("name", in.Name, false, fsm.MaxTextLen),
		Base:  errs.points("baseTrustScore", in.BaseTrustScore, true).V,
	}
	if err := errs.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.requireLeader(); err != nil {
		s.fail(w, r, err)
		return
	}
	_, existed := s.ledger().Org(id)
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	org, _ := s.ledger().Org(id)
	writeJSON(w, status, map[string]any{"index": res.Index, "org": org})
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "orgId", "orgId")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	org, ok := s.ledger().Org(id)
	if !ok {
		s.fail(w, r, withCode(newProblem(ProblemNotFound, "orgId", "unknown organization %q", id), "not_found"))
		return
	}
	writeJSON(w, http.StatusOK, org)
}
