package fsm

// Federation partners and their numeric assessments.

import (
	"sort"
)

// assessmentKey is the dedup key of a partner's event id (a SET's jti).
func assessmentKey(partnerID, eventID string) dedupKey {
	return dedupHash('a', partnerID+"\x00"+eventID)
}

// assessment checks a federated assessment. A repeated event id is not a
// rejection: Apply answers it as a duplicate and changes nothing.
func (r *rules) assessment(c *RecordAssessment) error {
	switch {
	case c.EventID == "" || len(c.EventID) > MaxIDLen*2:
		return reject("eventId", "invalid", "must be 1-256 bytes")
	case c.Score < 0 || c.Score > pts(100):
		return reject("score", "invalid", "must be within [0, 100]")
	case len(c.Components) != 0 && len(c.Components) != NumComponents:
		return reject("components", "invalid", "need all five components or none")
	}
	if pa := r.l.partners[c.PartnerID]; pa == nil || pa.Suspended {
		return reject("partnerId", "forbidden", "unknown or suspended partner %q", c.PartnerID)
	}
	if r.seen(assessmentKey(c.PartnerID, c.EventID)) {
		return nil
	}
	if c.ValidUntil <= r.now {
		return reject("validUntil", "invalid", "already expired")
	}
	if c.IssuedAt != 0 && c.IssuedAt < r.now-r.l.policy.DedupWindow {
		return reject("iat", "invalid", "older than the deduplication window")
	}
	_, err := r.principal("principalId", c.PrincipalID)
	return err
}

func (l *Ledger) applyAssessment(c *RecordAssessment, res *Result) {
	p := l.takeEvent(c.PartnerID, c.EventID, c.PrincipalID, res)
	if p == nil {
		return
	}
	a := assessment{PartnerID: c.PartnerID, EventID: c.EventID, Score: c.Score, ValidUntil: c.ValidUntil,
		IssuedAt: c.IssuedAt, ReceivedAt: l.now, Components: append([]int64(nil), c.Components...)}
	setAssessment(p, a)
	// Assessments of removed partners are forgotten when the principal
	// hears from anyone, keeping the list bounded by the partner count.
	keepAssessments(p, func(a assessment) bool { return l.partners[a.PartnerID] != nil })
	l.eventApplied(p, CauseAssessment, c.EventID, res)
}

// takeEvent remembers a partner's event id and returns the principal the
// event is about, ready for change; it returns nil, and answers a
// duplicate, when the event id is a replay.
func (l *Ledger) takeEvent(partnerID, eventID, principalID string, res *Result) *principal {
	k := assessmentKey(partnerID, eventID)
	if l.seen(k) {
		res.Signals = []SignalResult{{EventID: eventID, Status: StatusDuplicate}}
		return nil
	}
	p := l.mutable(l.principals.get(principalID))
	p.ownCold()
	l.remember(k)
	l.begin(p, false)
	return p
}

// eventApplied records a partner's event applied to p.
func (l *Ledger) eventApplied(p *principal, cause, eventID string, res *Result) {
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p, cause, eventID)
	res.Signals = []SignalResult{{EventID: eventID, Status: StatusAccepted}}
	res.Subjects = []string{p.ID}
}

func (r *rules) upsertPartner(c *UpsertPartner) error {
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
	if err := checkPartnerSSF(&c.SSF, c.Aliases); err != nil {
		return err
	}
	total := c.Weight
	for id, p := range r.l.partners {
		if id != c.PartnerID && p.Issuer == c.Issuer {
			// At most one partner holds an issuer, so which one the map
			// yields first does not matter.
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
	return nil
}

func (l *Ledger) applyUpsertPartner(c *UpsertPartner, _ *Result) {
	p := &partner{ID: c.PartnerID, Issuer: c.Issuer, Audience: c.Audience, JWKS: compactJSON(c.JWKS),
		Weight: c.Weight, MaxInfluence: c.MaxInfluence, Suspended: c.Suspended, RateLimit: c.RateLimit, UpdatedAt: l.now,
		SSF: c.SSF, Aliases: sortedAliases(c.Aliases)}
	if old := l.partners[c.PartnerID]; old != nil && old.SSF.StreamID == c.SSF.StreamID {
		// The same stream: what its events said of it still holds.
		p.Verification, p.VerifiedAt, p.StreamStatus, p.StreamReason, p.StreamStatusAt =
			old.Verification, old.VerifiedAt, old.StreamStatus, old.StreamReason, old.StreamStatusAt
	}
	l.partners[c.PartnerID] = p
}

func (r *rules) removePartner(c *RemovePartner) error {
	if r.l.partners[c.PartnerID] == nil {
		return reject("partnerId", "not_found", "unknown partner %q", c.PartnerID)
	}
	return nil
}

func (l *Ledger) applyRemovePartner(c *RemovePartner, _ *Result) {
	delete(l.partners, c.PartnerID)
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

func checkPartnerSSF(s *PartnerSSF, aliases []SubjectAlias) error {
	for _, f := range []struct{ name, v string }{{"ssf.configurationUrl", s.ConfigURL}, {"ssf.jwksUri", s.JWKSURI},
		{"ssf.pollUrl", s.PollURL}} {
		if len(f.v) > MaxURLLen {
			return reject(f.name, "invalid", "must be at most %d bytes", MaxURLLen)
		}
	}
	switch {
	case len(s.StreamID) > MaxTextLen || len(s.Auth) > 4*MaxTextLen || len(s.TokenID) > MaxIDLen || len(s.VerifyState) > MaxTextLen:
		return reject("ssf", "invalid", "stream id, credential or token id too long")
	case s.Delivery != "" && s.Delivery != "push" && s.Delivery != "poll":
		return reject("ssf.delivery", "invalid", "must be push or poll")
	case s.Delivery == "poll" && s.PollURL == "":
		return reject("ssf.pollUrl", "invalid", "poll delivery needs the transmitter's poll endpoint")
	case len(aliases) > MaxAliases:
		return reject("subjectAliases", "invalid", "at most %d aliases", MaxAliases)
	}
	seen := map[string]bool{}
	for _, a := range aliases {
		switch {
		case a.Subject == "" || len(a.Subject) > MaxTextLen:
			return reject("subjectAliases", "invalid", "subjects are 1-%d bytes", MaxTextLen)
		case !ValidID(a.PrincipalID):
			return reject("subjectAliases", "invalid", "alias %q names no valid principal id", a.Subject)
		case seen[a.Subject]:
			return reject("subjectAliases", "invalid", "subject %q is aliased twice", a.Subject)
		}
		seen[a.Subject] = true
	}
	return nil
}

func sortedAliases(in []SubjectAlias) []SubjectAlias {
	if len(in) == 0 {
		return nil
	}
	out := append([]SubjectAlias(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out
}

// partnerStream checks an SSF event about a partner's stream. A repeated
// jti is not a rejection: Apply answers it as a duplicate.
func (r *rules) partnerStream(c *PartnerStreamEvent) error {
	switch {
	case c.EventID == "" || len(c.EventID) > MaxIDLen*2:
		return reject("eventId", "invalid", "must be 1-256 bytes")
	case c.Type != "verification" && c.Type != "stream-updated":
		return reject("type", "invalid", "must be verification or stream-updated")
	case len(c.State) > MaxTextLen || len(c.Status) > MaxTextLen || len(c.Reason) > MaxTextLen:
		return reject("state", "invalid", "state, status and reason are at most %d bytes", MaxTextLen)
	}
	if pa := r.l.partners[c.PartnerID]; pa == nil || pa.Suspended {
		return reject("partnerId", "forbidden", "unknown or suspended partner %q", c.PartnerID)
	}
	return nil
}

func (l *Ledger) applyPartnerStream(c *PartnerStreamEvent, res *Result) {
	k := assessmentKey(c.PartnerID, c.EventID)
	if l.seen(k) {
		res.Signals = []SignalResult{{EventID: c.EventID, Status: StatusDuplicate}}
		return
	}
	l.remember(k)
	cp := *l.partners[c.PartnerID]
	if c.Type == "verification" {
		// Recorded when it answers the verification asked for (or when
		// none was asked: a partner registered by hand).
		if cp.SSF.VerifyState == "" || c.State == cp.SSF.VerifyState {
			cp.Verification, cp.VerifiedAt = c.State, l.now
		}
	} else {
		cp.StreamStatus, cp.StreamReason, cp.StreamStatusAt = c.Status, c.Reason, l.now
	}
	l.partners[c.PartnerID] = &cp
	res.Signals = []SignalResult{{EventID: c.EventID, Status: StatusAccepted}}
}

// PartnerRegistration returns partner id's registration as the command
// that registers it again: what a key refresh changes the keys of.
func (l *Ledger) PartnerRegistration(id string) (*UpsertPartner, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.partners[id]
	if p == nil {
		return nil, false
	}
	return &UpsertPartner{PartnerID: p.ID, Issuer: p.Issuer, Audience: p.Audience, JWKS: append([]byte(nil), p.JWKS...),
		Weight: p.Weight, MaxInfluence: p.MaxInfluence, Suspended: p.Suspended, RateLimit: p.RateLimit, SSF: p.SSF,
		Aliases: append([]SubjectAlias(nil), p.Aliases...)}, true
}
