package fsm

// Endorsements: vouching, budgets, expiry and revocation.

import (
	"strconv"
)

const maxEndorsementsPerPrincipal = 64

func (l *Ledger) applyEndorse(c *AddEndorsement, res *Result) error {
	if err := checkID("endorserId", c.EndorserID); err != nil {
		return err
	}
	if err := checkID("endorseeId", c.EndorseeID); err != nil {
		return err
	}
	if c.EndorserID == c.EndorseeID {
		return reject("endorseeId", "invalid", "a principal cannot endorse itself")
	}
	w := optOr(c.Weight, l.policy.EndorseDefaultWeight)
	if w <= 0 || w > l.policy.EndorseMaxWeight {
		return reject("weight", "invalid", "must be within (0, %s]", FormatDecimal(l.policy.EndorseMaxWeight, 6))
	}
	if len(c.Reason) > MaxTextLen {
		return reject("reason", "invalid", "at most %d bytes", MaxTextLen)
	}
	if c.ExpiresAt != 0 && c.ExpiresAt <= l.now {
		return reject("expiresAt", "invalid", "must be in the future")
	}
	er, ee := l.principals[c.EndorserID], l.principals[c.EndorseeID]
	if er == nil {
		return reject("endorserId", "not_found", "unknown principal %q", c.EndorserID)
	}
	if ee == nil {
		return reject("endorseeId", "not_found", "unknown principal %q", c.EndorseeID)
	}
	er, ee = l.mutable(er), l.mutable(ee)
	er.ownCold()
	ee.ownCold()
	l.pruneEndorsements(er)
	l.pruneEndorsements(ee)
	var spent int64
	for _, id := range er.Endorsing {
		e := l.endorse[id]
		if e.EndorseeID == c.EndorseeID {
			return reject("endorseeId", "conflict", "%q already endorses %q (%s)", c.EndorserID, c.EndorseeID, id)
		}
		spent += e.Weight
	}
	if spent+w > l.policy.EndorserBudget {
		return reject("weight", "conflict", "endorser budget exceeded: %s of %s points in use",
			FormatDecimal(spent, 6), FormatDecimal(l.policy.EndorserBudget, 6))
	}
	if len(er.Endorsing) >= maxEndorsementsPerPrincipal || len(ee.Endorsed) >= maxEndorsementsPerPrincipal {
		return reject("endorseeId", "conflict", "at most %d active endorsements per principal", maxEndorsementsPerPrincipal)
	}
	id := "end-" + strconv.FormatUint(l.seq, 10)
	l.endorse[id] = &endorsement{ID: id, EndorserID: c.EndorserID, EndorseeID: c.EndorseeID, Weight: w,
		Reason: c.Reason, CreatedAt: l.now, ExpiresAt: c.ExpiresAt}
	er.Endorsing = append(er.Endorsing, id)
	ee.Endorsed = append(ee.Endorsed, id)
	ee.Events++
	ee.LastEvent = l.now
	l.recordHistory(ee)
	res.ID = id
	res.Subjects = sortedKeys(map[string]bool{er.ID: true, ee.ID: true})
	return nil
}

// pruneEndorsements drops expired endorsements from p's lists and, when
// neither side refers to one any more, from the ledger.
func (l *Ledger) pruneEndorsements(p *principal) {
	keep := func(ids []string) []string {
		n := 0
		for _, id := range ids {
			e := l.endorse[id]
			if e != nil && (e.ExpiresAt == 0 || e.ExpiresAt > l.now) {
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

func (l *Ledger) applyRevokeEndorsement(c *RevokeEndorsement, res *Result) error {
	e := l.endorse[c.EndorsementID]
	if e == nil {
		return reject("endorsementId", "not_found", "unknown endorsement %q", c.EndorsementID)
	}
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
	if p := l.principals[e.EndorserID]; p != nil {
		p = l.mutable(p)
		p.ownCold()
		p.Endorsing = drop(p.Endorsing)
	}
	if p := l.principals[e.EndorseeID]; p != nil {
		p = l.mutable(p)
		p.ownCold()
		p.Endorsed = drop(p.Endorsed)
		p.Events++
		p.LastEvent = l.now
		l.recordHistory(p)
	}
	res.ID = e.ID
	res.Subjects = sortedKeys(map[string]bool{e.EndorserID: true, e.EndorseeID: true})
	return nil
}
