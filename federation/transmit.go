package federation

import (
	"strconv"

	"github.com/trustledger/trustledger/fsm"
)

// SpecVersion is the SSF version the transmitter implements (SSF 1.0
// §7.1: spec_version).
const SpecVersion = "1_0"

// CAEPPrincipal maps a principal type onto CAEP's risk-level-change
// principal: devices and networks are DEVICE, users, services and
// applications USER (the identity a session belongs to).
func CAEPPrincipal(principalType string) string {
	switch principalType {
	case "device", "network":
		return "DEVICE"
	}
	return "USER"
}

// SETClaims returns the claims of the SET that carries outbox event e to a
// stream: iss, jti (the same for every delivery of the event), iat (the
// event's ledger time, so a retry is the same SET), aud, the subject as
// sub_id (RFC 9493 opaque: the principal id; for SSF's own events, the
// stream id) and the one event (docs/federation.md, "Events sent").
// principalType is the subject's type ("" when unknown).
func SETClaims(e fsm.OutEvent, issuer, aud, streamID, principalType string) map[string]any {
	iat := e.At / 1000
	sub := map[string]any{"format": "opaque", "id": e.PrincipalID}
	var payload map[string]any
	switch e.Type {
	case fsm.EventRiskLevelChange:
		payload = map[string]any{"principal": CAEPPrincipal(principalType), "current_level": caepLevel(e.Level),
			"risk_reason": e.Reason, "event_timestamp": iat}
		if e.PrevLevel != "" {
			payload["previous_level"] = caepLevel(e.PrevLevel)
		}
	case fsm.EventTrustAssessment:
		comps := map[string]any{}
		for i, name := range fsm.Categories {
			comps[name] = min(max(e.Components[i], 0), 100)
		}
		payload = map[string]any{"score": e.Score, "level": e.Level, "validUntil": e.ValidUntil / 1000,
			"components": comps, "reason": e.Reason}
	case fsm.EventAssuranceLevelChange:
		dir := "increase"
		if e.AAL < e.PrevAAL {
			dir = "decrease"
		}
		payload = map[string]any{"namespace": "NIST-AAL", "current_level": aal(e.AAL), "event_timestamp": iat}
		if e.PrevAAL > 0 {
			payload["previous_level"], payload["change_direction"] = aal(e.PrevAAL), dir
		}
	case fsm.EventSessionRevoked:
		payload = map[string]any{"event_timestamp": iat, "reason_admin": map[string]string{"en": e.Reason}}
	case fsm.EventAccountDisabled:
		// RISC's reason is an enumeration (hijacking, bulk-account) neither
		// of which an inactive principal is: left out.
		payload = map[string]any{}
	case fsm.EventAccountEnabled:
		payload = map[string]any{}
	case fsm.EventVerification:
		sub = map[string]any{"format": "opaque", "id": streamID}
		payload = map[string]any{}
		if e.State != "" {
			payload["state"] = e.State
		}
	case fsm.EventStreamUpdated:
		sub = map[string]any{"format": "opaque", "id": streamID}
		payload = map[string]any{"status": e.Status}
		if e.StatusReason != "" {
			payload["reason"] = e.StatusReason
		}
	default:
		payload = map[string]any{}
	}
	return map[string]any{"iss": issuer, "jti": e.JTI, "iat": iat, "aud": aud, "sub_id": sub,
		"events": map[string]any{e.Type: payload}}
}

// caepLevel is CAEP's risk level of a trust level.
func caepLevel(level string) string {
	for i, l := range fsm.Levels {
		if l == level {
			return fsm.CAEPLevels[i]
		}
	}
	return ""
}

// aal names a NIST assurance level as CAEP's NIST-AAL namespace does.
func aal(n int) string { return "nist-aal" + strconv.Itoa(n) }
