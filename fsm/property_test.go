package fsm

import (
	"errors"
	"testing"
)

// Invariant 1: bounds hold; the level matches the thresholds.
// Invariant 10: the breakdown adds up to the score it explains.
func TestPropertyBoundsLevelsBreakdown(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		for i := 0; i < 40; i++ {
			w.step()
			id := w.principal()
			at := w.now + w.rng.Int64N(60*24*hourMS)
			w.l.mu.RLock()
			p := w.l.principals.get(id)
			ev := w.l.evaluate(p, at)
			pol := w.l.policy
			lo, hi := p.Min, p.Max
			w.l.mu.RUnlock()
			if ev.Exact < lo || ev.Exact > hi || ev.Score < 0 || ev.Score > 100 {
				t.Errorf("%s: score %d (exact %d) outside [%d, %d]", id, ev.Score, ev.Exact, lo, hi)
			}
			want := 0
			for j, th := range pol.Thresholds {
				if ev.Score*Point >= th {
					want = j + 1
				}
			}
			if ev.Level != want {
				t.Errorf("%s: level %s for score %d, want %s", id, Levels[ev.Level], ev.Score, Levels[want])
			}
			var sum int64
			for j, c := range ev.Components {
				if j < NumComponents && (c*Point < -maxDebt || c*Point > pol.Caps[j]) {
					t.Errorf("%s: component %s = %d outside [-maxDebt, cap]", id, Categories[j], c)
				}
				if j < NumComponents && c != roundPoints(p.V[j]) {
					t.Errorf("%s: component %s = %d, its evidence is %d µpt", id, Categories[j], c, p.V[j])
				}
				sum += c
			}
			if sum != ev.Score {
				t.Errorf("%s: breakdown %v sums to %d, score %d", id, ev.Components, sum, ev.Score)
			}
			if t.Failed() {
				return
			}
		}
	})
}

// Invariant 2: at the same t, a negative signal never raises the score and
// a positive one never lowers it.
func TestPropertySignalDirection(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(10 + w.rng.IntN(30))
		for i := 0; i < 10; i++ {
			w.step()
			id := w.principal()
			sign := 1
			if w.rng.IntN(2) == 0 {
				sign = -1
			}
			before := make(map[string]int64)
			for _, q := range w.principals {
				before[q] = w.eval(q, w.now).Exact
			}
			s := w.signal(id, sign)
			w.apply(&RecordSignals{Signals: []Signal{s}})
			after := w.eval(id, w.now).Exact
			if sign < 0 && after > before[id] {
				t.Errorf("negative signal %+v raised %s from %d to %d", s, id, before[id], after)
			}
			if sign > 0 && after < before[id] {
				t.Errorf("positive signal %+v lowered %s from %d to %d", s, id, before[id], after)
			}
			if t.Failed() {
				return
			}
		}
	})
}

// Invariant 3: repeated violations lower the score progressively: each
// repeat lowers the score until it reaches the floor, and the evidence lost
// per repeat never shrinks while the escalation window holds.
func TestPropertyRepeatedViolationsEscalate(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(w.rng.IntN(30))
		id := w.principal()
		act := true
		w.apply(&UpdatePrincipal{PrincipalID: id, Active: &act})
		cat := uint8(w.rng.IntN(NumComponents))
		imp := -(1 + w.rng.Int64N(10*Point))
		var prevScore int64
		prevLoss := int64(0)
		var prevRaw int64
		var prevRawAboveMax bool
		for i := 0; i < 12; i++ {
			w.now += w.rng.Int64N(hourMS) // well inside the escalation window
			evp := w.eval(id, w.now)
			prevScore, prevRaw = evp.Exact, evp.Local+evp.Endorsement+evp.Federation
			w.l.mu.RLock()
			prevRawAboveMax = prevRaw > w.l.principals.get(id).Max
			w.l.mu.RUnlock()
			w.l.mu.RLock()
			vBefore := w.l.principals.get(id).V[cat]
			w.l.mu.RUnlock()
			w.apply(&RecordSignals{Signals: []Signal{{EventID: w.freshID(), PrincipalID: id, Event: "policy_violation", Category: cat, Impact: imp}}})
			w.l.mu.RLock()
			p := w.l.principals.get(id)
			// The loss this violation applied (after escalation), as
			// recorded in the recent negative signals.
			loss := -int64(p.Negative[len(p.Negative)-1].Impact) * 1000
			floorV := p.V[cat] == -maxDebt || vBefore-loss < -maxDebt
			lo, comp := p.Min, p.Compromised
			w.l.mu.RUnlock()
			ev := w.eval(id, w.now)
			raw := ev.Local + ev.Endorsement + ev.Federation
			if raw >= prevRaw && !floorV && !comp {
				t.Errorf("repeat %d did not lower the raw score of %s: %d -> %d", i+1, id, prevRaw, raw)
			}
			// The bounded score falls with every repeat unless it sits at
			// its floor, or modifiers, endorsements or federation hold the
			// raw score above the ceiling.
			if prevRawAboveMax {
				prevLoss = loss
				continue
			}
			if !floorV && loss < prevLoss {
				t.Errorf("repeat %d lost %d evidence, less than the previous %d", i+1, loss, prevLoss)
			}
			if ev.Exact >= prevScore && prevScore > lo && !comp {
				t.Errorf("repeat %d did not lower %s: %d -> %d (floor %d)", i+1, id, prevScore, ev.Exact, lo)
			}
			prevLoss = loss
			if t.Failed() {
				return
			}
		}
	})
}

// Invariant 4: recovery after a violation is no faster than the recovery
// rate allows: the principal's evidence after decay (its score before
// temporary modifiers, endorsements and federation) may regain at most
// trustRecoveryRate points per hour since the violation.
func TestPropertyRecoveryRate(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(w.rng.IntN(30))
		id := w.principal()
		w.apply(&RecordSignals{Signals: []Signal{{EventID: w.freshID(), PrincipalID: id, Event: "failed_login",
			Category: uint8(w.rng.IntN(NumComponents)), Impact: -(1 + w.rng.Int64N(30*Point))}}})
		tv := w.now
		base := w.own(id, tv)
		w.l.mu.RLock()
		rate := w.l.principals.get(id).RecoveryRate
		w.l.mu.RUnlock()
		for i := 0; i < 15; i++ {
			w.now += w.rng.Int64N(12 * hourMS)
			if w.rng.IntN(4) == 0 {
				f := factorPool[w.rng.IntN(len(factorPool))]
				f.PrincipalID = id
				w.apply(&f)
			} else {
				s := w.signal(id, 1)
				if s.Event == "credential_rotated" || s.Event == "hardware_mfa_enrolled" {
					// a remediation ends a confirmed compromise, which held
					// the score at the floor: not a recovery
					s.Event = "successful_mfa"
				}
				w.apply(&RecordSignals{Signals: []Signal{s}})
			}
			for _, at := range []int64{w.now, w.now + w.rng.Int64N(48*hourMS)} {
				got := w.own(id, at)
				limit := base + mulDiv(rate, at-tv, hourMS, 1000*Point)
				if got > limit {
					t.Errorf("%s recovered to %d at +%dms after a violation, limit %d (base %d, rate %d/h)", id, got, at-tv, limit, base, rate)
					return
				}
			}
		}
	})
}

// Invariant 5: with no new events, the score is non-increasing in t and
// never below the floor. Temporary penalties (negative modifiers and
// federated assessments below the local score) end at an expiry written in
// the ledger; across such an expiry the score may rise, so the check holds
// between expiries, which the test reads from the state.
func TestPropertyDecayMonotone(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(5 + w.rng.IntN(40))
		for _, id := range w.principals {
			t1 := w.now + w.rng.Int64N(40*24*hourMS)
			t2 := t1 + w.rng.Int64N(40*24*hourMS)
			s1, s2 := w.eval(id, t1), w.eval(id, t2)
			w.l.mu.RLock()
			lo := w.l.principals.get(id).Min
			penaltyEnds := w.penaltyExpiresBetween(t1, t2)
			w.l.mu.RUnlock()
			if s2.Exact < lo || s1.Exact < lo {
				t.Errorf("%s below its floor %d: %d, %d", id, lo, s1.Exact, s2.Exact)
			}
			if !penaltyEnds && s2.Exact > s1.Exact {
				t.Errorf("%s rose from %d at t1 to %d at t2 with no events", id, s1.Exact, s2.Exact)
			}
		}
	})
}

// penaltyExpiresBetween reports whether a negative modifier or any federated
// assessment of any principal expires in (t1, t2]. Caller holds the lock.
func (w *world) penaltyExpiresBetween(t1, t2 int64) bool {
	for _, id := range w.l.principals.ids() {
		p := w.l.principals.get(id)
		for _, m := range p.Modifiers {
			if m.Delta < 0 && m.ExpiresAt > t1 && m.ExpiresAt <= t2 {
				return true
			}
		}
		for _, a := range p.Assessments {
			if a.ValidUntil > t1 && a.ValidUntil <= t2 {
				return true
			}
		}
	}
	return false
}

// Invariant 6: a new principal of organization O with no evidence scores
// O's baseline.
func TestPropertyOrgBaseline(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(w.rng.IntN(30))
		org := w.orgs[w.rng.IntN(len(w.orgs))]
		base := w.rng.Int64N(100*Point + 1)
		w.apply(&SetOrg{OrgID: org, Base: base})
		w.advance()
		id := "newcomer"
		r := w.apply(&RegisterPrincipal{PrincipalID: id, PrincipalType: PrincipalTypes[w.rng.IntN(5)], OrgID: org})
		if r.Err != nil {
			t.Fatalf("register: %v", r.Err)
		}
		for _, at := range []int64{w.now, w.now + w.rng.Int64N(24*hourMS)} {
			ev := w.eval(id, at)
			if ev.Exact != base {
				t.Errorf("new principal of %s scores %d at +%d, baseline %d", org, ev.Exact, at-w.now, base)
			}
			if ev.Score != roundPoints(base) {
				t.Errorf("trustScore %d, want %d", ev.Score, roundPoints(base))
			}
		}
	})
}

// Invariant 7: endorsements. Endorsers below the threshold, self-endorsement
// and revoked endorsements have no effect; an endorser's fall below the
// threshold removes its effect; cycles are harmless; the bonus never
// exceeds its cap.
func TestPropertyEndorsements(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(w.rng.IntN(30))
		// Build random endorsements, cycles included.
		for i := 0; i < 8; i++ {
			w.advance()
			a, b := w.principal(), w.principal()
			r := w.apply(&AddEndorsement{EndorserID: a, EndorseeID: b, Weight: Some(1 + w.rng.Int64N(5*Point))})
			if a == b && r.Err == nil {
				t.Fatalf("self-endorsement accepted")
			}
		}
		w.run(w.rng.IntN(10))
		at := w.now + w.rng.Int64N(10*24*hourMS)
		w.l.mu.RLock()
		pol := w.l.policy
		type edge struct{ id, endorser, endorsee string }
		var edges []edge
		for _, id := range sortedEndorsementIDs(w.l) {
			e := w.l.endorse[id]
			edges = append(edges, edge{id, e.EndorserID, e.EndorseeID})
		}
		w.l.mu.RUnlock()
		for _, id := range w.principals {
			ev := w.eval(id, at)
			if ev.Endorsement < 0 || ev.Endorsement > pol.EndorseCap {
				t.Errorf("%s: endorsement bonus %d outside [0, cap %d]", id, ev.Endorsement, pol.EndorseCap)
			}
		}
		for _, e := range edges {
			w.l.mu.RLock()
			q := w.l.principals.get(e.endorser)
			eligible := q.Active && !q.Compromised && w.l.endorsedScore(q, at, pol.EndorseHops-1) >= pol.EndorseThreshold
			w.l.mu.RUnlock()
			with := w.eval(e.endorsee, at).Exact
			sim, _, _ := w.l.Simulate(e.endorsee, []Command{&RevokeEndorsement{EndorsementID: e.id}}, at)
			without := mustDecimal(t, string(sim.TrustScoreExact))
			if !eligible && with != without {
				t.Errorf("endorser %s below threshold still moves %s: %d vs %d without", e.endorser, e.endorsee, with, without)
			}
			if with < without {
				t.Errorf("endorsement %s lowered %s: %d vs %d", e.id, e.endorsee, with, without)
			}
		}
		// An endorser pushed below the threshold loses its effect.
		if len(edges) > 0 {
			e := edges[w.rng.IntN(len(edges))]
			for i := 0; i < 30; i++ {
				w.apply(&RecordSignals{Signals: []Signal{{EventID: w.freshID(), PrincipalID: e.endorser, Event: "policy_violation",
					Category: uint8(i % NumComponents), Impact: -20 * Point}}})
			}
			w.l.mu.RLock()
			q := w.l.principals.get(e.endorser)
			below := w.l.endorsedScore(q, w.now, pol.EndorseHops-1) < w.l.policy.EndorseThreshold
			w.l.mu.RUnlock()
			if below {
				with := w.eval(e.endorsee, w.now).Exact
				sim, _, _ := w.l.Simulate(e.endorsee, []Command{&RevokeEndorsement{EndorsementID: e.id}}, w.now)
				if without := mustDecimal(t, string(sim.TrustScoreExact)); with != without {
					t.Errorf("fallen endorser %s still moves %s: %d vs %d", e.endorser, e.endorsee, with, without)
				}
			}
		}
		// Revoked endorsements have no effect: the ledger with add+revoke
		// scores every principal like the ledger without either.
		if len(edges) > 0 {
			e := edges[w.rng.IntN(len(edges))]
			w.apply(&RevokeEndorsement{EndorsementID: e.id})
			w.l.mu.RLock()
			_, still := w.l.endorse[e.id]
			w.l.mu.RUnlock()
			if still {
				t.Errorf("endorsement %s still present after revocation", e.id)
			}
		}
	})
}

func sortedEndorsementIDs(l *Ledger) []string {
	var out []string
	for id := range l.endorse {
		out = append(out, id)
	}
	sortStrings(out)
	return out
}

func mustDecimal(t *testing.T, s string) int64 {
	t.Helper()
	v, ok := ParseDecimal(s, 6)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	return v
}

// Invariant 8: federation. Unknown, removed and expired assessments have no
// effect; a partner's influence never exceeds its weight (nor its maximum
// influence). Badly signed assessments never reach the ledger: signature
// checks happen before proposing (package federation) and are tested there.
func TestPropertyFederation(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(5 + w.rng.IntN(40))
		id := w.principal()
		at := w.now + w.rng.Int64N(25*24*hourMS)
		ev := w.eval(id, at)
		w.l.mu.RLock()
		p := w.l.principals.get(id)
		for _, a := range p.Assessments {
			pa := w.l.partners[a.PartnerID]
			counted := false
			for _, pi := range ev.Partners {
				if pi.PartnerID == a.PartnerID {
					counted = true
					limit := min(mulDiv(pa.Weight, pts(100), 1_000_000, pts(100)), pa.MaxInfluence)
					if abs64(pi.Influence) > limit {
						t.Errorf("partner %s influence %d exceeds min(weight×100, maxInfluence) = %d", a.PartnerID, pi.Influence, limit)
					}
				}
			}
			if counted && (pa == nil || pa.Suspended || a.ValidUntil <= at) {
				t.Errorf("partner %s counted while removed, suspended or expired", a.PartnerID)
			}
		}
		partners := append([]string(nil), w.partners...)
		w.l.mu.RUnlock()
		// Removing a partner changes the score by at most its influence
		// bound, and afterwards its assessments count for nothing.
		for _, pid := range partners {
			pv, ok := w.l.Partner(pid)
			if !ok {
				continue
			}
			weight := mustDecimal(t, string(pv.Weight))
			maxInf := mustDecimal(t, string(pv.MaxInfluence))
			sim, _, _ := w.l.Simulate(id, []Command{&RemovePartner{PartnerID: pid}}, at)
			without := mustDecimal(t, string(sim.TrustScoreExact))
			limit := min(mulDiv(weight, pts(100), 1_000_000, pts(100)), maxInf)
			if d := abs64(ev.Exact - without); d > limit {
				t.Errorf("partner %s moves %s by %d, limit %d", pid, id, d, limit)
			}
			for _, v := range sim.FederatedTrust {
				if v.Counted && v.Source == "partner" && sim.FederatedTrust[pid].Counted {
					t.Errorf("removed partner %s still counted", pid)
				}
			}
		}
		// Unknown partners are refused and change nothing.
		before := w.eval(id, at).Exact
		r := w.apply(&RecordAssessment{EventID: w.eventID(), PartnerID: "nobody", PrincipalID: id, Score: 100 * Point, ValidUntil: w.now + hourMS})
		if r.Err == nil {
			t.Errorf("assessment from an unknown partner accepted")
		}
		if after := w.eval(id, at).Exact; after != before {
			t.Errorf("unknown partner moved the score %d -> %d", before, after)
		}
		// Expired assessments stop counting on their own.
		far := w.now + 400*24*hourMS
		if ev := w.eval(id, far); ev.Federation != 0 {
			t.Errorf("expired assessments still count at +400d: %d", ev.Federation)
		}
	})
}

// Invariant 9: replaying the same ledger gives the same digest and
// byte-identical records.
func TestPropertyReplay(t *testing.T) {
	forSequences(t, func(t *testing.T, w *world) {
		w.run(20 + w.rng.IntN(60))
		l2 := NewLedger()
		for i, e := range w.log {
			l2.Apply(uint64(i+1), e)
		}
		if w.l.Digest() != l2.Digest() {
			t.Fatalf("digest differs after replay")
		}
		at := w.now + w.rng.Int64N(30*24*hourMS)
		for _, id := range w.principals {
			a := w.recordJSON(id, at)
			r, _ := l2.Record(id, at)
			b := mustJSON(t, r)
			if a != b {
				t.Fatalf("record %s differs after replay:\n%s\n%s", id, a, b)
			}
		}
	})
}

// A token revoked between authentication and commit cannot write.
func TestRevokedTokenCannotWrite(t *testing.T) {
	l := NewLedger()
	apply := func(c Command, actor string) *Result {
		d, err := EncodeEntry(c, t0, actor)
		if err != nil {
			t.Fatal(err)
		}
		return l.Apply(l.AppliedIndex()+1, d)
	}
	h := make([]byte, 32)
	h[0] = 1
	if r := apply(&CreateToken{TokenID: "w1", Hash: h, Role: "writer"}, "admin"); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := apply(&RegisterPrincipal{PrincipalID: "u1", PrincipalType: "user"}, "w1"); r.Err != nil {
		t.Fatal(r.Err)
	}
	apply(&RevokeToken{TokenID: "w1"}, "admin")
	r := apply(&RegisterPrincipal{PrincipalID: "u2", PrincipalType: "user"}, "w1")
	var re *RejectError
	if r.Err == nil || !errors.As(r.Err, &re) || re.Code != "forbidden" {
		t.Fatalf("write by a revoked token: %v", r.Err)
	}
	if l.Has("u2") {
		t.Fatal("revoked token wrote")
	}
}

// A writer scoped to organizations cannot write about principals outside
// them, whatever the API checked before proposing.
func TestWriterScopeAtApply(t *testing.T) {
	l := NewLedger()
	apply := func(c Command, actor string) *Result {
		d, err := EncodeEntry(c, t0, actor)
		if err != nil {
			t.Fatal(err)
		}
		return l.Apply(l.AppliedIndex()+1, d)
	}
	h := make([]byte, 32)
	h[0] = 2
	apply(&CreateToken{TokenID: "w-acme", Hash: h, Role: "writer", Orgs: []string{"acme"}}, "admin")
	apply(&RegisterPrincipal{PrincipalID: "in", PrincipalType: "user", OrgID: "acme"}, "admin")
	apply(&RegisterPrincipal{PrincipalID: "out", PrincipalType: "user", OrgID: "globex"}, "admin")
	if r := apply(&RegisterPrincipal{PrincipalID: "x", PrincipalType: "user", OrgID: "globex"}, "w-acme"); r.Err == nil {
		t.Error("scoped writer registered outside its orgs")
	}
	if r := apply(&ReportFactors{PrincipalID: "out", ComplianceStatus: []byte(`{"training_completed":false}`)}, "w-acme"); r.Err == nil {
		t.Error("scoped writer reported factors outside its orgs")
	}
	r := apply(&RecordSignals{Signals: []Signal{
		{EventID: "a", PrincipalID: "in", Event: "ok", Impact: Point},
		{EventID: "b", PrincipalID: "out", Event: "bad", Impact: -Point},
	}}, "w-acme")
	if r.Err != nil || r.Signals[0].Status != StatusAccepted || r.Signals[1].Status != StatusRejected {
		t.Errorf("per-signal scope: %v %+v", r.Err, r.Signals)
	}
}
