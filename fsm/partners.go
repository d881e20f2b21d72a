package fsm

// Federation partners and their numeric assessments.

import (
	"sort"
)

func (l *Ledger) applyAssessment(c *RecordAssessment, res *Result) error {
	r := SignalResult{EventID: c.EventID}
	defer func() { res.Signals = []SignalResult{r} }()
	switch {
	case c.EventID == "" || len(c.EventID) > MaxIDLen*2:
		r.Status, r.Reason = StatusRejected, "eventId: must be 1-256 bytes"
		return reject("eventId", "invalid", "must be 1-256 bytes")
	case c.Score < 0 || c.Score > pts(100):
		r.Status, r.Reason = StatusRejected, "score: must be within [0, 100]"
		return reject("score", "invalid", "must be within [0, 100]")
	case len(c.Components) != 0 && len(c.Components) != NumComponents:
		r.Status, r.Reason = StatusRejected, "components: need all five or none"
		return reject("components", "invalid", "need all five components or none")
	}
	pa := l.partners[c.PartnerID]
	if pa == nil || pa.Suspended {
		r.Status, r.Reason = StatusRejected, "partnerId: unknown or suspended partner"
		return reject("partnerId", "forbidden", "unknown or suspended partner %q", c.PartnerID)
	}
	k := dedupHash('a', c.PartnerID+"\x00"+c.EventID)
	if l.seen(k) {
		r.Status = StatusDuplicate
		return nil
	}
	if c.ValidUntil <= l.now {
		r.Status, r.Reason = StatusRejected, "validUntil: already expired"
		return reject("validUntil", "invalid", "already expired")
	}
	if c.IssuedAt != 0 && c.IssuedAt < l.now-l.policy.DedupWindow {
		r.Status, r.Reason = StatusRejected, "iat: older than the deduplication window"
		return reject("iat", "invalid", "older than the deduplication window")
	}
	p := l.principals[c.PrincipalID]
	if p == nil {
		r.Status, r.Reason = StatusRejected, "principalId: unknown principal"
		return reject("principalId", "not_found", "unknown principal %q", c.PrincipalID)
	}
	p = l.mutable(p)
	p.ownCold()
	l.remember(k)
	a := assessment{PartnerID: c.PartnerID, EventID: c.EventID, Score: c.Score, ValidUntil: c.ValidUntil,
		IssuedAt: c.IssuedAt, ReceivedAt: l.now, Components: append([]int64(nil), c.Components...)}
	setAssessment(p, a)
	// Assessments of removed partners are forgotten when the principal
	// hears from anyone, keeping the list bounded by the partner count.
	keepAssessments(p, func(a assessment) bool { return l.partners[a.PartnerID] != nil })
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	r.Status = StatusAccepted
	res.Subjects = []string{p.ID}
	return nil
}

func (l *Ledger) applyUpsertPartner(c *UpsertPartner) error {
	if err := checkID("partnerId", c.PartnerID); err != nil {
		return err
	}
	switch {
	case c.Issuer == "" || len(c.Issuer) > MaxTextLen:
		return reject("issuer", "invalid", "must be 1-%d bytes", MaxTextLen)
	case c.Audience == "" || len(c.Audience) > MaxTextLen:
		return reject("audience", "invalid", "must be 1-%d bytes", MaxTextLen)
	case c.Weight < 0 || c.Weight > 1_000_000:
		return reject("weight", "invalid", "must be within [0, 1]")
	case c.MaxInfluence < 0 || c.MaxInfluence > pts(100):
		return reject("maxInfluence", "invalid", "must be within [0, 100]")
	case c.RateLimit < 0 || c.RateLimit > 1_000_000:
		return reject("rateLimit", "invalid", "must be within [0, 1000000]")
	}
	if err := checkJSON("jwks", c.JWKS, '{'); err != nil {
		return err
	}
	total := c.Weight
	for id, p := range l.partners {
		if id != c.PartnerID && p.Issuer == c.Issuer {
			return reject("issuer", "conflict", "issuer already registered to partner %q", id)
		}
		if id != c.PartnerID {
			total += p.Weight
		}
	}
	// Partner weights are shares of one: the blend stays a convex
	// combination, so a lower local score never yields a higher blended
	// one, and each partner's influence is independent of the others.
	if total > 1_000_000 {
		return reject("weight", "conflict", "partner weights would sum to %s; they must not exceed 1", FormatDecimal(total, 6))
	}
	l.partners[c.PartnerID] = &partner{ID: c.PartnerID, Issuer: c.Issuer, Audience: c.Audience, JWKS: compactJSON(c.JWKS),
		Weight: c.Weight, MaxInfluence: c.MaxInfluence, Suspended: c.Suspended, RateLimit: c.RateLimit, UpdatedAt: l.now}
	return nil
}

// setAssessment makes a the partner's current assessment of p, keeping the
// list sorted by partner id (one assessment per partner).
func setAssessment(p *principal, a assessment) {
	for i := range p.Assessments {
		if p.Assessments[i].PartnerID == a.PartnerID {
			p.Assessments[i] = a
			return
		}
	}
	p.Assessments = append(p.Assessments, a)
	sort.Slice(p.Assessments, func(i, j int) bool { return p.Assessments[i].PartnerID < p.Assessments[j].PartnerID })
}

// keepAssessments drops p's assessments for which keep is false.
func keepAssessments(p *principal, keep func(assessment) bool) {
	n := 0
	for _, a := range p.Assessments {
		if keep(a) {
			p.Assessments[n] = a
			n++
		}
	}
	p.Assessments = p.Assessments[:n]
}
