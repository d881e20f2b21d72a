package fsm

// Temporary modifiers, alert reviews and API tokens.

import (
	"crypto/sha256"
	"strconv"
)

func (l *Ledger) applyModifier(c *AddModifier, res *Result) error {
	switch {
	case c.Delta == 0 || c.Delta < -pts(100) || c.Delta > pts(100):
		return reject("delta", "invalid", "must be non-zero and within [-100, 100]")
	case c.ExpiresAt <= l.now:
		return reject("expiresAt", "invalid", "must be in the future")
	case len(c.Reason) > MaxTextLen:
		return reject("reason", "invalid", "at most %d bytes", MaxTextLen)
	}
	p, err := l.principalFor("principalId", c.PrincipalID)
	if err != nil {
		return err
	}
	l.prune(p)
	p.ownCold()
	if int64(len(p.Modifiers)) >= l.policy.ModifierLimit {
		return reject("principalId", "conflict", "at most %d active modifiers", l.policy.ModifierLimit)
	}
	id := "mod-" + strconv.FormatUint(l.seq, 10)
	p.Modifiers = append(p.Modifiers, modifier{ID: id, Delta: c.Delta, Reason: c.Reason, CreatedAt: l.now, ExpiresAt: c.ExpiresAt})
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	res.ID = id
	res.Subjects = []string{p.ID}
	return nil
}

func (l *Ledger) applyReview(c *ReviewAlert, actor string, res *Result) error {
	pid, ok := l.alertIdx[c.AlertID]
	if !ok {
		return reject("alertId", "not_found", "unknown alert %q", c.AlertID)
	}
	status := map[string]string{
		ReviewAcknowledge: AlertAcknowledged, ReviewDismiss: AlertDismissed,
		ReviewConfirmCompromised: AlertConfirmedCompromised, ReviewConfirmSafe: AlertConfirmedSafe,
	}[c.Action]
	if status == "" {
		return reject("action", "invalid", "must be acknowledge, dismiss, confirm-compromised or confirm-safe")
	}
	if len(c.Note) > MaxTextLen {
		return reject("note", "invalid", "at most %d bytes", MaxTextLen)
	}
	p := l.mutable(l.principals[pid])
	p.ownCold()
	for i := range p.Alerts {
		if p.Alerts[i].ID == c.AlertID {
			p.Alerts[i].Status, p.Alerts[i].ReviewedAt, p.Alerts[i].ReviewedBy, p.Alerts[i].Note = status, l.now, actor, c.Note
		}
	}
	switch c.Action {
	case ReviewConfirmCompromised:
		p.Compromised = true
	case ReviewConfirmSafe:
		p.Compromised = false
	}
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
	return nil
}

func (l *Ledger) applyCreateToken(c *CreateToken) error {
	if err := checkID("id", c.TokenID); err != nil {
		return err
	}
	if len(c.Hash) != sha256.Size {
		return reject("hash", "invalid", "must be a SHA-256 digest")
	}
	okRole := false
	for _, r := range Roles {
		okRole = okRole || r == c.Role
	}
	if !okRole {
		return reject("role", "invalid", "must be one of admin, operator, writer, reader, partner, auditor")
	}
	if (c.Role == "partner") != (c.PartnerID != "") {
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
	if l.tokens[c.TokenID] != nil {
		return reject("id", "conflict", "token %q exists", c.TokenID)
	}
	var h [32]byte
	copy(h[:], c.Hash)
	if _, dup := l.tokenHash[h]; dup {
		return reject("hash", "conflict", "token secret already registered")
	}
	l.tokens[c.TokenID] = &Token{ID: c.TokenID, Hash: append([]byte(nil), c.Hash...), Role: c.Role, PartnerID: c.PartnerID,
		Orgs: append([]string(nil), c.Orgs...), Description: c.Description, CreatedAt: l.now}
	l.tokenHash[h] = c.TokenID
	return nil
}
