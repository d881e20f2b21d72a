package fsm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzApply feeds arbitrary bytes to decode + Apply, after a little state,
// and checks that Apply never panics, that a rejected entry leaves every
// record unchanged, and that the ledger still snapshots and restores.
func FuzzApply(f *testing.F) {
	for _, c := range []Command{
		&RegisterPrincipal{PrincipalID: "u1", PrincipalType: "user", OrgID: "acme"},
		&RecordSignals{Signals: []Signal{{EventID: "e1", PrincipalID: "u1", Event: "failed_login", Impact: -5 * Point}}},
		&ReportFactors{PrincipalID: "u1", AuthenticationFactors: []byte(`{"mfa_enabled":true}`)},
		&AddEndorsement{EndorserID: "u2", EndorseeID: "u1"},
		&RecordAssessment{EventID: "j1", PartnerID: "p1", PrincipalID: "u1", Score: 90 * Point, ValidUntil: t0 + hourMS},
		&SetPolicy{Policy: DefaultPolicy()},
		&ImportRecord{PrincipalID: "u9", PrincipalType: "service", Score: 92 * Point},
		&AddModifier{PrincipalID: "u1", Delta: -3 * Point, ExpiresAt: t0 + hourMS},
		&FederatedEvent{EventID: "j2", PartnerID: "p1", PrincipalID: "u1", IssuedAt: t0, Score: Some(20 * Point), ValidUntil: t0 + hourMS,
			AlertType: "partner_risk", Severity: "high", Message: "risk high"},
	} {
		d, err := EncodeEntry(c, t0, "fuzz")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
	}
	f.Add([]byte{})
	f.Add([]byte{FormatVersion})
	f.Add([]byte{FormatVersion, 0x94, 0x04, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xc4, 0x00})
	f.Add([]byte{2, 0x90})

	f.Fuzz(func(t *testing.T, data []byte) {
		l := NewLedger()
		setup := []Command{
			&SetOrg{OrgID: "acme", Base: 70 * Point},
			&RegisterPrincipal{PrincipalID: "u1", PrincipalType: "user", OrgID: "acme"},
			&RegisterPrincipal{PrincipalID: "u2", PrincipalType: "service"},
			&UpsertPartner{PartnerID: "p1", Issuer: "https://p1", Audience: "tl", Weight: 300_000, MaxInfluence: 10 * Point},
		}
		for i, c := range setup {
			d, _ := EncodeEntry(c, t0, "fuzz")
			if r := l.Apply(uint64(i+1), d); r.Err != nil {
				t.Fatalf("setup: %v", r.Err)
			}
		}
		before := records(t, l)
		r := l.Apply(uint64(len(setup)+1), data)
		if r == nil {
			t.Fatal("nil result")
		}
		if r.Err != nil && records(t, l) != before {
			t.Fatalf("rejected entry (%v) changed records", r.Err)
		}
		var buf bytes.Buffer
		if _, err := l.Snapshot().WriteTo(&buf); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		l2 := NewLedger()
		if err := l2.Restore(&buf); err != nil {
			t.Fatalf("restore: %v", err)
		}
		if records(t, l2) != records(t, l) || l2.Digest() != l.Digest() {
			t.Fatal("restored state differs")
		}
		// Restore of arbitrary bytes never panics either.
		_ = NewLedger().Restore(bytes.NewReader(data))
	})
}

func records(t *testing.T, l *Ledger) string {
	var out bytes.Buffer
	for _, id := range []string{"u1", "u2", "u9"} {
		if r, ok := l.Record(id, t0+hourMS); ok {
			r.LedgerIndex = 0
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatalf("marshal %s: %v", id, err)
			}
			out.Write(b)
		}
	}
	return out.String()
}
