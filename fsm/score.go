package fsm

// Evaluation is the derivation of one principal's score at a time t.
type Evaluation struct {
	At int64
	// Evidence is the sum of the component values (µpt) before decay.
	Evidence int64
	// Decay is the amount lost to inactivity at t (µpt, ≥ 0).
	Decay int64
	// Modifiers is the sum of the active temporary modifiers (µpt).
	Modifiers int64
	// Local is Evidence - Decay + Modifiers (not yet bounded).
	Local int64
	// Endorsement is the endorsement bonus (µpt, ≥ 0, ≤ the cap).
	Endorsement int64
	// Federation is the blended federated influence (µpt, signed, capped).
	Federation int64
	// Partners is each counted partner's influence, by partner id.
	Partners []PartnerInfluence
	// Exact is the final score in µpt, within [min, max].
	Exact int64
	// Score is Exact rounded to whole points; Level its level index.
	Score int64
	Level int
	// Components is the breakdown (components, then the adjustment); it
	// sums to Score.
	Components [NumComponents + 1]int64
	// Clamped says the bounds or a compromise confirmation set the score.
	Clamped     string
	Compromised bool
}

// PartnerInfluence is one partner's counted assessment.
type PartnerInfluence struct {
	PartnerID  string
	Assessed   int64
	Weight     int64
	Influence  int64
	ValidUntil int64
}

// evidence returns Σ V_c (µpt).
func (p *principal) evidence() int64 {
	var s int64
	for _, v := range p.V {
		s += v
	}
	return s
}

// decayAt returns the amount of evidence lost to inactivity at time t.
// Decay runs at DecayRate µpt per hour after DecayGrace of inactivity and
// never takes the evidence below the principal's floor.
func (l *Ledger) decayAt(p *principal, t int64) int64 {
	idle := t - p.LastActive - l.policy.DecayGrace
	if idle <= 0 || p.DecayRate <= 0 {
		return 0
	}
	e := p.evidence()
	if e <= p.Min {
		return 0
	}
	d := mulDiv(p.DecayRate, idle, hourMS, 1000*Point)
	if e-d < p.Min {
		d = e - p.Min
	}
	return d
}

func (p *principal) modifierSum(t int64) int64 {
	var s int64
	for _, m := range p.Modifiers {
		if m.ExpiresAt > t {
			s += m.Delta
		}
	}
	return s
}

func (p *principal) bound(v int64) int64 {
	return clamp(v, p.Min, p.Max)
}

// local is the principal's own score before bounds: evidence after decay
// plus modifiers (their sum limited to ±100 points). It is not clamped, so
// evidence deep below the floor outweighs endorsements and federation. A
// principal confirmed compromised sits at its floor.
func (l *Ledger) local(p *principal, t int64) int64 {
	if p.Compromised {
		return p.Min
	}
	return p.evidence() - l.decayAt(p, t) + clamp(p.modifierSum(t), -pts(100), pts(100))
}

// endorsedScore is S_h, within the principal's bounds: the local score plus
// the bonus from endorsers whose own S_(h-1) meets the threshold. Hops bound
// the recursion, so cycles only cost work, never change the definition.
func (l *Ledger) endorsedScore(p *principal, t int64, h int64) int64 {
	loc := l.local(p, t)
	if h <= 0 || p.Compromised {
		return p.bound(loc)
	}
	return p.bound(loc + l.endorsementBonus(p, t, h))
}

func (l *Ledger) endorsementBonus(p *principal, t int64, h int64) int64 {
	var bonus int64
	for _, id := range p.Endorsed {
		e := l.endorse[id]
		if e == nil || e.Revoked || (e.ExpiresAt != 0 && e.ExpiresAt <= t) || e.EndorserID == p.ID {
			continue
		}
		q := l.principals.get(e.EndorserID)
		if q == nil || !q.Active || q.Compromised {
			continue
		}
		if l.endorsedScore(q, t, h-1) < l.policy.EndorseThreshold {
			continue
		}
		bonus += e.Weight
		if bonus >= l.policy.EndorseCap {
			return l.policy.EndorseCap
		}
	}
	return bonus
}

// score is the final exact score of p at t (µpt), as evaluate computes it,
// without the breakdown.
func (l *Ledger) score(p *principal, t int64) int64 {
	if p.Compromised {
		return p.Min
	}
	x := l.local(p, t) + l.endorsementBonus(p, t, l.policy.EndorseHops)
	f, _ := l.federation(p, t, x)
	return p.bound(x + f)
}

// evaluate derives p's record score at time t.
func (l *Ledger) evaluate(p *principal, t int64) Evaluation {
	ev := Evaluation{At: t, Compromised: p.Compromised}
	ev.Evidence = p.evidence()
	ev.Decay = l.decayAt(p, t)
	ev.Modifiers = clamp(p.modifierSum(t), -pts(100), pts(100))
	ev.Local = l.local(p, t)
	if !p.Compromised {
		ev.Endorsement = l.endorsementBonus(p, t, l.policy.EndorseHops)
	}
	x := ev.Local + ev.Endorsement
	if !p.Compromised {
		ev.Federation, ev.Partners = l.federation(p, t, x)
	}
	raw := ev.Evidence - ev.Decay + ev.Modifiers + ev.Endorsement + ev.Federation
	ev.Exact = p.bound(x + ev.Federation)
	switch {
	case p.Compromised:
		ev.Clamped = "confirmed_compromised"
	case raw < p.Min:
		ev.Clamped = "minTrustScore"
	case raw > p.Max:
		ev.Clamped = "maxTrustScore"
	}
	ev.Score, ev.Level = l.policy.scoreLevel(ev.Exact)
	ev.Components = l.parts(p, ev.Exact)
	return ev
}

// federation blends the counted assessments into x: each partner moves the
// score by weight × (assessed − x), at most its maxInfluence either way; the
// total is capped at FederationCap either way.
func (l *Ledger) federation(p *principal, t int64, x int64) (int64, []PartnerInfluence) {
	if len(p.Assessments) == 0 {
		return 0, nil
	}
	var total int64
	var out []PartnerInfluence
	// Blend against the bounded score, so |assessed − x| ≤ 100 points and
	// a partner's influence stays within weight × 100.
	x = p.bound(x)
	for _, a := range p.Assessments { // kept sorted by partner id
		pa := l.partners[a.PartnerID]
		if pa == nil || pa.Suspended || a.ValidUntil <= t {
			continue
		}
		diff := a.Score - x
		infl := mulDiv(pa.Weight, abs64(diff), 1_000_000, pts(100))
		if infl > pa.MaxInfluence {
			infl = pa.MaxInfluence
		}
		if diff < 0 {
			infl = -infl
		}
		total += infl
		out = append(out, PartnerInfluence{PartnerID: a.PartnerID, Assessed: a.Score, Weight: pa.Weight, Influence: infl, ValidUntil: a.ValidUntil})
	}
	return clamp(total, -l.policy.FederationCap, l.policy.FederationCap), out
}

// confidence says how much evidence backs the score, 0-100: events seen and
// factor reports present, down a quarter when the assessment is overdue
// and halved when nothing was heard for 30 days.
func (l *Ledger) confidence(p *principal, t int64) int64 {
	c := int64(p.Events) * 4
	if c > 60 {
		c = 60
	}
	if p.Factors != nil {
		for _, f := range p.Factors {
			if len(f) > 0 {
				c += 8
			}
		}
	}
	if len(p.Assessments) > 0 {
		c += 5
	}
	if c > 100 {
		c = 100
	}
	if overdue(p, t) {
		c = c * 3 / 4
	}
	if t-p.LastEvent > 30*24*hourMS {
		c /= 2
	}
	return c
}

// overdue says whether p's next assessment (its last event plus its
// assessment period) passed at t without new evidence.
func overdue(p *principal, t int64) bool {
	return t > p.LastEvent+AssessmentFrequencies[p.Frequency].Period
}

// trend reads the score at the start of TrendWindow (the last history
// point before it), the points inside it, and the current score — which
// includes decay and expiries — so a score that only decayed trends down.
func (l *Ledger) trend(p *principal, t int64, current int64) string {
	var series []int64
	for i, h := range p.History {
		switch {
		case h.at() >= t-l.policy.TrendWindow && h.at() <= t:
			series = append(series, h.score())
		case h.at() < t-l.policy.TrendWindow && (i+1 == len(p.History) || p.History[i+1].at() >= t-l.policy.TrendWindow):
			series = append(series, h.score())
		}
	}
	series = append(series, current*Point)
	if len(series) < 2 {
		return "stable"
	}
	swings, lastDir := int64(0), 0
	for i := 1; i < len(series); i++ {
		d := series[i] - series[i-1]
		dir := 0
		if d >= Point {
			dir = 1
		} else if d <= -Point {
			dir = -1
		}
		if dir != 0 {
			if lastDir != 0 && dir != lastDir {
				swings++
			}
			lastDir = dir
		}
	}
	net := series[len(series)-1] - series[0]
	switch {
	case swings >= l.policy.VolatileSwings:
		return "volatile"
	case net >= l.policy.TrendDelta && l.policy.TrendDelta > 0 || l.policy.TrendDelta == 0 && net > 0:
		return "increasing"
	case net <= -l.policy.TrendDelta && l.policy.TrendDelta > 0 || l.policy.TrendDelta == 0 && net < 0:
		return "decreasing"
	}
	return "stable"
}

// scoreLevel returns the trust score (whole points) and the level index an
// exact score (µpt) gets under p: rounded to whole points, halves up,
// within [0, 100], then against the level thresholds.
func (p *Policy) scoreLevel(exact int64) (int64, int) {
	score := clamp(roundPoints(exact), 0, 100)
	return score, p.levelOf(score * Point)
}

// Level names the trust level the ledger gives a score of score µpt
// under p, rounding it as records do.
func (p *Policy) Level(score int64) string {
	_, lvl := p.scoreLevel(score)
	return Levels[lvl]
}
