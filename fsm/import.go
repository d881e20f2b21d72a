package fsm

// Imported PrincipalTrust records.

func (c *ImportRecord) settings() principalSettings {
	return principalSettings{ID: c.PrincipalID, Type: c.PrincipalType, Org: c.OrgID, Base: c.Base, Min: c.Min,
		Max: c.Max, DecayRate: c.DecayRate, RecoveryRate: c.RecoveryRate, Frequency: c.Frequency, Inactive: c.Inactive}
}

// importRecord checks an imported record: its documents and lists, the
// principal's settings as registration checks them, and its components.
func (r *rules) importRecord(c *ImportRecord) error {
	if c.TrustID != "" && !validLedgerID(c.TrustID) {
		return reject("trustId", "invalid", "invalid identifier")
	}
	for _, e := range []error{checkScore("trustScore", Some(c.Score)), checkJSON("metadata", c.Metadata, '{'),
		checkJSON("federatedTrust", c.FederatedTrust, '{'), checkFactorReports(c.Factors)} {
		if e != nil {
			return e
		}
	}
	if len(c.Positive) > 1000 || len(c.Negative) > 1000 || len(c.History) > 10000 {
		return reject("positiveSignals", "invalid", "too many entries")
	}
	for _, list := range [][]ImportedSignal{c.Positive, c.Negative} {
		for _, s := range list {
			if int(s.Category) >= NumComponents || s.Event == "" || len(s.Event) > MaxEventNameLen || s.Impact < -pts(100) || s.Impact > pts(100) {
				return reject("positiveSignals", "invalid", "each signal needs an event name of 1-128 bytes and an impact within [-100, 100]")
			}
		}
	}
	if err := r.checkSettings(c.settings()); err != nil {
		return err
	}
	switch len(c.Components) {
	case 0:
	case NumComponents:
		for i, v := range c.Components {
			if v < 0 || v > r.l.policy.Caps[i] {
				return reject("scoreComponents."+Categories[i], "invalid", "must be within [0, %s]", FormatDecimal(r.l.policy.Caps[i], 6))
			}
		}
	default:
		return reject("scoreComponents", "invalid", "need all five components or none")
	}
	return nil
}

func (l *Ledger) applyImport(c *ImportRecord, res *Result) {
	p := l.newPrincipal(c.settings())
	p.Cold = &Cold{TrustID: c.TrustID}
	if len(c.Components) == 0 {
		l.seedComponents(p, c.Score)
	} else {
		copy(p.V[:], c.Components)
	}
	if e := p.evidence(); e > p.Max {
		l.spreadLoss(p, e-p.Max)
	}
	any := false
	var f [NumComponents][]byte
	for i, b := range c.Factors {
		if len(b) > 0 {
			f[i] = compactJSON(b)
			any = true
		}
	}
	if any {
		p.Factors = &f
		// The imported components already reflect the factors: remember
		// the rule adjustment so later reports move the score by the
		// difference only.
		p.FactorScore = factorAdjustments(l.policy.Rules, p.Factors)
	}
	l.importEvidence(p, c)
	p.Metadata = compactJSON(c.Metadata)
	p.Imported = compactJSON(c.FederatedTrust)
	if c.LastAssessmentAt > 0 && c.LastAssessmentAt <= l.now {
		p.LastEvent = c.LastAssessmentAt
	}
	p.Events = uint32(len(c.Positive) + len(c.Negative)) // #nosec G115 -- at most 2,000 imported signals
	if p.isZero() {
		p.Cold = emptyCold
	}
	l.principals[p.ID] = p
	if c.RequiresReview {
		res.Alerts = l.raiseAlert(p, nil, "imported_review", "medium", "imported record requires review")
	}
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
}

// importEvidence fills p's recent-signal windows and history from an
// imported record.
func (l *Ledger) importEvidence(p *principal, c *ImportRecord) {
	w := int(l.policy.SignalWindow)
	entry := func(s ImportedSignal) signalEntry {
		return signalEntry{At: s.At, Event: l.eventName(s.Event) | uint32(s.Category)<<29, Impact: int32(s.Impact / 1000)} // #nosec G115 -- category < 5 and |impact| ≤ 100 points, so milli-points fit int32
	}
	for _, s := range c.Positive {
		p.Positive = pushSignal(p.Positive, entry(s), w)
	}
	for _, s := range c.Negative {
		p.Negative = pushSignal(p.Negative, entry(s), w)
	}
	for _, h := range c.History {
		if len(p.History) >= int(l.policy.HistoryWindow) {
			p.History = p.History[1:]
		}
		p.History = append(p.History, packHistory(max(h.At, 0), clamp(h.Score, 0, pts(100))))
	}
}
