package fsm

// maxAssessmentValidity bounds how long a federated assessment counts.
const maxAssessmentValidity = 366 * 24 * hourMS

// Alert severities a federated event may carry.
var alertSeverities = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}

// federatedEvent checks a verified SET's command: its content, the
// partner (known and not suspended), then — unless the jti is a replay,
// which Apply answers as a duplicate and which changes nothing — the
// iat window, the assessment's validity and the principal.
func (r *rules) federatedEvent(c *FederatedEvent) error {
	if err := r.federatedEventContent(c); err != nil {
		return err
	}
	if pa := r.l.partners[c.PartnerID]; pa == nil || pa.Suspended {
		return reject("iss", "forbidden", "unknown or suspended partner %q", c.PartnerID)
	}
	if r.seen(assessmentKey(c.PartnerID, c.EventID)) {
		return nil
	}
	if c.IssuedAt < r.now-r.l.policy.DedupWindow || c.IssuedAt > r.now+r.l.policy.FutureSkew {
		return reject("iat", "invalid", "outside the accepted window")
	}
	if c.Score.Set && c.ValidUntil <= r.now {
		return reject("validUntil", "invalid", "already expired")
	}
	if r.l.principals.get(c.PrincipalID) == nil {
		return reject("sub_id", "not_found", "unknown principal %q", c.PrincipalID)
	}
	return nil
}

// federatedEventContent checks what a SET's command says, before the
// state.
func (r *rules) federatedEventContent(c *FederatedEvent) error {
	switch {
	case c.EventID == "" || len(c.EventID) > 2*MaxIDLen:
		return reject("jti", "invalid", "must be 1-256 bytes")
	case len(c.EventType) > MaxTextLen || len(c.Message) > MaxTextLen:
		return reject("events", "invalid", "event type and message at most %d bytes", MaxTextLen)
	case c.Score.Set && (c.Score.V < 0 || c.Score.V > pts(100)):
		return reject("score", "invalid", "must be within [0, 100]")
	case c.Score.Set && c.Clear:
		return reject("events", "invalid", "an event sets or withdraws an assessment, not both")
	case len(c.Components) != 0 && len(c.Components) != NumComponents:
		return reject("components", "invalid", "need all five components or none")
	case c.AlertType != "" && (!validLedgerID(c.AlertType) || !alertSeverities[c.Severity]):
		return reject("alert", "invalid", "alert type must be an identifier and severity low, medium, high or critical")
	}
	for i, v := range c.Components {
		if v < 0 || v > r.l.policy.Caps[i] {
			return reject("components."+Categories[i], "invalid", "must be within [0, %s]", FormatDecimal(r.l.policy.Caps[i], 6))
		}
	}
	if c.Score.Set && c.ValidUntil-c.IssuedAt > maxAssessmentValidity {
		return reject("validUntil", "invalid", "at most 366 days after iat")
	}
	return nil
}

func (l *Ledger) applyFederatedEvent(c *FederatedEvent, res *Result) {
	p := l.takeEvent(c.PartnerID, c.EventID, c.PrincipalID, res)
	if p == nil {
		return
	}
	if c.Score.Set {
		a := assessment{PartnerID: c.PartnerID, EventID: c.EventID, Score: c.Score.V, ValidUntil: c.ValidUntil,
			IssuedAt: c.IssuedAt, ReceivedAt: l.now, Components: append([]int64(nil), c.Components...)}
		setAssessment(p, a)
	}
	if c.Clear {
		keepAssessments(p, func(a assessment) bool { return a.PartnerID != c.PartnerID })
	}
	l.remediateBy(p, c.EventType, c.EventID, "partner:"+c.PartnerID, c.PartnerID)
	if c.AlertType != "" {
		l.raisePartnerAlert(p, c)
	}
	l.eventApplied(p, CauseFederated, c.EventID, res)
}

// FederatedEventSeen reports whether a partner's SET with this jti is
// inside the dedup window: a replay the ledger would refuse as duplicate.
func (l *Ledger) FederatedEventSeen(partnerID, jti string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.seen(assessmentKey(partnerID, jti))
}
