package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/trustledger/trustledger/api/client"
)

// writeRecord prints a trust record for people: the score and why, then
// the evidence it rests on. --output json prints every property instead.
func writeRecord(w io.Writer, r *client.Record) {
	writeRecordHead(w, r)
	writeRecordEvidence(w, r)
}

// writeRecordHead prints the score, its breakdown and the principal's
// settings, and why.
func writeRecordHead(w io.Writer, r *client.Record) {
	org := ""
	if r.OrgID != "" {
		org = ", org " + r.OrgID
	}
	row(w, "Principal", fmt.Sprintf("%s (%s%s)", r.PrincipalID, r.PrincipalType, org))
	row(w, "Trust score", fmt.Sprintf("%d %s (exact %s, trend %s, confidence %d)", r.TrustScore, r.TrustLevel,
		r.TrustScoreExact, r.TrustTrend, r.Confidence))
	sc := r.ScoreComponents
	row(w, "Components", fmt.Sprintf("authentication %d · behavior %d · compliance %d · history %d · context %d · adjustment %d",
		sc.Authentication, sc.Behavior, sc.Compliance, sc.History, sc.Context, sc.Adjustment))
	row(w, "Baseline", fmt.Sprintf("%s (bounds %s–%s, decay %s/h, recovery %s/h)", r.BaseTrustScore,
		r.MinTrustScore, r.MaxTrustScore, r.TrustDecayRate, r.TrustRecoveryRate))
	row(w, "Active", fmt.Sprintf("%s, requires review: %s", yesNo(r.IsActive), yesNo(r.RequiresReview)))
	overdue := ""
	if r.AssessmentOverdue {
		overdue = " (overdue)"
	}
	row(w, "Assessment", fmt.Sprintf("%s; last %s, next %s%s", r.AssessmentFrequency, r.LastAssessmentAt, r.NextAssessmentAt, overdue))
	row(w, "Evaluated at", fmt.Sprintf("%s (ledger index %d)", r.EvaluatedAt, r.LedgerIndex))
	row(w, "Trust ID", r.TrustID)
	for _, h := range r.Holds {
		row(w, "Held by", fmt.Sprintf("detection %s (%s, %s): decisions are held until it is remediated", h.DetectionID, h.Type, h.State))
	}
	if len(r.Explanation.Summary) > 0 {
		fmt.Fprintln(w, "\nWhy:")
		for _, s := range r.Explanation.Summary {
			fmt.Fprintln(w, "  "+s)
		}
	}
}

// writeRecordEvidence prints what the record rests on: signals, alerts,
// endorsements, federated trust, modifiers and factor reports.
func writeRecordEvidence(w io.Writer, r *client.Record) {
	signals := append(append([]client.RecordedSignal(nil), r.NegativeSignals...), r.PositiveSignals...)
	sort.SliceStable(signals, func(i, j int) bool { return signals[i].Timestamp > signals[j].Timestamp })
	if len(signals) > 0 {
		fmt.Fprintln(w, "\nRecent signals:")
		row(w, "  TIME", "CATEGORY", "EVENT", "IMPACT")
		for _, s := range signals {
			row(w, "  "+s.Timestamp, s.Category, s.Event, signed(s.Impact))
		}
	}
	if len(r.TrustAlerts) > 0 {
		fmt.Fprintln(w, "\nAlerts:")
		row(w, "  ALERT", "SEVERITY", "TYPE", "STATUS", "RAISED", "MESSAGE")
		for _, a := range r.TrustAlerts {
			row(w, "  "+a.AlertID, a.Severity, a.Type, a.Status, a.RaisedAt, a.Message)
		}
	}
	if len(r.Endorsements) > 0 {
		fmt.Fprintln(w, "\nEndorsements:")
		row(w, "  ID", "ENDORSER", "WEIGHT", "COUNTED", "EXPIRES", "REASON")
		for _, e := range r.Endorsements {
			row(w, "  "+e.EndorsementID, e.EndorserID, e.Weight, e.Counted, e.ExpiresAt, e.Reason)
		}
	}
	if len(r.FederatedTrust) > 0 {
		fmt.Fprintln(w, "\nFederated trust:")
		row(w, "  PARTNER", "SCORE", "INFLUENCE", "COUNTED", "VALID UNTIL", "SOURCE")
		ids := make([]string, 0, len(r.FederatedTrust))
		for id := range r.FederatedTrust {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			f := r.FederatedTrust[id]
			row(w, "  "+id, f.Score, f.Influence, f.Counted, f.ValidUntil, f.Source)
		}
	}
	if len(r.TrustModifiers) > 0 {
		fmt.Fprintln(w, "\nModifiers:")
		row(w, "  ID", "DELTA", "EXPIRES", "REASON")
		for _, m := range r.TrustModifiers {
			row(w, "  "+m.ID, signed(m.Delta), m.ExpiresAt, m.Reason)
		}
	}
	factors := [][2]any{{"authenticationFactors", r.AuthenticationFactors}, {"behaviorMetrics", r.BehaviorMetrics},
		{"complianceStatus", r.ComplianceStatus}, {"riskIndicators", r.RiskIndicators}, {"context", r.Context},
		{"metadata", r.Metadata}}
	header := false
	for _, f := range factors {
		if s := cell(f[1]); s != "-" {
			if !header {
				fmt.Fprintln(w, "\nFactors:")
				header = true
			}
			row(w, "  "+f[0].(string), s)
		}
	}
}
