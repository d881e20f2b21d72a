package federation

import (
	"errors"
	"slices"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// Each understood event maps to its documented effect (docs/federation.md).
func TestEventMapping(t *testing.T) {
	p := newTestPartner(t)
	iat := testNow.UnixMilli()
	const pt = fsm.Point
	cases := []struct {
		name     string
		event    string
		payload  map[string]any
		score    fsm.Opt
		until    int64
		clear    bool
		alert    string
		severity string
		comps    []int64
	}{
		{"assessment", EventTrustAssessment, map[string]any{"score": 61.25, "validUntil": testNow.Unix() + 86400},
			fsm.Some(61_250_000), iat + 86_400_000, false, "", "", nil},
		{"assessment with components", EventTrustAssessment, map[string]any{"score": 70, "validUntil": testNow.Unix() + 60,
			"components": map[string]any{"authentication": 20, "behavior": 20, "compliance": 10, "history": 10, "context": 10}},
			fsm.Some(70 * pt), iat + 60_000, false, "", "", []int64{20 * pt, 20 * pt, 10 * pt, 10 * pt, 10 * pt}},
		{"assessment withdrawn", EventTrustAssessment, map[string]any{"withdraw": true}, fsm.Opt{}, 0, true, "", "", nil},
		{"session revoked", EventSessionRevoked, map[string]any{"initiating_entity": "policy"}, fsm.Opt{}, 0, false,
			AlertSessionRevoked, "low", nil},
		{"credential change", EventCredentialChange, map[string]any{"credential_type": "fido2-roaming", "change_type": "create"},
			fsm.Opt{}, 0, false, "", "", nil},
		{"aal3", EventAssuranceLevelChange, map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal3"},
			fsm.Some(90 * pt), iat + EventValidity, false, "", "", nil},
		{"aal2", EventAssuranceLevelChange, map[string]any{"namespace": "NIST-AAL", "current_level": "nist-aal2", "previous_level": "nist-aal3", "change_direction": "decrease"},
			fsm.Some(75 * pt), iat + EventValidity, false, "", "", nil},
		{"aal1 short form", EventAssuranceLevelChange, map[string]any{"namespace": "nist-aal", "current_level": "AAL1"},
			fsm.Some(50 * pt), iat + EventValidity, false, "", "", nil},
		{"other namespace recorded only", EventAssuranceLevelChange, map[string]any{"namespace": "RFC8176", "current_level": "mfa"},
			fsm.Opt{}, 0, false, "", "", nil},
		{"device compliant", EventDeviceComplianceChange, map[string]any{"previous_status": "not-compliant", "current_status": "compliant"},
			fsm.Some(85 * pt), iat + EventValidity, false, "", "", nil},
		{"device not compliant", EventDeviceComplianceChange, map[string]any{"previous_status": "compliant", "current_status": "not-compliant"},
			fsm.Some(20 * pt), iat + EventValidity, false, AlertDeviceNoncompliant, "medium", nil},
		{"risk low", EventRiskLevelChange, map[string]any{"principal": "USER", "current_level": "LOW"},
			fsm.Some(85 * pt), iat + EventValidity, false, "", "", nil},
		{"risk medium", EventRiskLevelChange, map[string]any{"principal": "USER", "current_level": "MEDIUM"},
			fsm.Some(50 * pt), iat + EventValidity, false, "", "", nil},
		{"risk high", EventRiskLevelChange, map[string]any{"principal": "USER", "current_level": "HIGH", "risk_reason": "PASSWORD_FOUND_IN_DATA_BREACH"},
			fsm.Some(15 * pt), iat + EventValidity, false, AlertRiskHigh, "high", nil},
		{"credential compromise", EventCredentialCompromise, map[string]any{"credential_type": "password"},
			fsm.Some(0), iat + EventValidity, false, AlertCredentialCompromise, "high", nil},
		{"account disabled", EventAccountDisabled, map[string]any{"reason": "bulk-account"},
			fsm.Some(0), iat + DisabledValidity, false, AlertAccountDisabled, "high", nil},
		{"account disabled for hijacking", EventAccountDisabled, map[string]any{"reason": "hijacking"},
			fsm.Some(0), iat + DisabledValidity, false, AlertAccountDisabled, "critical", nil},
		{"account enabled", EventAccountEnabled, map[string]any{}, fsm.Opt{}, 0, true, "", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := claims("j-" + c.name)
			cl["events"] = map[string]any{c.event: c.payload}
			_, cmd, err := verify(p.view, p.signed(t, "EdDSA", cl))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.EventType != c.event || cmd.PrincipalID != "alice" || cmd.IssuedAt != iat {
				t.Errorf("command: %+v", cmd)
			}
			if cmd.Score != c.score || cmd.ValidUntil != c.until || cmd.Clear != c.clear || !slices.Equal(cmd.Components, c.comps) {
				t.Errorf("effect: score %+v until %d clear %v comps %v, want %+v %d %v %v",
					cmd.Score, cmd.ValidUntil, cmd.Clear, cmd.Components, c.score, c.until, c.clear, c.comps)
			}
			if cmd.AlertType != c.alert || cmd.Severity != c.severity || (c.alert != "" && cmd.Message == "") {
				t.Errorf("alert: %q %q %q, want %q %q", cmd.AlertType, cmd.Severity, cmd.Message, c.alert, c.severity)
			}
			// The ledger accepts what the mapping produces.
			if _, err := fsm.EncodeEntry(cmd, iat, "t"); err != nil {
				t.Errorf("encode: %v", err)
			}
		})
	}
}

// Event payloads that do not conform are invalid_request.
func TestEventMappingRefuses(t *testing.T) {
	p := newTestPartner(t)
	in := testNow.Unix()
	cases := []struct {
		name    string
		events  map[string]any
		subject any
	}{
		{"score missing", map[string]any{EventTrustAssessment: map[string]any{"validUntil": in + 60}}, nil},
		{"score above 100", map[string]any{EventTrustAssessment: map[string]any{"score": 100.5, "validUntil": in + 60}}, nil},
		{"score negative", map[string]any{EventTrustAssessment: map[string]any{"score": -1, "validUntil": in + 60}}, nil},
		{"score a string", map[string]any{EventTrustAssessment: map[string]any{"score": "50", "validUntil": in + 60}}, nil},
		{"validUntil missing", map[string]any{EventTrustAssessment: map[string]any{"score": 50}}, nil},
		{"validUntil before iat", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in - 1}}, nil},
		{"validUntil too far", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in + 367*86400}}, nil},
		{"unknown member", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in + 60, "weight": 1}}, nil},
		{"withdraw with a score", map[string]any{EventTrustAssessment: map[string]any{"withdraw": true, "score": 50}}, nil},
		{"withdraw false", map[string]any{EventTrustAssessment: map[string]any{"withdraw": false}}, nil},
		{"components incomplete", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in + 60,
			"components": map[string]any{"authentication": 20}}}, nil},
		{"components extra", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in + 60,
			"components": map[string]any{"authentication": 1, "behavior": 1, "compliance": 1, "history": 1, "context": 1, "luck": 1}}}, nil},
		{"component above 100", map[string]any{EventTrustAssessment: map[string]any{"score": 50, "validUntil": in + 60,
			"components": map[string]any{"authentication": 101, "behavior": 1, "compliance": 1, "history": 1, "context": 1}}}, nil},
		{"device status unknown", map[string]any{EventDeviceComplianceChange: map[string]any{"current_status": "meh"}}, nil},
		{"risk level unknown", map[string]any{EventRiskLevelChange: map[string]any{"current_level": "EXTREME"}}, nil},
		{"assurance without level", map[string]any{EventAssuranceLevelChange: map[string]any{"namespace": "NIST-AAL"}}, nil},
		{"two understood events", map[string]any{EventSessionRevoked: map[string]any{}, EventAccountDisabled: map[string]any{}}, nil},
		{"no subject", map[string]any{EventSessionRevoked: map[string]any{}}, false},
		{"subject not a principal id", map[string]any{EventSessionRevoked: map[string]any{}}, map[string]any{"format": "opaque", "id": "a b"}},
		{"email not a principal id", map[string]any{EventSessionRevoked: map[string]any{}}, map[string]any{"format": "email", "email": "a+b@example.com"}},
		{"iss_sub of another issuer", map[string]any{EventSessionRevoked: map[string]any{}}, map[string]any{"format": "iss_sub", "iss": "https://other.example", "sub": "alice"}},
		{"event subject disagrees", map[string]any{EventSessionRevoked: map[string]any{"subject": map[string]any{"format": "opaque", "id": "bob"}}}, nil},
		{"event subject malformed", map[string]any{EventSessionRevoked: map[string]any{"subject": map[string]any{"format": "opaque"}}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := claims("j1")
			cl["events"] = c.events
			switch s := c.subject.(type) {
			case bool:
				delete(cl, "sub_id")
			case map[string]any:
				cl["sub_id"] = s
			}
			_, cmd, err := verify(p.view, p.signed(t, "EdDSA", cl))
			var e *Error
			if !errors.As(err, &e) || e.Code != ErrInvalidRequest {
				t.Fatalf("want invalid_request, got %v (%+v)", err, cmd)
			}
		})
	}
}

// Subjects map to principal ids by the documented rule, at the top level
// or inside the event.
func TestSubjects(t *testing.T) {
	p := newTestPartner(t)
	cases := []struct {
		name      string
		subID     any
		inEvent   any
		principal string
	}{
		{"opaque", map[string]any{"format": "opaque", "id": "svc-42"}, nil, "svc-42"},
		{"email", map[string]any{"format": "email", "email": "Alice@Example.com"}, nil, "Alice@Example.com"},
		{"iss_sub of the partner", map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "248289761001"}, nil, "248289761001"},
		{"CAEP subject in the event", nil, map[string]any{"format": "email", "email": "bob@example.com"}, "bob@example.com"},
		{"both, agreeing", map[string]any{"format": "opaque", "id": "carol"}, map[string]any{"format": "opaque", "id": "carol"}, "carol"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := claims("j1")
			delete(cl, "sub_id")
			if c.subID != nil {
				cl["sub_id"] = c.subID
			}
			ev := map[string]any{}
			if c.inEvent != nil {
				ev["subject"] = c.inEvent
			}
			cl["events"] = map[string]any{EventSessionRevoked: ev}
			_, cmd, err := verify(p.view, p.signed(t, "ES256", cl))
			if err != nil {
				t.Fatal(err)
			}
			if cmd.PrincipalID != c.principal {
				t.Errorf("principal %q, want %q", cmd.PrincipalID, c.principal)
			}
		})
	}
}

// A SET without an understood event maps to nothing, whatever its subject;
// understood events alongside unknown ones are mapped.
func TestUnknownEventsIgnored(t *testing.T) {
	p := newTestPartner(t)
	cl := claims("j1")
	delete(cl, "sub_id")
	cl["events"] = map[string]any{
		"https://schemas.openid.net/secevent/ssf/event-type/verification":         map[string]any{"state": "abc"},
		"https://schemas.openid.net/secevent/caep/event-type/token-claims-change": map[string]any{},
	}
	set, cmd, err := verify(p.view, p.signed(t, "EdDSA", cl))
	if err != nil || cmd != nil || set.Understood() {
		t.Fatalf("unknown events: %v %+v", err, cmd)
	}
	cl = claims("j2")
	cl["events"] = map[string]any{EventAccountEnabled: map[string]any{}, "urn:example:custom": map[string]any{}}
	if _, cmd, err := verify(p.view, p.signed(t, "EdDSA", cl)); err != nil || cmd == nil || !cmd.Clear {
		t.Fatalf("understood beside unknown: %v %+v", err, cmd)
	}
	if got := EventTypes(); len(got) != 9 || !slices.IsSorted(got) {
		t.Errorf("EventTypes: %v", got)
	}
}
