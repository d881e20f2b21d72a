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

func (s *Server) putOrg(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "orgId", "orgId")
	if err != nil {
		return err
	}
	var in orgInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	cmd := &fsm.SetOrg{
		OrgID: id,
		Name:  errs.text("name", in.Name, false, fsm.MaxTextLen),
		Base:  errs.points("baseTrustScore", in.BaseTrustScore, true).V,
	}
	if err := errs.err(); err != nil {
		return err
	}
	return upsert(s, w, r, cmd, "org", func() (fsm.OrgView, bool) { return s.ledger().Org(id) })
}

// upsert proposes cmd, which creates or replaces the object view reads,
// and answers {"index", name: the object}: 201 when it is new, 200 when
// it replaced one.
func upsert[V any](s *Server, w http.ResponseWriter, r *http.Request, cmd fsm.Command, name string, view func() (V, bool)) error {
	_, existed := view()
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	v, _ := view()
	writeJSON(w, status, map[string]any{"index": res.Index, name: v})
	return nil
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "orgId", "orgId")
	if err != nil {
		return err
	}
	org, ok := s.ledger().Org(id)
	if !ok {
		return withCode(newProblem(ProblemNotFound, "orgId", "unknown organization %q", id), "not_found")
	}
	writeJSON(w, http.StatusOK, org)
	return nil
}
