package fsm

// trustHistory with causes (docs/scoring.md, "11. History, trend,
// confidence"): every point is the breakdown after a change and names what
// changed it, so the differences between consecutive points add up to the
// score's changes.

// History causes, by index.
const (
	CauseRegistered  = "registered"
	CauseImported    = "imported"
	CauseUpdate      = "update"
	CauseSignal      = "signal"
	CauseFactors     = "factors"
	CauseAssessment  = "assessment"
	CauseFederated   = "federated"
	CauseModifier    = "modifier"
	CauseEndorsement = "endorsement"
	CauseReview      = "review"
	// Time causes: changes between two entries about the principal.
	CauseDecay    = "decay"    // inactivity decay
	CauseExpiry   = "expiry"   // a modifier, endorsement or assessment expired
	CauseExternal = "external" // another entry: an endorser's score, a partner's weight, the policy
)

var historyCauses = []string{CauseRegistered, CauseImported, CauseUpdate, CauseSignal, CauseFactors, CauseAssessment, CauseFederated,
	CauseModifier, CauseEndorsement, CauseReview, CauseDecay, CauseExpiry, CauseExternal}

func causeIndex(c string) uint8 {
	for i, v := range historyCauses {
		if v == c {
			return uint8(i) // #nosec G115 -- a short table
		}
	}
	return uint8(len(historyCauses) - 1) // #nosec G115 -- a short table
}

// parts is p's breakdown at t for a score of score µpt: each component's
// own evidence in whole points (negative when its evidence is), then the
// adjustment that makes them add up to the whole-point score.
func (l *Ledger) parts(p *principal, exact int64) [NumComponents + 1]int64 {
	var out [NumComponents + 1]int64
	score, _ := l.policy.scoreLevel(exact)
	var sum int64
	for i, v := range p.V {
		out[i] = roundPoints(v)
		sum += out[i]
	}
	out[NumComponents] = score - sum
	return out
}

func packParts(v [NumComponents + 1]int64) [NumComponents + 1]int16 {
	var out [NumComponents + 1]int16
	for i, x := range v {
		out[i] = int16(clamp(x, -1<<15, 1<<15-1)) // #nosec G115 -- clamped to the int16 range
	}
	return out
}

// begin starts an entry's change of p: it records first what time alone
// changed since p's last point (decay, expiries, other entries), then, with
// touch, folds the decay into the components (evidence.go), under the same
// time point, so the entry's own point shows the entry's change only.
//
// It returns p's exact score (µpt) at now, before the entry's change.
func (l *Ledger) begin(p *principal, touch bool) int64 {
	n := len(p.History)
	if n == 0 {
		if touch {
			l.touch(p)
		}
		return l.score(p, l.now)
	}
	last := p.History[n-1]
	decayed := l.decayAt(p, l.now) > 0
	expired := l.expiredSince(p, last.At)
	if touch {
		l.touch(p)
	}
	exact := l.score(p, l.now)
	cur := packParts(l.parts(p, exact))
	if cur == last.Parts {
		return exact
	}
	// An expiry is usually the larger part of a change it shares with
	// decay: it names the point.
	cause := CauseExternal
	switch {
	case expired:
		cause = CauseExpiry
	case decayed:
		cause = CauseDecay
	}
	l.pushHistory(p, historyPoint{At: l.now, Parts: cur, Cause: causeIndex(cause)})
	l.cumulativeRule(p, last.score()/Point, "")
	l.cumulativeRule(p, sumParts(cur), "")
	return exact
}

func sumParts(v [NumComponents + 1]int16) int64 {
	var s int64
	for _, x := range v {
		s += int64(x)
	}
	return s
}

// expiredSince says whether one of p's modifiers, assessments or
// endorsements expired after since, up to now.
func (l *Ledger) expiredSince(p *principal, since int64) bool {
	in := func(t int64) bool { return t > since && t <= l.now }
	for _, m := range p.Modifiers {
		if in(m.ExpiresAt) {
			return true
		}
	}
	for _, a := range p.Assessments {
		if in(a.ValidUntil) {
			return true
		}
	}
	for _, id := range p.Endorsed {
		if e := l.endorse[id]; e != nil && e.ExpiresAt != 0 && in(e.ExpiresAt) {
			return true
		}
	}
	return false
}

// recordHistory records p's breakdown after an entry changed it, naming the
// cause and the event; nothing when the breakdown did not change.
func (l *Ledger) recordHistory(p *principal, cause, eventID string) {
	l.recordHistoryAt(p, cause, eventID, l.score(p, l.now))
}

// recordHistoryAt is recordHistory for p's exact score at now, known.
func (l *Ledger) recordHistoryAt(p *principal, cause, eventID string, exact int64) {
	cur := packParts(l.parts(p, exact))
	n := len(p.History)
	if n > 0 && p.History[n-1].Parts == cur {
		return
	}
	// The cumulative-drop window takes the changes evidence and time
	// make; not a review's (the analyst's own verdict) nor an import's
	// (its history is the source's, not this ledger's).
	rule := cause != CauseReview && cause != CauseImported
	if rule && n > 0 && p.History[n-1].At < l.now && p.History[n-1].Cause != causeIndex(CauseImported) {
		// The score held since the last point until now: the window sees
		// it at now too.
		l.cumulativeRule(p, p.History[n-1].score()/Point, "")
	}
	l.pushHistory(p, historyPoint{At: l.now, Parts: cur, Cause: causeIndex(cause), EventID: eventID})
	if rule {
		l.cumulativeRule(p, sumParts(cur), eventID)
	}
}

func (l *Ledger) pushHistory(p *principal, h historyPoint) {
	w := int(l.policy.HistoryWindow)
	if len(p.History) >= w {
		copy(p.History, p.History[len(p.History)-w+1:])
		p.History = p.History[:w-1]
	}
	if len(p.History) == cap(p.History) {
		grown := make([]historyPoint, len(p.History), min(w, max(4, 2*cap(p.History))))
		copy(grown, p.History)
		p.History = grown
	}
	p.History = append(p.History, h)
}

// HistoryView is one trustHistory point: the score, what changed it, and
// the change of each part of the breakdown since the previous point (the
// first point kept: since zero).
type HistoryView struct {
	Timestamp string `json:"timestamp"`
	Score     int64  `json:"score"`
	Cause     string `json:"cause"`
	EventID   string `json:"eventId,omitempty"`
	// Delta is the score's change; Components the change of each part.
	Delta      int64     `json:"delta"`
	Components Breakdown `json:"components"`
}

func historyViews(history []historyPoint) []HistoryView {
	out := make([]HistoryView, 0, len(history))
	var prev [NumComponents + 1]int16
	for i, h := range history {
		v := HistoryView{Timestamp: FormatTime(h.At), Score: h.score() / Point, Cause: historyCauses[int(h.Cause)%len(historyCauses)],
			EventID: h.EventID}
		var d [NumComponents + 1]int64
		for j := range d {
			d[j] = int64(h.Parts[j])
			if i > 0 {
				d[j] -= int64(prev[j])
			}
			v.Delta += d[j]
		}
		v.Components = breakdownOf(d)
		out = append(out, v)
		prev = h.Parts
	}
	return out
}

func breakdownOf(v [NumComponents + 1]int64) Breakdown {
	return Breakdown{Authentication: v[0], Behavior: v[1], Compliance: v[2], History: v[3], Context: v[4], Adjustment: v[5]}
}
