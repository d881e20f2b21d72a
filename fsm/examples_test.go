package fsm

import (
	"testing"
	"time"
)

// The worked examples of docs/scoring.md: the two PrincipalTrust records of
// the original data model, produced by ordinary ledger events.

type timedCommand struct {
	at  string
	cmd Command
}

func ts(t testing.TB, s string) int64 {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v.UnixMilli()
}

func applyTimed(t testing.TB, l *Ledger, cmds []timedCommand) {
	t.Helper()
	for i, c := range cmds {
		data, err := EncodeEntry(c.cmd, ts(t, c.at), "example")
		if err != nil {
			t.Fatal(err)
		}
		r := l.Apply(uint64(i+1), data)
		if r.Err != nil {
			t.Fatalf("%s %s: %v", c.at, c.cmd.Kind(), r.Err)
		}
		for _, s := range r.Signals {
			if s.Status != StatusAccepted {
				t.Fatalf("%s: signal %s %s %s", c.at, s.EventID, s.Status, s.Reason)
			}
		}
	}
}

func sig(id, principal, event string, cat int, impactMilli int64) Signal {
	return Signal{EventID: id, PrincipalID: principal, Event: event, Category: uint8(cat), Impact: impactMilli * 1000}
}

func userExample() []timedCommand {
	adj := [5]int64{2_200, -1_750, -200, 4_000, 2_900}
	const u = "user_john_doe"
	return []timedCommand{
		{"2024-01-10T09:00:00Z", &SetOrg{OrgID: "acme", Name: "Acme Corp", Base: 70 * Point}},
		{"2024-01-15T09:00:00Z", &RegisterPrincipal{PrincipalID: u, PrincipalType: "user", OrgID: "acme", Frequency: "hourly",
			Metadata: []byte(`{"employee_type":"full_time","tenure_years":3}`)}},
		{"2024-01-15T09:05:00Z", &ReportFactors{PrincipalID: u,
			AuthenticationFactors: []byte(`{"mfa_enabled":true,"mfa_type":"hardware_token","password_age_days":45,"failed_attempts_30d":1}`),
			BehaviorMetrics:       []byte(`{"login_consistency":0.92,"typical_hours":true,"resource_access_pattern":"normal","data_volume":"average"}`),
			ComplianceStatus:      []byte(`{"training_completed":true,"last_training":"2024-02-01","policy_acknowledgments":12,"violations_ytd":0}`),
			RiskIndicators:        []byte(`["occasional_vpn_use","multiple_devices"]`)}},
		{"2024-02-01T10:00:00Z", &RecordSignals{Signals: []Signal{
			sig("u-2", u, "consistent_access_history", 3, adj[3]),
			sig("u-3", u, "managed_device_verified", 4, adj[4])}}},
		{"2024-02-20T16:00:00Z", &RecordSignals{Signals: []Signal{sig("u-4", u, "bulk_download_after_hours", 1, adj[1]), sig("u-1", u, "policy_acknowledgment_overdue", 2, adj[2])}}},
		{"2024-03-01T14:00:00Z", &RecordSignals{Signals: []Signal{sig("u-5", u, "reported_phishing", 1, 5_000), sig("u-6", u, "successful_mfa", 0, adj[0])}}},
		{"2024-03-10T08:00:00Z", &RecordSignals{Signals: []Signal{sig("u-7", u, "failed_mfa", 0, -5_000)}}},
	}
}

func serviceExample() []timedCommand {
	adj := [5]int64{1_000, 1_000, 1_000, 1_000, 200}
	const s = "svc_payment_processor"
	return []timedCommand{
		{"2024-02-14T13:00:00Z", &RegisterPrincipal{PrincipalID: s, PrincipalType: "service", Base: Some(85 * Point), Max: Some(95 * Point),
			DecayRate: Some(1_000), RecoveryRate: Some(200_000), Frequency: "daily",
			Metadata: []byte(`{"service_criticality":"high","sla_tier":"platinum"}`)}},
		{"2024-02-14T13:05:00Z", &ReportFactors{PrincipalID: s,
			AuthenticationFactors: []byte(`{"certificate_based":true,"cert_expiry":"2025-01-01","key_rotation":"monthly","mutual_tls":true}`),
			BehaviorMetrics:       []byte(`{"api_call_pattern":"consistent","error_rate":0.001,"latency":"normal","data_patterns":"expected"}`),
			ComplianceStatus:      []byte(`{"security_scans":"passed","vulnerability_assessment":"clean","last_audit":"2024-02-15","pci_compliant":true}`),
			RiskIndicators:        []byte(`["internet_facing","handles_cardholder_data"]`)}},
		{"2024-02-15T00:00:00Z", &RecordSignals{Signals: []Signal{sig("s-1", s, "successful_audit", 3, 15_000)}}},
		{"2024-03-01T00:00:00Z", &UpsertPartner{PartnerID: "vendor_assessment", Issuer: "https://vendor.example", Audience: "trustledger", Weight: 50_000, MaxInfluence: 5 * Point}},
		{"2024-03-01T00:00:00Z", &UpsertPartner{PartnerID: "third_party_audit", Issuer: "https://auditor.example", Audience: "trustledger", Weight: 50_000, MaxInfluence: 5 * Point}},
		{"2024-03-01T09:00:00Z", &RecordAssessment{EventID: "set-1", PartnerID: "vendor_assessment", PrincipalID: s, Score: 90 * Point, ValidUntil: 1711929600000, IssuedAt: 1709283600000}},
		{"2024-03-01T09:00:00Z", &RecordAssessment{EventID: "set-2", PartnerID: "third_party_audit", PrincipalID: s, Score: 88 * Point, ValidUntil: 1711929600000, IssuedAt: 1709283600000}},
		{"2024-03-15T11:00:00Z", &RecordSignals{Signals: []Signal{
			sig("s-2", s, "cert_rotation_verified", 0, adj[0]),
			sig("s-3", s, "health_check_passed", 1, adj[1]),
			sig("s-4", s, "scheduled_scan_passed", 2, adj[2]),
			sig("s-5", s, "sla_met", 3, adj[3]),
			sig("s-6", s, "network_segmentation_verified", 4, adj[4])}}},
	}
}

func TestExampleRecords(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []timedCommand
		id     string
		score  int64
		level  string
		parts  Breakdown
		trend  string
	}{
		{"user", userExample(), "user_john_doe", 78, "high", Breakdown{18, 20, 15, 18, 7, 0}, "decreasing"},
		{"service", serviceExample(), "svc_payment_processor", 92, "verified", Breakdown{25, 23, 22, 22, 0, 0}, "increasing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			applyTimed(t, l, tc.events)
			r, ok := l.Record(tc.id, ts(t, "2024-03-15T12:00:00Z"))
			if !ok {
				t.Fatal("no record")
			}
			if r.TrustScore != tc.score || r.TrustLevel != tc.level || r.ScoreComponents != tc.parts || r.TrustTrend != tc.trend {
				t.Fatalf("got %d %s %+v %s, want %d %s %+v %s\n%s", r.TrustScore, r.TrustLevel, r.ScoreComponents, r.TrustTrend,
					tc.score, tc.level, tc.parts, tc.trend, mustJSON(t, r))
			}
			if r.LastAssessmentAt == "" || r.NextAssessmentAt == "" {
				t.Fatal("assessment times missing")
			}
			t.Logf("%s", mustJSON(t, r))
		})
	}
}

// detectionExample exercises model 2's detections: insider drift, a
// partner's compromise report that outlives its assessment, remediation by
// a credential rotation, a review, privilege events, an overdue principal.
func detectionExample() []timedCommand {
	const risc = "https://schemas.openid.net/secevent/risc/event-type/"
	drift := []timedCommand{{"2024-04-01T08:00:00Z", &RegisterPrincipal{PrincipalID: "user_insider", PrincipalType: "user", Base: Some(70 * Point)}}}
	for i := 0; i < 8; i++ {
		drift = append(drift, timedCommand{"2024-04-01T1" + string(rune('0'+i)) + ":00:00Z", &RecordSignals{Signals: []Signal{
			{EventID: "drift-" + string(rune('a'+i)), PrincipalID: "user_insider", Event: "bulk_download_after_hours", Category: uint8(i % 4), Impact: -7 * Point}}}})
	}
	return append(drift,
		timedCommand{"2024-04-02T08:00:00Z", &RegisterPrincipal{PrincipalID: "svc_ledger", PrincipalType: "service", Base: Some(92 * Point)}},
		timedCommand{"2024-04-02T08:00:00Z", &UpsertPartner{PartnerID: "idp", Issuer: "https://idp.example", Audience: "trustledger", Weight: 500_000, MaxInfluence: 15 * Point}},
		timedCommand{"2024-04-02T09:00:00Z", &FederatedEvent{EventID: "set-cc-1", PartnerID: "idp", PrincipalID: "svc_ledger", IssuedAt: 1712048400000,
			EventType: risc + "credential-compromise", Score: Some(0), ValidUntil: 1714640400000, AlertType: "partner_credential_compromise",
			Severity: "high", Message: "credential compromised"}},
		timedCommand{"2024-05-10T09:00:00Z", &RecordSignals{Signals: []Signal{{EventID: "rot-1", PrincipalID: "svc_ledger", Event: "credential_rotated", Impact: Point}}}},
		timedCommand{"2024-05-10T10:00:00Z", &RegisterPrincipal{PrincipalID: "user_admin", PrincipalType: "user", Frequency: "daily"}},
		timedCommand{"2024-05-10T10:05:00Z", &RecordSignals{Signals: []Signal{
			{EventID: "priv-1", PrincipalID: "user_admin", Event: "role_granted", Category: 1, Impact: 0},
			{EventID: "priv-2", PrincipalID: "user_admin", Event: "sudo", Category: 1, Impact: 0},
			{EventID: "priv-3", PrincipalID: "user_admin", Event: "privilege_escalation", Category: 1, Impact: -2 * Point}}}},
		timedCommand{"2024-05-10T11:00:00Z", &ReviewAlert{AlertID: "alt-unknown", Action: ReviewConfirmCompromised}},
		timedCommand{"2024-05-10T11:00:00Z", &AddModifier{PrincipalID: "user_admin", Delta: -10 * Point, Reason: "under investigation", ExpiresAt: 1718000000000}},
	)
}
