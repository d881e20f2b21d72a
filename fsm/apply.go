package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// SignalStatus values in per-signal results.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// SignalResult is the outcome of one signal in a batch.
type SignalResult struct {
	EventID string `json:"eventId"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// Result is the outcome of applying one ledger entry.
type Result struct {
	Index    uint64
	Sequence uint64
	Time     int64
	Kind     Kind
	// Err is set when the entry was rejected; the state did not change
	// (apart from the digest, sequence and ledger time).
	Err error
	// Signals holds per-signal results of a RecordSignals entry, and the
	// single result of a RecordAssessment entry.
	Signals []SignalResult
	// ID is the identifier the entry created (endorsement, modifier).
	ID string
	// Subjects are the principal ids the entry touched, sorted.
	Subjects []string
	// Alerts are the ids of alerts the entry raised.
	Alerts []string
}

// RejectError is a deterministic rejection of a ledger entry, naming the
// field at fault.
type RejectError struct {
	Field  string
	Reason string
	// Code is a stable machine-readable code ("not_found", "conflict",
	// "invalid").
	Code string
}

func (e *RejectError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func reject(field, code, format string, a ...any) error {
	return &RejectError{Field: field, Code: code, Reason: fmt.Sprintf(format, a...)}
}

// Apply applies one ledger entry at Raft index. It never panics: an entry
// that cannot be decoded or fails validation is recorded as rejected, the
// same way on every node.
func (l *Ledger) Apply(index uint64, data []byte) (res *Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index = index
	l.seq++
	res = &Result{Index: index, Sequence: l.seq}
	entry, err := DecodeEntry(data)
	if err == nil {
		if entry.Stamp > l.now {
			l.now = entry.Stamp
		}
		res.Kind = entry.Kind
		var cmd Command
		cmd, err = DecodeCommand(entry)
		if t := l.tokens[entry.Actor]; err == nil && t != nil && t.Revoked {
			// Revoked between authentication and commit: refuse on every node.
			err = reject("authorization", "forbidden", "token %q was revoked", entry.Actor)
		}
		if err == nil {
			err = l.safeApply(cmd, entry.Actor, res)
		}
	}
	res.Time = l.now
	l.counts.Entries++
	ok := byte(1)
	if err != nil {
		res.Err = err
		l.counts.Rejected++
		ok = 0
	}
	l.chain(data, ok)
	l.sweep()
	return res
}

func (l *Ledger) safeApply(cmd Command, actor string, res *Result) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// A bug, not an input problem: fail the entry identically on
			// every node rather than crash the node.
			err = fmt.Errorf("internal error applying %s: %v", cmd.Kind(), r)
		}
	}()
	return l.applyCommand(cmd, actor, res)
}

func (l *Ledger) chain(data []byte, ok byte) {
	h := sha256.New()
	h.Write(l.digest[:])
	var hdr [17]byte
	binary.BigEndian.PutUint64(hdr[0:], l.seq)
	binary.BigEndian.PutUint64(hdr[8:], uint64(l.now)) // #nosec G115 -- bit pattern of ledger time, hashed
	hdr[16] = ok
	h.Write(hdr[:])
	h.Write(data)
	h.Sum(l.digest[:0])
}

// scopeOf returns the organizations an actor's writes are limited to (nil:
// unlimited). Only writer tokens with orgs are scoped.
func (l *Ledger) scopeOf(actor string) []string {
	if t := l.tokens[actor]; t != nil && t.Role == "writer" && len(t.Orgs) > 0 {
		return t.Orgs
	}
	return nil
}

func inScope(scope []string, org string) bool {
	if scope == nil {
		return true
	}
	for _, o := range scope {
		if o == org {
			return true
		}
	}
	return false
}

// checkScope refuses a write about principals outside the actor's
// organizations. The API checks it before proposing; checking again here
// closes the window in which a principal changes organization meanwhile.
func (l *Ledger) checkScope(scope []string, field string, ids ...string) error {
	if scope == nil {
		return nil
	}
	for _, id := range ids {
		if p := l.principals[id]; p != nil && !inScope(scope, p.Org) {
			return reject(field, "forbidden", "principal %q is outside the token's organizations", id)
		}
	}
	return nil
}

func (l *Ledger) applyCommand(cmd Command, actor string, res *Result) error {
	scope := l.scopeOf(actor)
	switch c := cmd.(type) {
	case *RegisterPrincipal:
		if !inScope(scope, c.OrgID) {
			return reject("orgId", "forbidden", "organization %q is outside the token's organizations", c.OrgID)
		}
	case *UpdatePrincipal:
		if err := l.checkScope(scope, "principalId", c.PrincipalID); err != nil {
			return err
		}
		if c.OrgID != nil && !inScope(scope, *c.OrgID) {
			return reject("orgId", "forbidden", "organization %q is outside the token's organizations", *c.OrgID)
		}
	case *ReportFactors:
		if err := l.checkScope(scope, "principalId", c.PrincipalID); err != nil {
			return err
		}
	case *AddEndorsement:
		if err := l.checkScope(scope, "endorseeId", c.EndorserID, c.EndorseeID); err != nil {
			return err
		}
	case *RevokeEndorsement:
		if e := l.endorse[c.EndorsementID]; e != nil {
			if err := l.checkScope(scope, "endorsementId", e.EndorserID, e.EndorseeID); err != nil {
				return err
			}
		}
	case *RecordSignals:
		return l.applySignals(c, scope, res)
	}
	switch c := cmd.(type) {
	case *RegisterPrincipal:
		return l.applyRegister(c, res)
	case *UpdatePrincipal:
		return l.applyUpdate(c, res)
	case *SetOrg:
		return l.applySetOrg(c)
	case *ReportFactors:
		return l.applyFactors(c, res)
	case *AddEndorsement:
		return l.applyEndorse(c, res)
	case *RevokeEndorsement:
		return l.applyRevokeEndorsement(c, res)
	case *RecordAssessment:
		return l.applyAssessment(c, res)
	case *UpsertPartner:
		return l.applyUpsertPartner(c)
	case *RemovePartner:
		if l.partners[c.PartnerID] == nil {
			return reject("partnerId", "not_found", "unknown partner %q", c.PartnerID)
		}
		delete(l.partners, c.PartnerID)
		return nil
	case *SetPolicy:
		p := clonePolicy(c.Policy)
		if err := p.Validate(); err != nil {
			return reject("policy", "invalid", "%v", err)
		}
		p.Version = l.policy.Version + 1
		l.policy = p
		return nil
	case *AddModifier:
		return l.applyModifier(c, res)
	case *ReviewAlert:
		return l.applyReview(c, actor, res)
	case *CreateToken:
		return l.applyCreateToken(c)
	case *RevokeToken:
		t := l.tokens[c.TokenID]
		if t == nil {
			return reject("id", "not_found", "unknown token %q", c.TokenID)
		}
		if t.Revoked {
			return nil
		}
		nt := *t
		nt.Revoked, nt.RevokedAt = true, l.now
		l.tokens[c.TokenID] = &nt
		return nil
	case *ImportRecord:
		return l.applyImport(c, res)
	case *FederatedEvent:
		return l.applyFederatedEvent(c, res)
	}
	return errors.New("unhandled command")
}

// ValidID reports whether s is an acceptable identifier for new input:
// 1 to MaxIDLen characters of ASCII letters, digits and - _ . : @, and not
// dots only ("." and ".." are path segments that URL handling removes or
// resolves, so such an id could be written but never addressed; "..." and
// longer are refused with them). Every id from outside — in a request, a
// SET subject, a node id — is checked with it before it is proposed.
func ValidID(s string) bool {
	return validLedgerID(s) && strings.Trim(s, ".") != ""
}

// validLedgerID is the identifier rule Apply enforces: the character set
// and length only. Ledgers written before dot-only ids were refused may
// hold one, and replaying them must give the same state on every node and
// version, so Apply keeps the rule those entries were written under; the
// stricter ValidID is applied before proposing.
func validLedgerID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '@':
		default:
			return false
		}
	}
	return true
}

func checkID(field, s string) error {
	if !validLedgerID(s) {
		return reject(field, "invalid", "must be 1-%d characters of letters, digits and - _ . : @", MaxIDLen)
	}
	return nil
}

func checkScore(field string, o Opt) error {
	if o.Set && (o.V < 0 || o.V > pts(100)) {
		return reject(field, "invalid", "must be within [0, 100]")
	}
	return nil
}

func checkRate(field string, o Opt) error {
	if o.Set && (o.V < 0 || o.V > pts(100)) {
		return reject(field, "invalid", "must be within [0, 100] points per hour")
	}
	return nil
}

func optOr(o Opt, d int64) int64 {
	if o.Set {
		return o.V
	}
	return d
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
