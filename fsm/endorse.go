package fsm

// Endorsements: vouching, budgets, expiry and revocation.

import (
	"strconv"
)

const maxEndorsementsPerPrincipal = 64

// endorse checks an endorsement: the input, both principals known and in
// the actor's organizations, and, counting the endorsements in force, no
// second endorsement of the same endorsee, the endorser's budget and the
// per-principal limit.
func (r *rules) endorse(c *AddEndorsement) error {
	if err := r.endorsementInput(c); err != nil {
		return err
	}
	er, err := r.principal("endorserId", c.EndorserID)
	if err != nil {
		return err
	}
	ee, err := r.principal("endorseeId", c.EndorseeID)
	if err != nil {
		return err
	}
	if err := r.principalInScope("endorserId", c.EndorserID); err != nil {
		return err
	}
	if err := r.principalInScope("endorseeId", c.EndorseeID); err != nil {
		return err
	}
	var spent int64
	giving := 0
	for _, id := range er.Endorsing {
		e := r.l.endorse[id]
		if !endorsementInForce(e, r.now) {
			continue
		}
		if e.EndorseeID == c.EndorseeID {
			return reject("endorseeId", "conflict", "%q already endorses %q (%s)", c.EndorserID, c.EndorseeID, id)
		}
		spent += e.Weight
		giving++
	}
	if w := optOr(c.Weight, r.l.policy.EndorseDefaultWeight); spent+w > r.l.policy.EndorserBudget {
		return reject("weight", "conflict", "endorser budget exceeded: %s of %s points in use",
			FormatDecimal(spent, 6), FormatDecimal(r.l.policy.EndorserBudget, 6))
	}
	if giving >= maxEndorsementsPerPrincipal || r.inForce(ee.Endorsed) >= maxEndorsementsPerPrincipal {
		return reject("endorseeId", "conflict", "at most %d active endorsements per principal", maxEndorsementsPerPrincipal)
	}
	return nil
}

// endorsementInput checks what an endorsement says, before the state.
func (r *rules) endorsementInput(c *AddEndorsement) error {
	if err := checkID("endorserId", c.EndorserID); err != nil {
		return err
	}
	if err := checkID("endorseeId", c.EndorseeID); err != nil {
		return err
	}
	if c.EndorserID == c.EndorseeID {
		return reject("endorseeId", "invalid", "a principal cannot endorse itself")
	}
	w := optOr(c.Weight, r.l.policy.EndorseDefaultWeight)
	if w <= 0 || w > r.l.policy.EndorseMaxWeight {
		return reject("weight", "invalid", "must be within (0, %s]", FormatDecimal(r.l.policy.EndorseMaxWeight, 6))
	}
	if len(c.Reason) > MaxTextLen {
		return reject("reason", "invalid", "at most %d bytes", MaxTextLen)
	}
	if c.ExpiresAt != 0 && c.ExpiresAt <= r.now {
		return reject("expiresAt", "invalid", "must be in the future")
	}
	return nil
}

// inForce counts the endorsements of ids in force.
func (r *rules) inForce(ids []string) int {
	n := 0
	for _, id := range ids {
		if endorsementInForce(r.l.endorse[id], r.now) {
			n++
		}
	}
	return n
}

// endorsementInForce reports whether e exists and has not expired at now.
func endorsementInForce(e *endorsement, now int64) bool {
	return e != nil && (e.ExpiresAt == 0 || e.ExpiresAt > now)
}

// tidyEndorse drops the expired endorsements of both principals of a
// well-formed endorsement by a token in force, within its organizations,
// before the endorsement's checks count the ones in force: the ledger has
// always done so for such an entry, accepted or refused, and replaying a
// ledger must give the same state.
func (l *Ledger) tidyEndorse(r *rules, c *AddEndorsement, res *Result) {
	if t := l.tokens[r.actor]; t != nil && t.Revoked {
		return
	}
	if r.principalInScope("endorserId", c.EndorserID) != nil || r.principalInScope("endorseeId", c.EndorseeID) != nil ||
		r.endorsementInput(c) != nil {
		return
	}
	er, ee := l.principals.get(c.EndorserID), l.principals.get(c.EndorseeID)
	if er == nil || ee == nil {
		return
	}
	er, ee = l.mutable(er), l.mutable(ee)
	er.ownCold()
	ee.ownCold()
	l.pruneEndorsements(er)
	l.pruneEndorsements(ee)
	res.Subjects = sortedKeys(map[string]bool{er.ID: true, ee.ID: true})
}

func (l *Ledger) applyEndorse(c *AddEndorsement, res *Result) {
	er, ee := l.mutable(l.principals.get(c.EndorserID)), l.mutable(l.principals.get(c.EndorseeID))
	er.ownCold()
	ee.ownCold()
	l.pruneEndorsements(er)
	l.pruneEndorsements(ee)
	id := "end-" + strconv.FormatUint(l.seq, 10)
	l.endorse[id] = &endorsement{ID: id, EndorserID: c.EndorserID, EndorseeID: c.EndorseeID,
		Weight: optOr(c.Weight, l.policy.EndorseDefaultWeight), Reason: c.Reason, CreatedAt: l.now, ExpiresAt: c.ExpiresAt}
	l.begin(ee, false)
	er.Endorsing = append(er.Endorsing, id)
	ee.Endorsed = append(ee.Endorsed, id)
	ee.Events++
	ee.LastEvent = l.now
	l.recordHistory(ee, CauseEndorsement, id)
	res.ID = id
	res.Subjects = sortedKeys(map[string]bool{er.ID: true, ee.ID: true})
}

// pruneEndorsements drops the endorsements no longer in force from p's
// lists.
func (l *Ledger) pruneEndorsements(p *principal) {
	keep := func(ids []string) []string {
		n := 0
		for _, id := range ids {
			if endorsementInForce(l.endorse[id], l.now) {
				ids[n] = id
				n++
			}
		}
		return ids[:n]
	}
	if len(p.Endorsing) > 0 {
		p.Endorsing = keep(p.Endorsing)
	}
	if len(p.Endorsed) > 0 {
		p.Endorsed = keep(p.Endorsed)
	}
}

// revokeEndorsement checks a revocation: the endorsement exists and both
// its principals are in the actor's organizations.
func (r *rules) revokeEndorsement(c *RevokeEndorsement) error {
	e := r.l.endorse[c.EndorsementID]
	if e == nil {
		return reject("endorsementId", "not_found", "unknown endorsement %q", c.EndorsementID)
	}
	if err := r.principalInScope("endorseeId", e.EndorseeID); err != nil {
		return err
	}
	return r.principalInScope("endorserId", e.EndorserID)
}

func (l *Ledger) applyRevokeEndorsement(c *RevokeEndorsement, res *Result) {
	e := l.endorse[c.EndorsementID]
	delete(l.endorse, e.ID)
	drop := func(ids []string) []string {
		out := ids[:0]
		for _, id := range ids {
			if id != e.ID {
				out = append(out, id)
			}
		}
		return out
	}
	if p := l.principals.get(e.EndorserID); p != nil {
		p = l.mutable(p)
		p.ownCold()
		p.Endorsing = drop(p.Endorsing)
	}
	if p := l.principals.get(e.EndorseeID); p != nil {
		p = l.mutable(p)
		p.ownCold()
		l.begin(p, false)
		p.Endorsed = drop(p.Endorsed)
		p.Events++
		p.LastEvent = l.now
		l.recordHistory(p, CauseEndorsement, e.ID)
	}
	res.ID = e.ID
	res.Subjects = sortedKeys(map[string]bool{e.EndorserID: true, e.EndorseeID: true})
}
