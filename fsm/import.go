package fsm

import "strconv"

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
	if int64(len(c.Modifiers)) > r.l.policy.ModifierLimit {
		return reject("trustModifiers", "invalid", "at most %d modifiers", r.l.policy.ModifierLimit)
	}
	for _, m := range c.Modifiers {
		if err := r.modifierInput(&AddModifier{Delta: m.Delta, Reason: m.Reason, ExpiresAt: m.ExpiresAt}); err != nil {
			return reject("trustModifiers", "invalid", "%v", err)
		}
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
	if len(c.Modifiers) > 0 {
		// The evidence must hold the score without the modifiers, or the
		// import would not read back as the record.
		p := r.l.importedPrincipal(c)
		before := p.evidence()
		r.l.importModifiers(p, c.Modifiers)
		if p.evidence()+clamp(p.modifierSum(r.now), -pts(100), pts(100)) != before {
			return reject("trustModifiers", "invalid", "the record's score cannot be held without its modifiers within the components' caps and the bounds")
		}
	}
	return nil
}

// importedPrincipal is the principal an import makes, before its
// modifiers, factor reports and evidence lists; it is not in the ledger.
func (l *Ledger) importedPrincipal(c *ImportRecord) *principal {
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
	return p
}

func (l *Ledger) applyImport(c *ImportRecord, res *Result) {
	p := l.importedPrincipal(c)
	l.importModifiers(p, c.Modifiers)
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
	l.principals.set(l.gen, p)
	if c.RequiresReview {
		res.Alerts = l.raiseAlert(p, nil, SourceImport, "imported_review", "medium", "", "imported record requires review")
	}
	l.recordHistory(p, CauseImported, "")
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
		// An imported point carries its score only: it stands in the
		// adjustment part, under cause imported.
		var parts [NumComponents + 1]int16
		parts[NumComponents] = int16(clamp(roundPoints(h.Score), 0, 100)) // #nosec G115 -- clamped to [0, 100]
		p.History = append(p.History, historyPoint{At: max(h.At, 0), Parts: parts, Cause: causeIndex(CauseImported)})
	}
}

// importModifiers gives p the imported record's modifiers. The imported
// score reflects them: the evidence is moved by their opposite (a penalty
// given back to the components in proportion to their room under their
// caps, a bonus taken from them in proportion to their size), so the score
// is the imported one while they are in force and moves when they expire.
func (l *Ledger) importModifiers(p *principal, mods []ImportedModifier) {
	if len(mods) == 0 {
		return
	}
	var sum int64
	for i, m := range mods {
		p.Modifiers = append(p.Modifiers, modifier{ID: "mod-" + strconv.FormatUint(l.seq, 10) + "-" + strconv.Itoa(i+1), Delta: m.Delta,
			Reason: m.Reason, CreatedAt: l.now, ExpiresAt: m.ExpiresAt})
		sum += m.Delta
	}
	sum = clamp(sum, -pts(100), pts(100))
	if sum > 0 {
		l.spreadLoss(p, min(sum, max(p.evidence(), 0)))
		return
	}
	l.spreadGain(p, -sum)
}

// spreadGain adds up to g µpt to the components in proportion to their
// room under their caps (and never above the principal's maximum).
func (l *Ledger) spreadGain(p *principal, g int64) {
	var room [NumComponents]int64
	var total int64
	for i, v := range p.V {
		room[i] = max(0, l.policy.Caps[i]-v)
		total += room[i]
	}
	g = min(g, total, max(0, p.Max-p.evidence()))
	if g <= 0 {
		return
	}
	var given int64
	for i := range p.V {
		x := mulDiv(g, room[i], total, g)
		p.V[i] += x
		given += x
	}
	for i := 0; given < g && i < NumComponents; i++ {
		x := min(l.policy.Caps[i]-p.V[i], g-given)
		if x > 0 {
			p.V[i] += x
			given += x
		}
	}
}
