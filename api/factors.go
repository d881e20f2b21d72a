package api

import (
	"net/http"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// factorsInput is the body of PUT /v1/principals/{id}/factors. Each report
// is native JSON or a string holding it; reports left out are kept.
type factorsInput struct {
	AuthenticationFactors jsonDoc `json:"authenticationFactors"`
	BehaviorMetrics       jsonDoc `json:"behaviorMetrics"`
	ComplianceStatus      jsonDoc `json:"complianceStatus"`
	RiskIndicators        jsonDoc `json:"riskIndicators"`
	Context               jsonDoc `json:"context"`
}

// command validates the reports; field names in faults start with prefix.
func (in *factorsInput) command(errs *fieldErrors, prefix, id string) *fsm.ReportFactors {
	n := fsm.MaxJSONFieldBytes
	c := &fsm.ReportFactors{
		PrincipalID:           id,
		AuthenticationFactors: in.AuthenticationFactors.bytesOf(errs, prefix+"authenticationFactors", '{', n),
		BehaviorMetrics:       in.BehaviorMetrics.bytesOf(errs, prefix+"behaviorMetrics", '{', n),
		ComplianceStatus:      in.ComplianceStatus.bytesOf(errs, prefix+"complianceStatus", '{', n),
		RiskIndicators:        in.RiskIndicators.bytesOf(errs, prefix+"riskIndicators", '[', n),
		Context:               in.Context.bytesOf(errs, prefix+"context", '{', n),
	}
	if errs.ok() && !in.AuthenticationFactors.set() && !in.BehaviorMetrics.set() && !in.ComplianceStatus.set() &&
		!in.RiskIndicators.set() && !in.Context.set() {
		field := "factors"
		if prefix != "" {
			field = strings.TrimSuffix(prefix, ".")
		}
		errs.add(field, "required", "at least one factor report is required "+
			"(authenticationFactors, behaviorMetrics, complianceStatus, riskIndicators or context)")
	}
	return c
}

func (s *Server) reportFactors(w http.ResponseWriter, r *http.Request) error {
	id, err := subjectPath(r)
	if err != nil {
		return err
	}
	var in factorsInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	cmd := in.command(&errs, "", id)
	if err := errs.err(); err != nil {
		return err
	}
	res, err := s.proposeChecked(r, cmd)
	if err != nil {
		return err
	}
	s.writeRecord(w, r, http.StatusOK, res.Index, id)
	return nil
}
