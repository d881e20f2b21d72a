package fsm

// Principals and organizations: registration, updates, baselines.

func (l *Ledger) principalFor(field, id string) (*principal, error) {
	p := l.principals[id]
	if p == nil {
		return nil, reject(field, "not_found", "unknown principal %q", id)
	}
	return l.mutable(p), nil
}

// principalSettings are what a principal is created with, as registration
// and import both give them.
type principalSettings struct {
	ID, Type, Org                           string
	Base, Min, Max, DecayRate, RecoveryRate Opt
	Frequency                               string
	Inactive                                bool
}

// newPrincipal validates s and returns a new principal (not yet in the
// ledger) with its bounds, rates and baseline resolved: the explicit
// baseline, else its organization's (trust inheritance), else its type's.
func (l *Ledger) newPrincipal(s principalSettings) (*principal, error) {
	if err := checkID("principalId", s.ID); err != nil {
		return nil, err
	}
	typ, ok := PrincipalTypeIndex(s.Type)
	if !ok {
		return nil, reject("principalType", "invalid", "must be one of user, service, device, application, network")
	}
	if s.Org != "" {
		if err := checkID("orgId", s.Org); err != nil {
			return nil, err
		}
	}
	for _, e := range []error{checkScore("baseTrustScore", s.Base), checkScore("minTrustScore", s.Min), checkScore("maxTrustScore", s.Max),
		checkRate("trustDecayRate", s.DecayRate), checkRate("trustRecoveryRate", s.RecoveryRate)} {
		if e != nil {
			return nil, e
		}
	}
	freq := 1
	if s.Frequency != "" {
		if freq, ok = frequencyIndex(s.Frequency); !ok {
			return nil, reject("assessmentFrequency", "invalid", "must be one of continuous, hourly, daily, weekly, monthly")
		}
	}
	if l.principals[s.ID] != nil {
		return nil, reject("principalId", "conflict", "principal %q already exists", s.ID)
	}
	p := &principal{gen: l.gen, ID: s.ID, Type: uint8(typ), Org: s.Org, Active: !s.Inactive, Frequency: uint8(freq), // #nosec G115 -- typ and freq index small enums
		Cold: emptyCold}
	p.Min = optOr(s.Min, l.policy.DefaultMin)
	p.Max = optOr(s.Max, l.policy.DefaultMax)
	if p.Min > p.Max {
		return nil, reject("minTrustScore", "invalid", "must not exceed maxTrustScore")
	}
	p.Base = l.policy.TypeBase[typ]
	if o := l.orgs[s.Org]; o != nil {
		p.Base = o.Base
	}
	p.Base = optOr(s.Base, p.Base)
	p.DecayRate = optOr(s.DecayRate, l.policy.DefaultDecayRate)
	p.RecoveryRate = optOr(s.RecoveryRate, l.policy.DefaultRecoveryRate)
	p.Allowance, p.AllowanceAt = l.policy.RecoveryBurst, l.now
	p.LastActive, p.Registered, p.LastEvent = l.now, l.now, l.now
	return p, nil
}

func (l *Ledger) applyRegister(c *RegisterPrincipal, res *Result) error {
	if err := checkJSON("metadata", c.Metadata, '{'); err != nil {
		return err
	}
	p, err := l.newPrincipal(principalSettings{ID: c.PrincipalID, Type: c.PrincipalType, Org: c.OrgID, Base: c.Base, Min: c.Min,
		Max: c.Max, DecayRate: c.DecayRate, RecoveryRate: c.RecoveryRate, Frequency: c.Frequency, Inactive: c.Inactive})
	if err != nil {
		return err
	}
	if len(c.Metadata) > 0 {
		p.ownCold()
		p.Metadata = compactJSON(c.Metadata)
	}
	l.seedComponents(p, min(p.Base, p.Max))
	l.principals[p.ID] = p
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
	return nil
}

// seedComponents spreads a score over the components in proportion to their
// caps (largest remainder, so they add up exactly).
func (l *Ledger) seedComponents(p *principal, score int64) {
	var sum int64
	var rem [NumComponents]int64
	for i, c := range l.policy.Caps {
		p.V[i] = score * c / pts(100)
		rem[i] = score * c % pts(100)
		sum += p.V[i]
	}
	for left := score - sum; left > 0; left-- {
		best := -1
		for i := range rem {
			if p.V[i] < l.policy.Caps[i] && (best < 0 || rem[i] > rem[best]) { // #nosec G602 -- i ranges over a [NumComponents] array
				best = i
			}
		}
		if best < 0 {
			break
		}
		p.V[best]++
		rem[best] = -1 // #nosec G602 -- best indexes a [NumComponents] array
	}
}

func (l *Ledger) applyUpdate(c *UpdatePrincipal, res *Result) error {
	for _, e := range []error{checkScore("minTrustScore", c.Min), checkScore("maxTrustScore", c.Max),
		checkRate("trustDecayRate", c.DecayRate), checkRate("trustRecoveryRate", c.RecoveryRate),
		checkJSON("metadata", c.Metadata, '{')} {
		if e != nil {
			return e
		}
	}
	if c.OrgID != nil && *c.OrgID != "" {
		if err := checkID("orgId", *c.OrgID); err != nil {
			return err
		}
	}
	freq := -1
	if c.Frequency != "" {
		f, ok := frequencyIndex(c.Frequency)
		if !ok {
			return reject("assessmentFrequency", "invalid", "must be one of continuous, hourly, daily, weekly, monthly")
		}
		freq = f
	}
	cur := l.principals[c.PrincipalID]
	if cur == nil {
		return reject("principalId", "not_found", "unknown principal %q", c.PrincipalID)
	}
	lo, hi := optOr(c.Min, cur.Min), optOr(c.Max, cur.Max)
	if lo > hi {
		return reject("minTrustScore", "invalid", "must not exceed maxTrustScore")
	}
	p := l.mutable(cur)
	p.Min, p.Max = lo, hi
	p.DecayRate = optOr(c.DecayRate, p.DecayRate)
	p.RecoveryRate = optOr(c.RecoveryRate, p.RecoveryRate)
	if freq >= 0 {
		p.Frequency = uint8(freq)
	}
	if c.OrgID != nil {
		p.Org = *c.OrgID
	}
	if c.Active != nil {
		p.Active = *c.Active
	}
	if e := p.evidence(); e > p.Max {
		l.spreadLoss(p, e-p.Max)
	}
	if len(c.Metadata) > 0 {
		p.ownCold()
		p.Metadata = compactJSON(c.Metadata)
	}
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
	return nil
}

func (l *Ledger) applySetOrg(c *SetOrg) error {
	if err := checkID("orgId", c.OrgID); err != nil {
		return err
	}
	if len(c.Name) > MaxTextLen {
		return reject("name", "invalid", "at most %d bytes", MaxTextLen)
	}
	if c.Base < 0 || c.Base > pts(100) {
		return reject("baseTrustScore", "invalid", "must be within [0, 100]")
	}
	l.orgs[c.OrgID] = &org{ID: c.OrgID, Name: c.Name, Base: c.Base, UpdatedAt: l.now}
	return nil
}
