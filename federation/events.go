package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// Event type URIs this recipient understands. Every other type is
// acknowledged and ignored (RFC 8935 §2.2).
const (
	// EventTrustAssessment is trustledger's own numeric assessment:
	// {"score": 0-100, "validUntil": NumericDate, "components"?: {...}}
	// or {"withdraw": true}.
	EventTrustAssessment = fsm.EventTrustAssessment

	caep = "https://schemas.openid.net/secevent/caep/event-type/"
	risc = "https://schemas.openid.net/secevent/risc/event-type/"

	EventSessionRevoked         = fsm.EventSessionRevoked
	EventCredentialChange       = caep + "credential-change"
	EventAssuranceLevelChange   = fsm.EventAssuranceLevelChange
	EventDeviceComplianceChange = caep + "device-compliance-change"
	EventRiskLevelChange        = fsm.EventRiskLevelChange
	EventCredentialCompromise   = risc + "credential-compromise"
	EventAccountDisabled        = fsm.EventAccountDisabled
	EventAccountEnabled         = fsm.EventAccountEnabled
)

// Validity of the assessments CAEP and RISC events set, counted from the
// SET's iat; MaxAssessmentValidity bounds the validUntil of a
// trust-assessment event the same way.
const (
	day                   = 24 * 60 * 60 * 1000 // ms
	EventValidity         = 30 * day
	DisabledValidity      = 365 * day
	MaxAssessmentValidity = 366 * day
)

// Alert types the mapped events raise.
const (
	AlertSessionRevoked       = "partner_session_revoked"
	AlertDeviceNoncompliant   = "partner_device_noncompliant"
	AlertRiskHigh             = "partner_risk_high"
	AlertCredentialCompromise = "partner_credential_compromise"
	AlertAccountDisabled      = "partner_account_disabled"
)

// Scores (points) the CAEP events set.
var (
	assuranceScores = map[string]int64{"nist-aal1": 50, "nist-aal2": 75, "nist-aal3": 90}
	complianceScore = map[string]int64{"compliant": 85, "not-compliant": 20}
	riskScores      = map[string]int64{"low": 85, "medium": 50, "high": 15}
)

// mapper fills in a command's effect from an event payload.
type mapper func(c *fsm.FederatedEvent, p map[string]json.RawMessage) error

var mappers = map[string]mapper{
	EventTrustAssessment:        mapTrustAssessment,
	EventSessionRevoked:         mapSessionRevoked,
	EventCredentialChange:       func(*fsm.FederatedEvent, map[string]json.RawMessage) error { return nil },
	EventAssuranceLevelChange:   mapAssuranceLevel,
	EventDeviceComplianceChange: mapDeviceCompliance,
	EventRiskLevelChange:        mapRiskLevel,
	EventCredentialCompromise:   mapCredentialCompromise,
	EventAccountDisabled:        mapAccountDisabled,
	EventAccountEnabled:         func(c *fsm.FederatedEvent, _ map[string]json.RawMessage) error { c.Clear = true; return nil },
}

// EventTypes returns the event type URIs this recipient understands,
// sorted.
func EventTypes() []string {
	out := make([]string, 0, len(mappers))
	for t := range mappers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Understood reports whether the SET carries an event type this recipient
// acts on. A SET without one is acknowledged and ignored.
func (s *SET) Understood() bool {
	for _, e := range s.Events {
		if mappers[e.Type] != nil {
			return true
		}
	}
	return false
}

// Command maps the SET to the ledger command that records it for
// partnerID, or returns nil (and no error) when the SET carries no event
// type this recipient understands. A SET may carry one understood event
// (and any number of others); its subject is the top-level sub_id or the
// event's "subject" member (CAEP and RISC put it there), and both must
// agree when both are present. Refusals are *Error with code
// invalid_request.
func (s *SET) Command(partnerID string) (*fsm.FederatedEvent, error) {
	return s.CommandFor(fsm.PartnerView{PartnerID: partnerID})
}

// CommandFor is Command for partner p, whose subject aliases
// (p.SubjectAliases) map email and iss_sub subjects to principal ids
// before the rules of Subject.PrincipalID.
func (s *SET) CommandFor(p fsm.PartnerView) (*fsm.FederatedEvent, error) {
	partnerID := p.PartnerID
	var ev *Event
	for i := range s.Events {
		if mappers[s.Events[i].Type] == nil {
			continue
		}
		if ev != nil {
			return nil, refuse(ErrInvalidRequest, "the SET carries two understood events (%s, %s); send one per SET",
				ev.Type, s.Events[i].Type)
		}
		ev = &s.Events[i]
	}
	if ev == nil {
		return nil, nil
	}
	sub, err := s.subject(ev)
	if err != nil {
		return nil, err
	}
	principal, ok := p.SubjectAliases[sub.AliasKey()]
	if !ok {
		if principal, err = sub.PrincipalID(s.Issuer); err != nil {
			return nil, refuse(ErrInvalidRequest, "subject: %v", err)
		}
	}
	c := &fsm.FederatedEvent{EventID: s.ID, PartnerID: partnerID, PrincipalID: principal, EventType: ev.Type,
		IssuedAt: s.IssuedAt}
	if err := mappers[ev.Type](c, ev.Payload); err != nil {
		return nil, refuse(ErrInvalidRequest, "event %s: %v", ev.Type, err)
	}
	if c.AlertType != "" {
		c.Message = fmt.Sprintf("federation partner %s: %s", partnerID, c.Message)
	}
	return c, nil
}

// SSF's own event types: about the stream, not a principal.
const (
	EventVerification  = fsm.EventVerification
	EventStreamUpdated = fsm.EventStreamUpdated
)

// StreamEvent maps a SET carrying an SSF verification or stream-updated
// event to the command that records it for partnerID; nil when the SET
// carries neither.
func (s *SET) StreamEvent(partnerID string) (*fsm.PartnerStreamEvent, error) {
	for _, ev := range s.Events {
		c := &fsm.PartnerStreamEvent{EventID: s.ID, PartnerID: partnerID, IssuedAt: s.IssuedAt}
		switch ev.Type {
		case EventVerification:
			c.Type = "verification"
			if raw, ok := ev.Payload["state"]; ok {
				state, ok := stringMember(ev.Payload, "state")
				if !ok || len(raw) == 0 {
					return nil, refuse(ErrInvalidRequest, "verification: state must be a string")
				}
				c.State = state
			}
		case EventStreamUpdated:
			c.Type = "stream-updated"
			status, ok := stringMember(ev.Payload, "status")
			if !ok || (status != fsm.StreamEnabled && status != fsm.StreamPaused && status != fsm.StreamDisabled) {
				return nil, refuse(ErrInvalidRequest, "stream-updated: status must be enabled, paused or disabled")
			}
			c.Status = status
			c.Reason, _ = stringMember(ev.Payload, "reason")
		default:
			continue
		}
		if len(c.State) > fsm.MaxTextLen || len(c.Reason) > fsm.MaxTextLen {
			return nil, refuse(ErrInvalidRequest, "%s: state and reason are at most %d bytes", ev.Type, fsm.MaxTextLen)
		}
		return c, nil
	}
	return nil, nil
}

func (s *SET) subject(ev *Event) (*Subject, error) {
	raw, inEvent := ev.Payload["subject"]
	switch {
	case inEvent && s.Subject != nil:
		sub, err := parseSubject(raw)
		if err != nil {
			return nil, refuse(ErrInvalidRequest, "event subject: %v", err)
		}
		if *sub != *s.Subject {
			return nil, refuse(ErrInvalidRequest, "sub_id and the event's subject name different subjects")
		}
		return sub, nil
	case inEvent:
		sub, err := parseSubject(raw)
		if err != nil {
			return nil, refuse(ErrInvalidRequest, "event subject: %v", err)
		}
		return sub, nil
	case s.Subject != nil:
		return s.Subject, nil
	}
	return nil, refuse(ErrInvalidRequest, "no subject: send sub_id (RFC 9493: opaque, email or iss_sub)")
}

func setScore(c *fsm.FederatedEvent, points, validity int64) {
	c.Score = fsm.Some(points * fsm.Point)
	c.ValidUntil = c.IssuedAt + validity
}

func raise(c *fsm.FederatedEvent, alertType, severity, message string) {
	c.AlertType, c.Severity, c.Message = alertType, severity, message
}

// mapTrustAssessment: score 0-100 (decimal, up to 6 places) valid until
// validUntil, optional components; or withdraw: true.
func mapTrustAssessment(c *fsm.FederatedEvent, p map[string]json.RawMessage) error {
	for k := range p {
		switch k {
		case "score", "validUntil", "components", "withdraw", "subject":
		case "level", "reason": // informational: a trustledger transmitter sends them
		default:
			return fmt.Errorf("unknown member %q (want score, validUntil, components, level, reason or withdraw)", clip(k))
		}
	}
	if raw, ok := p["withdraw"]; ok {
		if !bytes.Equal(bytes.TrimSpace(raw), []byte("true")) {
			return fmt.Errorf("withdraw must be true when present")
		}
		for k := range p {
			if k != "withdraw" && k != "subject" && k != "reason" {
				return fmt.Errorf("withdraw: true comes alone, without score, validUntil or components")
			}
		}
		c.Clear = true
		return nil
	}
	text, ok := numberMember(p, "score")
	if !ok {
		return fmt.Errorf("score is required: a number from 0 to 100")
	}
	score, ok := fsm.ParseDecimal(text, 6)
	if !ok || score < 0 || score > 100*fsm.Point {
		return fmt.Errorf("score must be a number from 0 to 100")
	}
	until, ok := numericDate(p, "validUntil")
	switch {
	case !ok:
		return fmt.Errorf("validUntil is required: a NumericDate")
	case until <= c.IssuedAt:
		return fmt.Errorf("validUntil must be after iat")
	case until > c.IssuedAt+MaxAssessmentValidity:
		return fmt.Errorf("validUntil may be at most 366 days after iat")
	}
	c.Score, c.ValidUntil = fsm.Some(score), until
	if raw, ok := p["components"]; ok {
		comps, err := components(raw)
		if err != nil {
			return err
		}
		c.Components = comps
	}
	return nil
}

// components decodes {"authentication": n, ...}: all five components,
// each 0-100.
func components(raw json.RawMessage) ([]int64, error) {
	m, err := decodeJSONObject(raw)
	if err != nil {
		return nil, fmt.Errorf("components must be an object")
	}
	out := make([]int64, fsm.NumComponents)
	for i, name := range fsm.Categories {
		text, ok := numberMember(m, name)
		if !ok {
			return nil, fmt.Errorf("components needs all of %s, as numbers", strings.Join(fsm.Categories[:], ", "))
		}
		v, ok := fsm.ParseDecimal(text, 6)
		if !ok || v < 0 || v > 100*fsm.Point {
			return nil, fmt.Errorf("components.%s must be from 0 to 100", name)
		}
		out[i] = v
	}
	if len(m) != fsm.NumComponents {
		return nil, fmt.Errorf("components has members other than %s", strings.Join(fsm.Categories[:], ", "))
	}
	return out, nil
}

func mapSessionRevoked(c *fsm.FederatedEvent, _ map[string]json.RawMessage) error {
	raise(c, AlertSessionRevoked, "low", "session revoked")
	return nil
}

// mapAssuranceLevel: NIST-AAL levels set the score; other namespaces and
// levels are recorded without effect.
func mapAssuranceLevel(c *fsm.FederatedEvent, p map[string]json.RawMessage) error {
	ns, ok1 := stringMember(p, "namespace")
	level, ok2 := stringMember(p, "current_level")
	if !ok1 || !ok2 || ns == "" || level == "" {
		return fmt.Errorf("namespace and current_level are required strings")
	}
	if !strings.EqualFold(ns, "NIST-AAL") {
		return nil
	}
	level = strings.ToLower(level)
	if !strings.HasPrefix(level, "nist-") {
		level = "nist-" + level
	}
	if pts, ok := assuranceScores[level]; ok {
		setScore(c, pts, EventValidity)
	}
	return nil
}

func mapDeviceCompliance(c *fsm.FederatedEvent, p map[string]json.RawMessage) error {
	status, _ := stringMember(p, "current_status")
	pts, ok := complianceScore[status]
	if !ok {
		return fmt.Errorf("current_status must be \"compliant\" or \"not-compliant\"")
	}
	setScore(c, pts, EventValidity)
	if status == "not-compliant" {
		raise(c, AlertDeviceNoncompliant, "medium", "device not compliant")
	}
	return nil
}

func mapRiskLevel(c *fsm.FederatedEvent, p map[string]json.RawMessage) error {
	level, _ := stringMember(p, "current_level")
	level = strings.ToLower(level)
	pts, ok := riskScores[level]
	if !ok {
		return fmt.Errorf("current_level must be LOW, MEDIUM or HIGH")
	}
	setScore(c, pts, EventValidity)
	if level == "high" {
		raise(c, AlertRiskHigh, "high", "risk level high")
	}
	return nil
}

func mapCredentialCompromise(c *fsm.FederatedEvent, _ map[string]json.RawMessage) error {
	setScore(c, 0, EventValidity)
	raise(c, AlertCredentialCompromise, "high", "credential compromised")
	return nil
}

func mapAccountDisabled(c *fsm.FederatedEvent, p map[string]json.RawMessage) error {
	setScore(c, 0, DisabledValidity)
	severity, msg := "high", "account disabled"
	if reason, _ := stringMember(p, "reason"); reason == "hijacking" {
		severity, msg = "critical", "account disabled: hijacking"
	}
	raise(c, AlertAccountDisabled, severity, msg)
	return nil
}
