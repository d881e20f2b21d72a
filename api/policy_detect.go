package api

import (
	"slices"

	"github.com/trustledger/trustledger/fsm"
)

// The policy's detection and idempotency fields in their JSON form
// (docs/api.md, "Policy JSON form"; fsm/detect.go, fsm/producer.go).

// remediationDoc is a remediation rule: an event and the detection types
// it clears.
type remediationDoc struct {
	Event  string   `json:"event"`
	Clears []string `json:"clears"`
}

// holdDecisions are the decisions a hold may name, by fsm value.
var holdDecisions = []string{"", fsm.DecisionStepUp, fsm.DecisionDeny}

// setDetections fills d's detection and producer fields from p.
func (d *policyDoc) setDetections(p *fsm.Policy) {
	d.CumulativeDrop, d.CumulativeWindow = dec(p.CumulativeDrop), duration{ms: p.CumulativeWindow}
	d.BaselineDeviation, d.BaselineMinEvents, d.BaselineSmoothing = dec(p.BaselineDeviation), p.BaselineMinEvents, p.BaselineSmoothing
	d.PrivilegeEvents, d.PrivilegeBurst = append([]string{}, p.PrivilegeEvents...), p.PrivilegeBurst
	d.PrivilegeWindow, d.HoldTypes = duration{ms: p.PrivilegeWindow}, append([]string{}, p.HoldTypes...)
	d.ProducerExpiry, d.MaxProducers = duration{ms: p.ProducerExpiry}, p.MaxProducers
	d.Remediations = []remediationDoc{}
	for _, r := range p.Remediations {
		d.Remediations = append(d.Remediations, remediationDoc{Event: r.Event, Clears: append([]string{}, r.Clears...)})
	}
	if int(p.Decision.Hold) < len(holdDecisions) {
		d.Decision.Hold = holdDecisions[p.Decision.Hold]
	}
}

// detections sets p's detection and producer fields from d, checking
// each value's syntax and range.
func (d *policyDoc) detections(p *fsm.Policy, errs *fieldErrors) {
	p.CumulativeDrop = errs.points("cumulativeDrop", d.CumulativeDrop, true).V
	p.CumulativeWindow = d.CumulativeWindow.value(errs, "cumulativeWindow")
	p.BaselineDeviation = errs.points("baselineDeviation", d.BaselineDeviation, true).V
	p.BaselineMinEvents, p.BaselineSmoothing = d.BaselineMinEvents, d.BaselineSmoothing
	p.PrivilegeEvents = append([]string(nil), d.PrivilegeEvents...)
	p.PrivilegeBurst = d.PrivilegeBurst
	p.PrivilegeWindow = d.PrivilegeWindow.value(errs, "privilegeWindow")
	p.HoldTypes = append([]string(nil), d.HoldTypes...)
	p.ProducerExpiry = d.ProducerExpiry.value(errs, "producerExpiry")
	p.MaxProducers = d.MaxProducers
	for _, r := range d.Remediations {
		p.Remediations = append(p.Remediations, fsm.RemediationRule{Event: r.Event, Clears: append([]string(nil), r.Clears...)})
	}
	if i := slices.Index(holdDecisions, d.Decision.Hold); i > 0 {
		p.Decision.Hold = uint8(i) // #nosec G115 -- an index of a three-entry table
	} else {
		errs.invalid("decision.hold", "must be %s or %s", fsm.DecisionStepUp, fsm.DecisionDeny)
	}
}
