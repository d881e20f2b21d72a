package fsm

import (
	"strings"
	"testing"
)

// decideAt is the decision for action at low sensitivity, evaluated at t.
func (w *world) decideAt(id, action string, t int64) Decision {
	w.t.Helper()
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	d, err := w.l.decide(&w.l.policy, DecisionRequest{PrincipalID: id, Action: action}, t)
	if err != nil {
		w.t.Fatalf("decide %s: %v", id, err)
	}
	return d
}

func (w *world) detections(id string) []DetectionView {
	return w.l.Detections(DetectionFilter{PrincipalID: id})
}

// Property: a detection that holds a principal (a partner-reported
// compromise or disabled account, a compromise confirmed by review) keeps
// holding it — and its decisions are never allow, now or after every
// assessment has expired — until a review of that detection, or a
// remediation event the policy names for its type (from the reporting
// partner, for a partner's report). The test checks every lift against the
// entry that made it.
func TestPropertyCompromiseHoldsUntilRemediated(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		held := map[string]DetectionView{} // holding detections, as last seen
		for i := 0; i < 60; i++ {
			w.advance()
			cmd := w.holdStep()
			res := w.apply(cmd)
			now := map[string]DetectionView{}
			for _, d := range w.l.Detections(DetectionFilter{}) {
				if d.Holds {
					now[d.DetectionID] = d
				}
			}
			for id, d := range held {
				if _, still := now[id]; !still && !w.lifts(cmd, res, d) {
					t.Fatalf("%s (%s, %s) stopped holding %s after %T %+v", id, d.Type, d.State, d.PrincipalID, cmd, cmd)
				}
			}
			if c, ok := cmd.(*FederatedEvent); ok && res.Err == nil && res.Signals[0].Status == StatusAccepted && c.AlertType != "" &&
				len(w.detections(c.PrincipalID)) < int(w.l.Policy().AlertWindow) {
				found := false
				for _, d := range now {
					found = found || d.PrincipalID == c.PrincipalID && d.Type == c.AlertType && d.PartnerID == c.PartnerID
				}
				if !found {
					t.Fatalf("partner %s reported %s for %s and nothing holds it: %s", c.PartnerID, c.AlertType, c.PrincipalID,
						mustJSON(t, w.detections(c.PrincipalID)))
				}
			}
			held = now
			for _, d := range held {
				for _, at := range []int64{w.now, w.now + 45*24*hourMS} {
					if dec := w.decideAt(d.PrincipalID, "read", at); dec.Decision == DecisionAllow {
						t.Fatalf("%s allowed at +%dms while %s (%s) holds it: %+v", d.PrincipalID, at-w.now, d.DetectionID, d.Type, dec)
					}
				}
			}
		}
	})
}

// lifts says whether an applied entry may end detection d's hold: a review
// of d with an outcome, or a remediation event the policy names for d.
func (w *world) lifts(cmd Command, res *Result, d DetectionView) bool {
	if res.Err != nil {
		return false
	}
	pol := w.l.Policy()
	clears := func(event string) bool {
		for _, r := range pol.Remediations {
			if r.Event == event && (contains(r.Clears, d.Type) && d.State != AlertConfirmedCompromised ||
				contains(r.Clears, AlertConfirmedCompromised) && d.State == AlertConfirmedCompromised) {
				return true
			}
		}
		return false
	}
	switch c := cmd.(type) {
	case *ReviewAlert:
		return c.AlertID == d.DetectionID && c.Action != ReviewAcknowledge
	case *RecordSignals:
		for _, s := range c.Signals {
			if s.PrincipalID == d.PrincipalID && s.Impact >= 0 && clears(s.Event) {
				return true
			}
		}
	case *FederatedEvent:
		return c.PrincipalID == d.PrincipalID && c.PartnerID == d.PartnerID && d.State != AlertConfirmedCompromised && clears(c.EventType)
	}
	return false
}

// holdStep is a random command, with more compromises, reviews and
// remediation events than step gives.
func (w *world) holdStep() Command {
	id := w.principal()
	const risc = "https://schemas.openid.net/secevent/risc/event-type/"
	switch k := w.rng.IntN(12); {
	case k < 2:
		pid := w.partners[w.rng.IntN(len(w.partners))]
		typ, alert := "credential-compromise", "partner_credential_compromise"
		if w.rng.IntN(2) == 0 {
			typ, alert = "account-disabled", "partner_account_disabled"
		}
		return &FederatedEvent{EventID: w.eventID(), PartnerID: pid, PrincipalID: id, IssuedAt: w.now,
			EventType: risc + typ, Score: Some(0),
			ValidUntil: w.now + 1 + w.rng.Int64N(30*24*hourMS), AlertType: alert, Severity: "high", Message: "reported"}
	case k < 3:
		return &FederatedEvent{EventID: w.eventID(), PartnerID: w.partners[w.rng.IntN(len(w.partners))], PrincipalID: id,
			IssuedAt: w.now, EventType: risc + "account-enabled", Clear: true}
	case k < 5:
		if ids := w.alertIDs(); len(ids) > 0 {
			acts := []string{ReviewAcknowledge, ReviewDismiss, ReviewConfirmCompromised, ReviewConfirmSafe, ReviewRemediate}
			return &ReviewAlert{AlertID: ids[w.rng.IntN(len(ids))], Action: acts[w.rng.IntN(len(acts))]}
		}
	case k < 7:
		s := w.signal(id, 0)
		s.Impact = (w.rng.Int64N(201) - 100) * Point / 4
		return &RecordSignals{Signals: []Signal{s}}
	}
	return &RecordSignals{Signals: []Signal{w.signal(id, 1)}}
}

// Property: whenever the principal's score, as its history records it,
// lies CumulativeDrop or more below a score it had within the window, a
// cumulative_drop detection is pending — whatever mix of entries moved it.
// A review's point is not evidence (the analyst's verdict), and a judged
// cumulative drop restarts the window.
func TestPropertyCumulativeDropFires(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		for i := 0; i < 60; i++ {
			w.step()
			w.l.mu.RLock()
			pol := w.l.policy
			type found struct {
				id       string
				top, now int64
				alerts   int
			}
			var misses []found
			for _, id := range w.principals {
				p := w.l.principals.get(id)
				if p == nil || len(p.History) == 0 || pol.CumulativeDrop == 0 {
					continue
				}
				last := p.History[len(p.History)-1]
				judged := int64(-1)
				for i := range p.Alerts {
					if a := &p.Alerts[i]; a.Type == "cumulative_drop" && !a.pending() {
						judged = max(judged, a.ReviewedAt)
					}
				}
				if last.At != w.l.now || last.At <= judged || last.Cause == causeIndex(CauseReview) {
					continue
				}
				top := int64(0)
				for _, h := range p.History {
					if h.At > w.l.now-pol.CumulativeWindow && h.At > judged && h.Cause != causeIndex(CauseImported) &&
						h.Cause != causeIndex(CauseReview) {
						top = max(top, h.score()/Point)
					}
				}
				if (top-last.score()/Point)*Point < pol.CumulativeDrop {
					continue
				}
				ok := false
				for i := range p.Alerts {
					a := &p.Alerts[i]
					ok = ok || a.Type == "cumulative_drop" && (a.pending() || a.RaisedAt == w.l.now || a.ReviewedAt == w.l.now)
				}
				if !ok && len(p.Alerts) < int(pol.AlertWindow) {
					misses = append(misses, found{id, top, last.score() / Point, len(p.Alerts)})
				}
			}
			w.l.mu.RUnlock()
			if len(misses) > 0 {
				h, _ := w.l.History(misses[0].id)
				t.Errorf("score fell by at least %d within the window with no cumulative_drop detection: %+v\n%s\n%s",
					pol.CumulativeDrop/Point, misses, mustJSON(t, w.detections(misses[0].id)), mustJSON(t, h))
				return
			}
		}
	})
}

// Property: a signal moves only its own category's component in the
// breakdown; the decay it folds in is the time point's before it, and
// modifiers, endorsements and federation move the adjustment only.
func TestPropertyComponentsMoveWithOwnEvidence(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		for i := 0; i < 60; i++ {
			if w.rng.IntN(2) == 0 {
				w.step()
				continue
			}
			w.advance()
			id := w.principal()
			s := w.signal(id, 0)
			s.EventID = w.freshID()
			res := w.apply(&RecordSignals{Signals: []Signal{s}})
			if res.Err != nil || res.Signals[0].Status != StatusAccepted {
				continue
			}
			hist, _ := w.l.History(id)
			last := hist[len(hist)-1]
			if last.EventID != s.EventID {
				continue // the breakdown did not change
			}
			d := last.Components
			parts := []int64{d.Authentication, d.Behavior, d.Compliance, d.History, d.Context}
			for j, v := range parts {
				if j != int(s.Category) && v != 0 {
					t.Fatalf("a %s signal moved %s by %d: %+v", Categories[s.Category], Categories[j], v, last)
				}
			}
		}
		// modifiers move the adjustment only
		id := w.principal()
		w.advance()
		w.apply(&RecordSignals{Signals: []Signal{{EventID: w.freshID(), PrincipalID: id, Event: "x", Category: 0, Impact: 0}}})
		res := w.apply(&AddModifier{PrincipalID: id, Delta: -7 * Point, Reason: "test", ExpiresAt: w.now + hourMS})
		if res.Err != nil {
			return
		}
		hist, _ := w.l.History(id)
		if last := hist[len(hist)-1]; last.Cause == CauseModifier {
			c := last.Components
			if c.Authentication != 0 || c.Behavior != 0 || c.Compliance != 0 || c.History != 0 || c.Context != 0 {
				t.Fatalf("a modifier moved a component: %+v", last)
			}
		}
	})
}

// Property: a detection in a terminal state (remediated, dismissed,
// confirmed_safe) never changes state; one confirmed compromised only
// becomes remediated; every change is a transition with its actor.
func TestPropertyTerminalDetectionStatesAreFinal(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		seen := map[string]DetectionView{}
		for i := 0; i < 60; i++ {
			w.advance()
			w.apply(w.holdStep())
			for _, d := range w.l.Detections(DetectionFilter{}) {
				before, ok := seen[d.DetectionID]
				seen[d.DetectionID] = d
				if !ok || before.State == d.State {
					continue
				}
				switch {
				case terminalStates[before.State]:
					t.Fatalf("%s left terminal state %s for %s", d.DetectionID, before.State, d.State)
				case before.State == AlertConfirmedCompromised && d.State != AlertRemediated:
					t.Fatalf("%s went from confirmed_compromised to %s", d.DetectionID, d.State)
				case len(d.Transitions) != len(before.Transitions)+1 || d.Transitions[len(d.Transitions)-1].State != d.State ||
					d.Transitions[len(d.Transitions)-1].By == "":
					t.Fatalf("%s changed state without its transition: %+v", d.DetectionID, d.Transitions)
				}
			}
		}
	})
}

// Property: the history's points name their causes and their deltas add up
// to the score changes; its last point is the score now whenever an entry
// about the principal was just applied.
func TestPropertyHistoryCausesAddUp(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		for i := 0; i < 60; i++ {
			w.step()
			for _, id := range w.principals {
				hist, ok := w.l.History(id)
				if !ok || len(hist) == 0 {
					continue
				}
				for j, h := range hist {
					c := h.Components
					if sum := c.Authentication + c.Behavior + c.Compliance + c.History + c.Context + c.Adjustment; sum != h.Delta {
						t.Fatalf("%s point %d: components %+v add up to %d, delta %d", id, j, c, sum, h.Delta)
					}
					if j > 0 && h.Score-hist[j-1].Score != h.Delta {
						t.Fatalf("%s point %d: delta %d, score went %d → %d", id, j, h.Delta, hist[j-1].Score, h.Score)
					}
					if j == 0 && h.Delta != h.Score {
						t.Fatalf("%s first point: delta %d, score %d", id, h.Delta, h.Score)
					}
					if h.Cause == "" || (h.Cause == CauseSignal || h.Cause == CauseFederated || h.Cause == CauseAssessment) && h.EventID == "" {
						t.Fatalf("%s point %d has no cause or event: %+v", id, j, h)
					}
				}
				last := hist[len(hist)-1]
				w.l.mu.RLock()
				endorsed := len(w.l.principals.get(id).Endorsed) > 0
				w.l.mu.RUnlock()
				own := w.last != nil && w.last.Index == w.idx && w.last.Err == nil && len(w.last.Subjects) == 1 && w.last.Subjects[0] == id && !endorsed
				if own && w.last.Kind != KindSetOrg {
					if r, _ := w.l.Record(id, w.last.Time); r.TrustScore != last.Score {
						t.Fatalf("%s: history ends at %d, the score is %d after %+v\n%s", id, last.Score, r.TrustScore, w.last, mustJSON(t, r))
					}
				}
			}
		}
	})
}

// The scenarios the model was changed for (docs/scoring.md, "12.
// Detections and review"), replayed.

func scenarioLedger(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t, 1)
	w.principals = nil
	return w, "svc"
}

// A RISC credential-compromise against a service at 92 holds it at deny,
// and still after the 30-day assessment expired, until a remediation.
func TestScenarioCompromiseDoesNotHealByExpiry(t *testing.T) {
	for _, remedy := range []string{"review", "credential_rotated"} {
		t.Run(remedy, func(t *testing.T) {
			w, id := scenarioLedger(t)
			w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: "service", Base: Some(92 * Point)})
			w.apply(&UpsertPartner{PartnerID: "idp", Issuer: "https://idp.example", Audience: "tl", Weight: 500_000, MaxInfluence: 15 * Point})
			if d := w.decideAt(id, "write", w.now); d.Decision != DecisionAllow {
				t.Fatalf("before: %s", d.Decision)
			}
			w.now += hourMS
			res := w.apply(&FederatedEvent{EventID: "set-1", PartnerID: "idp", PrincipalID: id, IssuedAt: w.now,
				EventType: "https://schemas.openid.net/secevent/risc/event-type/credential-compromise", Score: Some(0),
				ValidUntil: w.now + 30*24*hourMS, AlertType: "partner_credential_compromise", Severity: "high", Message: "credential compromised"})
			if res.Err != nil || len(res.Alerts) != 1 {
				t.Fatalf("compromise: %+v", res)
			}
			det := res.Alerts[0].ID
			for _, after := range []int64{0, 31 * 24 * hourMS} {
				r, _ := w.l.Record(id, w.now+after)
				for _, action := range []string{"read", "write"} {
					if d := w.decideAt(id, action, w.now+after); d.Decision != DecisionDeny || d.Reasons[len(d.Reasons)-1].Code != "remediation_required" {
						t.Fatalf("+%dd %s: %s %+v (score %d)", after/(24*hourMS), action, d.Decision, d.Reasons, r.TrustScore)
					}
				}
				if len(r.Holds) != 1 || r.Holds[0].DetectionID != det {
					t.Fatalf("holds: %+v", r.Holds)
				}
			}
			w.now += 31 * 24 * hourMS
			if r, _ := w.l.Record(id, w.now); r.TrustScore < 85 {
				t.Fatalf("after expiry the score should be back (%d): the hold, not the score, denies", r.TrustScore)
			}
			if remedy == "review" {
				if err := w.l.Check(&ReviewAlert{AlertID: det, Action: ReviewRemediate}, "test", w.now); err != nil {
					t.Fatal(err)
				}
				w.apply(&ReviewAlert{AlertID: det, Action: ReviewRemediate, Note: "credentials reset"})
			} else {
				w.apply(&RecordSignals{Signals: []Signal{{EventID: "rot-1", PrincipalID: id, Event: "credential_rotated", Category: 0, Impact: Point}}})
			}
			d, _ := w.l.Detection(det)
			if d.State != AlertRemediated || len(d.Transitions) != 1 || d.Transitions[0].By != "test" {
				t.Fatalf("detection after %s: %+v", remedy, d)
			}
			if dec := w.decideAt(id, "write", w.now); dec.Decision != DecisionAllow {
				t.Fatalf("after remediation: %s %+v", dec.Decision, dec.Reasons)
			}
			if err := w.l.Check(&ReviewAlert{AlertID: det, Action: ReviewDismiss}, "test", w.now); err == nil || !strings.Contains(err.Error(), "remediated") {
				t.Fatalf("a remediated detection can be re-reviewed: %v", err)
			}
		})
	}
}

// Eight signals of -7 across four categories take a principal from 70:
// the cumulative drop is detected and the record requires review.
func TestScenarioInsiderDriftRaisesCumulativeDrop(t *testing.T) {
	w, id := scenarioLedger(t)
	w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: "user", Base: Some(70 * Point)})
	for i := 0; i < 8; i++ {
		w.now += 2 * hourMS
		w.apply(&RecordSignals{Signals: []Signal{{EventID: "drift-" + string(rune('a'+i)), PrincipalID: id, Event: "policy_violation",
			Category: uint8(i % 4), Impact: -7 * Point}}})
	}
	r, _ := w.l.Record(id, w.now)
	var cum *AlertView
	for i := range r.TrustAlerts {
		if r.TrustAlerts[i].Type == "cumulative_drop" {
			cum = &r.TrustAlerts[i]
		}
	}
	if cum == nil || !r.RequiresReview {
		t.Fatalf("score %d, alerts %+v, requiresReview %v", r.TrustScore, r.TrustAlerts, r.RequiresReview)
	}
	d, _ := w.l.Detection(cum.AlertID)
	if d.Source != SourceRule || len(d.EventIDs) == 0 || !strings.Contains(d.Evidence, "within 24h") {
		t.Fatalf("detection: %+v", d)
	}
	// it fired at 70 → 42 or sooner
	hist, _ := w.l.History(id)
	for _, h := range hist {
		if h.EventID == d.EventIDs[0] && h.Score < 42 {
			t.Fatalf("cumulative drop fired only at %d: %+v", h.Score, d)
		}
	}
}

// Four compliance violations move compliance, not authentication.
func TestScenarioComplianceViolationsMoveCompliance(t *testing.T) {
	w, id := scenarioLedger(t)
	w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: "user", Base: Some(80 * Point)})
	r0, _ := w.l.Record(id, w.now)
	for i := 0; i < 4; i++ {
		w.now += 30 * 60_000
		w.apply(&RecordSignals{Signals: []Signal{{EventID: "c-" + string(rune('a'+i)), PrincipalID: id, Event: "policy_violation",
			Category: 2, Impact: -5 * Point}}})
	}
	r, _ := w.l.Record(id, w.now)
	a, b := r0.ScoreComponents, r.ScoreComponents
	if b.Authentication != a.Authentication || b.Behavior != a.Behavior || b.History != a.History || b.Context != a.Context {
		t.Fatalf("components other than compliance moved: %+v → %+v", a, b)
	}
	if b.Compliance >= a.Compliance-20 || b.Sum() != r.TrustScore {
		t.Fatalf("compliance %d → %d, breakdown %+v, score %d", a.Compliance, b.Compliance, b, r.TrustScore)
	}
	if r.Explanation.Components["compliance"] != dec(w.l.principals.get(id).V[2]) {
		t.Fatalf("explanation and breakdown disagree")
	}
}

// A trend over a score that only decayed reads decreasing; an overdue
// assessment is flagged and lowers confidence; ?overdue lists it.
func TestScenarioDecayTrendAndOverdue(t *testing.T) {
	w, id := scenarioLedger(t)
	w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: "user", Base: Some(78 * Point), DecayRate: Some(Point / 100),
		Frequency: "daily"})
	w.apply(&RegisterPrincipal{PrincipalID: "fresh", PrincipalType: "user", Frequency: "monthly"})
	for i := 0; i < 5; i++ {
		w.apply(&RecordSignals{Signals: []Signal{{EventID: "ok-" + string(rune('a'+i)), PrincipalID: id, Event: "successful_mfa", Impact: 0}}})
	}
	r0, _ := w.l.Record(id, w.now)
	if r0.AssessmentOverdue {
		t.Fatal("overdue at once")
	}
	later := w.now + 100*24*hourMS
	r, _ := w.l.Record(id, later)
	if r.TrustScore > 60 || r.TrustTrend != "decreasing" || !r.AssessmentOverdue || r.Confidence >= r0.Confidence {
		t.Fatalf("after 100 days: score %d trend %s overdue %v confidence %d (was %d)", r.TrustScore, r.TrustTrend, r.AssessmentOverdue,
			r.Confidence, r0.Confidence)
	}
	yes := true
	got, _ := w.l.List(Filter{Overdue: &yes}, w.now+2*24*hourMS)
	listed := map[string]bool{}
	for _, r := range got {
		listed[r.PrincipalID] = r.AssessmentOverdue
	}
	if !listed[id] || len(listed) != len(got) {
		t.Fatalf("overdue list: %v", listed)
	}
	if _, ok := listed["fresh"]; ok {
		t.Fatal("a principal with a monthly assessment is listed overdue after two days")
	}
}

// A partner's account-enabled remediates the account-disabled that partner
// reported, not another partner's.
func TestScenarioPartnerRemediatesOnlyItsOwnReport(t *testing.T) {
	w, id := scenarioLedger(t)
	const risc = "https://schemas.openid.net/secevent/risc/event-type/"
	w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: "user", Base: Some(80 * Point)})
	for _, pid := range []string{"idp-a", "idp-b"} {
		w.apply(&UpsertPartner{PartnerID: pid, Issuer: "https://" + pid + ".example", Audience: "tl", Weight: 100_000, MaxInfluence: 5 * Point})
	}
	res := w.apply(&FederatedEvent{EventID: "dis-a", PartnerID: "idp-b", PrincipalID: id, IssuedAt: w.now, EventType: risc + "account-disabled",
		Score: Some(0), ValidUntil: w.now + 24*hourMS, AlertType: "partner_account_disabled", Severity: "high", Message: "disabled"})
	det := res.Alerts[0].ID
	w.apply(&FederatedEvent{EventID: "en-a", PartnerID: "idp-a", PrincipalID: id, IssuedAt: w.now, EventType: risc + "account-enabled", Clear: true})
	if d, _ := w.l.Detection(det); d.State != AlertOpen || d.PartnerID != "idp-b" || !d.Holds {
		t.Fatalf("another partner's account-enabled changed the detection: %+v", d)
	}
	w.apply(&FederatedEvent{EventID: "en-b", PartnerID: "idp-b", PrincipalID: id, IssuedAt: w.now, EventType: risc + "account-enabled", Clear: true})
	if d, _ := w.l.Detection(det); d.State != AlertRemediated || d.Transitions[0].By != "partner:idp-b" {
		t.Fatalf("the reporting partner's account-enabled did not remediate: %+v", d)
	}
	if dec := w.decideAt(id, "read", w.now); dec.Decision != DecisionAllow {
		t.Fatalf("after remediation: %s %+v", dec.Decision, dec.Reasons)
	}
}

// Property: the windowed rules fire whenever their condition holds,
// whatever the mix of events. The test keeps its own record of each
// principal's negative signals (any category), privilege events and
// smoothed baseline, from the signals it sends, and after each signal
// expects the detection pending when the condition holds.
func TestPropertyWindowRulesFire(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		type track struct {
			fails, privs []int64
			base         int64
			n            int64
		}
		seen := map[string]*track{}
		pending := func(id, typ string) bool {
			for _, d := range w.detections(id) {
				if d.Type == typ && (d.State == AlertOpen || d.State == AlertAcknowledged || d.DetectedAt == FormatTime(w.now)) {
					return true
				}
			}
			return len(w.detections(id)) >= int(w.l.Policy().AlertWindow)
		}
		pol := w.l.Policy()
		id := w.principal()
		for i := 0; i < 80; i++ {
			// Bursts: mostly the same principal, a minute or two apart.
			if w.rng.IntN(5) == 0 {
				w.advance()
				id = w.principal()
			} else {
				w.now += w.rng.Int64N(150_000)
			}
			s := w.signal(id, 0)
			s.EventID, s.ObservedAt = w.freshID(), 0
			if w.rng.IntN(4) == 0 {
				s.Event = pol.PrivilegeEvents[w.rng.IntN(len(pol.PrivilegeEvents))]
			}
			res := w.apply(&RecordSignals{Signals: []Signal{s}})
			if res.Err != nil || res.Signals[0].Status != StatusAccepted {
				continue
			}
			tr := seen[id]
			if tr == nil {
				tr = &track{}
				seen[id] = tr
			}
			keep := func(ts []int64, window int64) []int64 {
				out := ts[:0]
				for _, x := range ts {
					if x > w.now-window {
						out = append(out, x)
					}
				}
				return out
			}
			if s.Impact < 0 {
				tr.fails = append(keep(tr.fails, pol.BurstWindow), w.now)
				if int64(len(tr.fails)) >= pol.BurstCount && !pending(id, "failure_burst") {
					t.Fatalf("%s: %d negative signals within %dms and no failure_burst", id, len(tr.fails), pol.BurstWindow)
				}
			}
			if contains(pol.PrivilegeEvents, s.Event) {
				tr.privs = append(keep(tr.privs, pol.PrivilegeWindow), w.now)
				if int64(len(tr.privs)) >= pol.PrivilegeBurst && !pending(id, "privilege_burst") {
					t.Fatalf("%s: %d privilege events within %dms and no privilege_burst", id, len(tr.privs), pol.PrivilegeWindow)
				}
			}
			after := w.eval(id, w.now).Exact
			if tr.n >= pol.BaselineMinEvents && tr.base-after >= pol.BaselineDeviation && !pending(id, "baseline_deviation") {
				t.Fatalf("%s: score %d is %d below its baseline %d and no baseline_deviation", id, after, tr.base-after, tr.base)
			}
			if tr.n == 0 {
				tr.base = after
			} else {
				tr.base += (after - tr.base) / pol.BaselineSmoothing
			}
			tr.n++
		}
	})
}
