package fsm

// Principals and organizations: registration, updates, baselines.

// principalSettings are what a principal is created with, as registration
// and import both give them.
type principalSettings struct {
	ID, Type, Org                           string
	Base, Min, Max, DecayRate, RecoveryRate Opt
	Frequency                               string
	Inactive                                bool
}

func (c *RegisterPrincipal) settings() principalSettings {
	return principalSettings{ID: c.PrincipalID, Type: c.PrincipalType, Org: c.OrgID, Base: c.Base, Min: c.Min,
		Max: c.Max, DecayRate: c.DecayRate, RecoveryRate: c.RecoveryRate, Frequency: c.Frequency, Inactive: c.Inactive}
}

// PrincipalBounds returns the minTrustScore and maxTrustScore (µpt) a new
// principal gets from the bounds given: each one given, else the policy's
// default.
func (p *Policy) PrincipalBounds(minScore, maxScore Opt) (lo, hi int64) {
	return optOr(minScore, p.DefaultMin), optOr(maxScore, p.DefaultMax)
}

const frequencyRule = "must be one of continuous, hourly, daily, weekly, monthly"

// checkSettings checks the settings of a new principal against the state.
func (r *rules) checkSettings(s principalSettings) error {
	if err := checkID("principalId", s.ID); err != nil {
		return err
	}
	if _, ok := PrincipalTypeIndex(s.Type); !ok {
		return reject("principalType", "invalid", "must be one of user, service, device, application, network")
	}
	if s.Org != "" {
		if err := checkID("orgId", s.Org); err != nil {
			return err
		}
	}
	for _, e := range []error{checkScore("baseTrustScore", s.Base), checkScore("minTrustScore", s.Min), checkScore("maxTrustScore", s.Max),
		checkRate("trustDecayRate", s.DecayRate), checkRate("trustRecoveryRate", s.RecoveryRate)} {
		if e != nil {
			return e
		}
	}
	if _, ok := frequencyIndex(s.Frequency); !ok && s.Frequency != "" {
		return reject("assessmentFrequency", "invalid", frequencyRule)
	}
	if r.l.principals.get(s.ID) != nil {
		return reject("principalId", "conflict", "principal %q already exists", s.ID)
	}
	if lo, hi := r.l.policy.PrincipalBounds(s.Min, s.Max); lo > hi {
		return reject("minTrustScore", "invalid", "must not exceed maxTrustScore")
	}
	return nil
}

// newPrincipal returns a new principal (not yet in the ledger) for settings
// checkSettings accepted, with its bounds, rates and baseline resolved: the
// explicit baseline, else its organization's (trust inheritance), else its
// type's.
func (l *Ledger) newPrincipal(s principalSettings) *principal {
	typ, _ := PrincipalTypeIndex(s.Type)
	freq := 1
	if s.Frequency != "" {
		freq, _ = frequencyIndex(s.Frequency)
	}
	p := &principal{gen: l.gen, ID: s.ID, Type: uint8(typ), Org: s.Org, Active: !s.Inactive, Frequency: uint8(freq), // #nosec G115 -- typ and freq index small enums
		Cold: emptyCold}
	p.Min, p.Max = l.policy.PrincipalBounds(s.Min, s.Max)
	p.Base = l.policy.TypeBase[typ]
	if o := l.orgs[s.Org]; o != nil {
		p.Base = o.Base
	}
	p.Base = optOr(s.Base, p.Base)
	p.DecayRate = optOr(s.DecayRate, l.policy.DefaultDecayRate)
	p.RecoveryRate = optOr(s.RecoveryRate, l.policy.DefaultRecoveryRate)
	p.Allowance, p.AllowanceAt = l.policy.RecoveryBurst, l.now
	p.LastActive, p.Registered, p.LastEvent = l.now, l.now, l.now
	return p
}

func (r *rules) register(c *RegisterPrincipal) error {
	if err := r.orgInScope("orgId", c.OrgID); err != nil {
		return err
	}
	if err := checkJSON("metadata", c.Metadata, '{'); err != nil {
		return err
	}
	return r.checkSettings(c.settings())
}

func (l *Ledger) applyRegister(c *RegisterPrincipal, res *Result) {
	p := l.newPrincipal(c.settings())
	if len(c.Metadata) > 0 {
		p.ownCold()
		p.Metadata = compactJSON(c.Metadata)
	}
	l.seedComponents(p, min(p.Base, p.Max))
	l.principals.set(l.gen, p)
	l.recordHistory(p, CauseRegistered, "")
	res.Subjects = []string{p.ID}
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

// update checks a principal update: the principal exists and is in the
// actor's organizations (and so is its new organization), the values are
// in range, and the bounds kept and given are in order.
func (r *rules) update(c *UpdatePrincipal) error {
	cur, err := r.principal("principalId", c.PrincipalID)
	if err != nil {
		return err
	}
	if err := r.principalInScope("principalId", c.PrincipalID); err != nil {
		return err
	}
	if c.OrgID != nil {
		if err := r.orgInScope("orgId", *c.OrgID); err != nil {
			return err
		}
	}
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
	if _, ok := frequencyIndex(c.Frequency); !ok && c.Frequency != "" {
		return reject("assessmentFrequency", "invalid", frequencyRule)
	}
	if lo, hi := optOr(c.Min, cur.Min), optOr(c.Max, cur.Max); lo > hi {
		if !c.Min.Set {
			return reject("maxTrustScore", "invalid", "must not be below minTrustScore %s", FormatDecimal(lo, 6))
		}
		return reject("minTrustScore", "invalid", "must not exceed maxTrustScore %s", FormatDecimal(hi, 6))
	}
	return nil
}

func (l *Ledger) applyUpdate(c *UpdatePrincipal, res *Result) {
	p := l.mutable(l.principals.get(c.PrincipalID))
	l.begin(p, false)
	p.Min, p.Max = optOr(c.Min, p.Min), optOr(c.Max, p.Max)
	p.DecayRate = optOr(c.DecayRate, p.DecayRate)
	p.RecoveryRate = optOr(c.RecoveryRate, p.RecoveryRate)
	if freq, ok := frequencyIndex(c.Frequency); ok {
		p.Frequency = uint8(freq) // #nosec G115 -- freq indexes a small enum
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
	l.recordHistory(p, CauseUpdate, "")
	res.Subjects = []string{p.ID}
}

func (r *rules) setOrg(c *SetOrg) error {
	if err := checkID("orgId", c.OrgID); err != nil {
		return err
	}
	if len(c.Name) > MaxTextLen {
		return reject("name", "invalid", "at most %d bytes", MaxTextLen)
	}
	if c.Base < 0 || c.Base > pts(100) {
		return reject("baseTrustScore", "invalid", "must be within [0, 100]")
	}
	return nil
}

func (l *Ledger) applySetOrg(c *SetOrg, _ *Result) {
	l.orgs[c.OrgID] = &org{ID: c.OrgID, Name: c.Name, Base: c.Base, UpdatedAt: l.now}
}
