package fsm

// Temporary modifiers, alert reviews, API tokens and the policy.

import (
	"crypto/sha256"
	"strconv"
)

// modifier checks a temporary modifier: its values, the principal, and
// room under the policy's limit of modifiers in force.
func (r *rules) modifier(c *AddModifier) error {
	if err := r.modifierInput(c); err != nil {
		return err
	}
	p, err := r.principal("principalId", c.PrincipalID)
	if err != nil {
		return err
	}
	active := int64(0)
	for _, m := range p.Modifiers {
		if modifierInForce(m, r.now) {
			active++
		}
	}
	if active >= r.l.policy.ModifierLimit {
		return reject("principalId", "conflict", "at most %d active modifiers", r.l.policy.ModifierLimit)
	}
	return nil
}

// modifierInput checks what a modifier says, before the state.
func (r *rules) modifierInput(c *AddModifier) error {
	switch {
	case c.Delta == 0 || c.Delta < -pts(100) || c.Delta > pts(100):
		return reject("delta", "invalid", "must be non-zero and within [-100, 100]")
	case c.ExpiresAt <= r.now:
		return reject("expiresAt", "invalid", "must be in the future")
	case len(c.Reason) > MaxTextLen:
		return reject("reason", "invalid", "at most %d bytes", MaxTextLen)
	}
	return nil
}

// modifierInForce reports whether m has not expired at now.
func modifierInForce(m modifier, now int64) bool { return m.ExpiresAt > now }

// removeModifier checks that the principal has the modifier, in force.
func (r *rules) removeModifier(c *RemoveModifier) error {
	p, err := r.principal("principalId", c.PrincipalID)
	if err != nil {
		return err
	}
	for _, m := range p.Modifiers {
		if m.ID == c.ModifierID && modifierInForce(m, r.now) {
			return nil
		}
	}
	return reject("modifierId", "not_found", "principal %q has no modifier %q in force", c.PrincipalID, c.ModifierID)
}

func (l *Ledger) applyRemoveModifier(c *RemoveModifier, res *Result) {
	p := l.mutable(l.principals.get(c.PrincipalID))
	p.ownCold()
	l.begin(p, false)
	kept := p.Modifiers[:0:0]
	for _, m := range p.Modifiers {
		if m.ID != c.ModifierID {
			kept = append(kept, m)
		}
	}
	p.Modifiers = kept
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p, CauseModifier, c.ModifierID)
	res.ID = c.ModifierID
	res.Subjects = []string{p.ID}
}

// tidyModifier drops the expired modifiers (and old authentication
// failures) of the principal of a well-formed modifier by a token in
// force, before the check counts the modifiers in force: the ledger has
// always done so for such an entry, accepted or refused, and replaying a
// ledger must give the same state.
func (l *Ledger) tidyModifier(r *rules, c *AddModifier, res *Result) {
	if t := l.tokens[r.actor]; t != nil && t.Revoked {
		return
	}
	if r.modifierInput(c) != nil {
		return
	}
	if p := l.principals.get(c.PrincipalID); p != nil {
		p = l.mutable(p)
		l.prune(p)
		p.ownCold()
		res.Subjects = []string{p.ID}
	}
}

func (l *Ledger) applyModifier(c *AddModifier, res *Result) {
	p := l.mutable(l.principals.get(c.PrincipalID))
	l.begin(p, false)
	l.prune(p)
	p.ownCold()
	id := "mod-" + strconv.FormatUint(l.seq, 10)
	p.Modifiers = append(p.Modifiers, modifier{ID: id, Delta: c.Delta, Reason: c.Reason, CreatedAt: l.now, ExpiresAt: c.ExpiresAt})
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p, CauseModifier, id)
	res.ID = id
	res.Subjects = []string{p.ID}
}

// review checks a review: a known detection, a known action, and — for
// an entry of model 2 — a transition the state machine allows from the
// detection's state when the entry applies, so of two reviews racing, the
// second is refused. An entry of model 1 is accepted whatever the state,
// as model 1 did.
func (r *rules) review(c *ReviewAlert) error {
	if _, ok := r.l.alertIdx[c.AlertID]; !ok {
		return reject("alertId", "not_found", "unknown alert %q", c.AlertID)
	}
	if _, known := reviewFrom[c.Action]; !known || c.Action == ReviewRemediate && r.l.v1() {
		return reject("action", "invalid", "must be acknowledge, remediate, dismiss, confirm-compromised or confirm-safe")
	}
	if len(c.Note) > MaxTextLen {
		return reject("note", "invalid", "at most %d bytes", MaxTextLen)
	}
	if !r.l.v1() {
		return r.l.reviewAllowed(c.AlertID, c.Action)
	}
	return nil
}

func (l *Ledger) applyReview(c *ReviewAlert, actor string, res *Result) {
	p := l.mutable(l.principals.get(l.alertIdx[c.AlertID]))
	p.ownCold()
	rf := reviewFrom[c.Action]
	for i := range p.Alerts {
		if p.Alerts[i].ID != c.AlertID {
			continue
		}
		l.begin(p, false)
		if !l.v1() {
			l.transition(p, i, rf.to, actor, c.Note)
			continue
		}
		// Model 1: any review sets the status, and a confirmation sets or
		// clears the principal's compromise.
		l.setState(p, i, rf.to, actor, c.Note)
		switch c.Action {
		case ReviewConfirmCompromised:
			p.Compromised = true
		case ReviewConfirmSafe:
			p.Compromised = false
		}
	}
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p, CauseReview, c.AlertID)
	res.Subjects = []string{p.ID}
}

func (r *rules) createToken(c *CreateToken) error {
	if err := checkID("id", c.TokenID); err != nil {
		return err
	}
	if len(c.Hash) != sha256.Size {
		return reject("hash", "invalid", "must be a SHA-256 digest")
	}
	okRole := false
	for _, role := range Roles {
		okRole = okRole || role == c.Role
	}
	if !okRole {
		return reject("role", "invalid", "must be one of admin, operator, writer, reader, partner, auditor, gateway, analyst, receiver")
	}
	if (c.Role == RolePartner) != (c.PartnerID != "") {
		return reject("partnerId", "invalid", "required for, and only for, the partner role")
	}
	if len(c.Orgs) > 64 || len(c.Description) > MaxTextLen {
		return reject("orgs", "invalid", "at most 64 orgs and a description of %d bytes", MaxTextLen)
	}
	for _, o := range c.Orgs {
		if err := checkID("orgs", o); err != nil {
			return err
		}
	}
	if r.l.tokens[c.TokenID] != nil {
		return reject("id", "conflict", "token %q exists", c.TokenID)
	}
	if _, dup := r.l.tokenHash[[32]byte(c.Hash)]; dup {
		return reject("hash", "conflict", "token secret already registered")
	}
	return nil
}

func (l *Ledger) applyCreateToken(c *CreateToken, _ *Result) {
	l.tokens[c.TokenID] = &Token{ID: c.TokenID, Hash: append([]byte(nil), c.Hash...), Role: c.Role, PartnerID: c.PartnerID,
		Orgs: append([]string(nil), c.Orgs...), Description: c.Description, CreatedAt: l.now}
	l.tokenHash[[32]byte(c.Hash)] = c.TokenID
}

func (r *rules) revokeToken(c *RevokeToken) error {
	if r.l.tokens[c.TokenID] == nil {
		return reject("id", "not_found", "unknown token %q", c.TokenID)
	}
	return nil
}

// applyRevokeToken revokes a token; revoking it again changes nothing.
func (l *Ledger) applyRevokeToken(c *RevokeToken, _ *Result) {
	t := l.tokens[c.TokenID]
	if t.Revoked {
		return
	}
	nt := *t
	nt.Revoked, nt.RevokedAt = true, l.now
	l.tokens[c.TokenID] = &nt
	l.disableStreamsOf(c.TokenID)
}

func (r *rules) setPolicy(c *SetPolicy) error {
	p := clonePolicy(c.Policy)
	if err := p.Validate(); err != nil {
		return reject("policy", "invalid", "%v", err)
	}
	return nil
}

func (l *Ledger) applySetPolicy(c *SetPolicy, _ *Result) {
	p := clonePolicy(c.Policy)
	p.Version = l.policy.Version + 1
	l.policy = p
}

// ReviewActionFor returns the review action that sets an alert to status.
func ReviewActionFor(status string) (string, bool) {
	for _, a := range []string{ReviewAcknowledge, ReviewRemediate, ReviewDismiss, ReviewConfirmCompromised, ReviewConfirmSafe} {
		if reviewFrom[a].to == status {
			return a, true
		}
	}
	return "", false
}
