package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
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

// ValidID reports whether s is an acceptable identifier.
func ValidID(s string) bool {
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
	if !ValidID(s) {
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

func (l *Ledger) principalFor(field, id string) (*principal, error) {
	p := l.principals[id]
	if p == nil {
		return nil, reject(field, "not_found", "unknown principal %q", id)
	}
	return l.mutable(p), nil
}

func (l *Ledger) applyRegister(c *RegisterPrincipal, res *Result) error {
	if err := checkID("principalId", c.PrincipalID); err != nil {
		return err
	}
	typ, ok := PrincipalTypeIndex(c.PrincipalType)
	if !ok {
		return reject("principalType", "invalid", "must be one of user, service, device, application, network")
	}
	if c.OrgID != "" {
		if err := checkID("orgId", c.OrgID); err != nil {
			return err
		}
	}
	for _, e := range []error{checkScore("baseTrustScore", c.Base), checkScore("minTrustScore", c.Min), checkScore("maxTrustScore", c.Max),
		checkRate("trustDecayRate", c.DecayRate), checkRate("trustRecoveryRate", c.RecoveryRate)} {
		if e != nil {
			return e
		}
	}
	freq := 1
	if c.Frequency != "" {
		if freq, ok = frequencyIndex(c.Frequency); !ok {
			return reject("assessmentFrequency", "invalid", "must be one of continuous, hourly, daily, weekly, monthly")
		}
	}
	if err := checkJSON("metadata", c.Metadata, '{'); err != nil {
		return err
	}
	if l.principals[c.PrincipalID] != nil {
		return reject("principalId", "conflict", "principal %q already exists", c.PrincipalID)
	}
	p := &principal{gen: l.gen, ID: c.PrincipalID, Type: uint8(typ), Org: c.OrgID, Active: !c.Inactive, Frequency: uint8(freq), // #nosec G115 -- typ and freq index small enums
		Cold: emptyCold}
	p.Min = optOr(c.Min, l.policy.DefaultMin)
	p.Max = optOr(c.Max, l.policy.DefaultMax)
	if p.Min > p.Max {
		return reject("minTrustScore", "invalid", "must not exceed maxTrustScore")
	}
	p.Base = l.policy.TypeBase[typ]
	if o := l.orgs[c.OrgID]; o != nil {
		p.Base = o.Base
	}
	p.Base = optOr(c.Base, p.Base)
	p.DecayRate = optOr(c.DecayRate, l.policy.DefaultDecayRate)
	p.RecoveryRate = optOr(c.RecoveryRate, l.policy.DefaultRecoveryRate)
	if len(c.Metadata) > 0 {
		p.ownCold()
		p.Metadata = compactJSON(c.Metadata)
	}
	l.seedComponents(p, min(p.Base, p.Max))
	p.Allowance, p.AllowanceAt = l.policy.RecoveryBurst, l.now
	p.LastActive, p.Registered, p.LastEvent = l.now, l.now, l.now
	l.principals[p.ID] = p
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
	return nil
}

func optOr(o Opt, d int64) int64 {
	if o.Set {
		return o.V
	}
	return d
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

// touch records activity on p at ledger time now: the decay accrued so far
// is folded into the components (so the score does not move), and the decay
// clock restarts. Expired modifiers, endorsements and failure marks go.
func (l *Ledger) touch(p *principal) {
	if d := l.decayAt(p, l.now); d > 0 {
		l.spreadLoss(p, d)
	}
	p.LastActive = l.now
	l.prune(p)
}

func (l *Ledger) prune(p *principal) {
	if len(p.Modifiers) > 0 {
		n := 0
		for _, m := range p.Modifiers {
			if m.ExpiresAt > l.now {
				p.Modifiers[n] = m
				n++
			}
		}
		p.Modifiers = p.Modifiers[:n]
	}
	n := 0
	for _, t := range p.AuthFails {
		if t > l.now-l.policy.BurstWindow {
			p.AuthFails[n] = t
			n++
		}
	}
	p.AuthFails = p.AuthFails[:n]
}

// spreadLoss takes d µpt from the positive components in proportion to
// their size, exactly.
func (l *Ledger) spreadLoss(p *principal, d int64) {
	var sum int64
	for _, v := range p.V {
		if v > 0 {
			sum += v
		}
	}
	if sum <= 0 {
		p.V[0] -= d
		return
	}
	if d > sum {
		d = sum
	}
	var taken int64
	for i, v := range p.V {
		if v > 0 {
			x := mulDiv(d, v, sum, d)
			p.V[i] -= x
			taken += x
		}
	}
	for i := 0; taken < d && i < NumComponents; i++ {
		if p.V[i] > 0 {
			x := min(p.V[i], d-taken)
			p.V[i] -= x
			taken += x
		}
	}
}

// raise adds up to gain µpt to component c, limited by the recovery
// allowance (refilled at RecoveryRate per hour up to RecoveryBurst) and the
// component's cap. It returns what was applied.
func (l *Ledger) raise(p *principal, c int, gain int64) int64 {
	if gain <= 0 {
		return 0
	}
	if el := l.now - p.AllowanceAt; el > 0 {
		p.Allowance = min(l.policy.RecoveryBurst, p.Allowance+mulDiv(p.RecoveryRate, el, hourMS, pts(100)))
	}
	p.AllowanceAt = l.now
	// Evidence never accumulates above maxTrustScore: a surplus there would
	// absorb later violations without lowering the score.
	g := min(gain, p.Allowance, max(0, l.policy.Caps[c]-p.V[c]), max(0, p.Max-p.evidence()))
	p.V[c] += g
	p.Allowance -= g
	return g
}

// maxDebt is how far below zero a component can fall: deep enough that a
// principal at it sits at its floor whatever modifiers, endorsements and
// federation add, so every repeated violation lowers the score until then.
const maxDebt = 1000 * Point

// lower takes loss µpt from component c at once. A violation (a negative
// signal) also stops recovery: the allowance restarts from zero. A worse
// factor report lowers the component without resetting the allowance.
func (l *Ledger) lower(p *principal, c int, loss int64, violation bool) {
	if loss <= 0 {
		return
	}
	p.V[c] = max(p.V[c]-loss, -maxDebt)
	if p.V[c] > l.policy.Caps[c] {
		p.V[c] = l.policy.Caps[c]
	}
	if violation {
		p.Allowance, p.AllowanceAt = 0, l.now
	}
}

func (l *Ledger) recordHistory(p *principal) {
	s := clamp(roundPoints(l.score(p, l.now)), 0, 100)
	if n := len(p.History); n > 0 && p.History[n-1].score() == s*Point {
		return
	}
	w := int(l.policy.HistoryWindow)
	if len(p.History) >= w {
		copy(p.History, p.History[len(p.History)-w+1:])
		p.History = p.History[:w-1]
	}
	if len(p.History) == cap(p.History) {
		grown := make([]historyPoint, len(p.History), min(w, max(4, 2*cap(p.History))))
		copy(grown, p.History)
		p.History = grown
	}
	p.History = append(p.History, packHistory(l.now, s*Point))
}

func pushSignal(list []signalEntry, e signalEntry, window int) []signalEntry {
	if len(list) >= window {
		copy(list, list[len(list)-window+1:])
		list = list[:window-1]
	}
	if cap(list) < window && len(list) == cap(list) {
		grown := make([]signalEntry, len(list), window)
		copy(grown, list)
		list = grown
	}
	return append(list, e)
}

func (l *Ledger) applySignals(c *RecordSignals, scope []string, res *Result) error {
	if len(c.Signals) == 0 || len(c.Signals) > MaxSignalsPerCmd {
		return reject("signals", "invalid", "need 1 to %d signals", MaxSignalsPerCmd)
	}
	res.Signals = make([]SignalResult, len(c.Signals))
	touched := make([]string, 0, 4)
	for i := range c.Signals {
		s := &c.Signals[i]
		r := &res.Signals[i]
		r.EventID = s.EventID
		reason := l.checkSignal(s)
		if reason == "" && scope != nil && !inScope(scope, l.principals[s.PrincipalID].Org) {
			reason = "principalId: outside the token's organizations"
		}
		if reason != "" {
			r.Status, r.Reason = StatusRejected, reason
			l.counts.SignalsRejected++
			continue
		}
		k := dedupHash('s', s.EventID)
		if l.seen(k) {
			r.Status = StatusDuplicate
			l.counts.SignalsDuplicate++
			continue
		}
		l.remember(k)
		r.Status = StatusAccepted
		l.counts.SignalsAccepted++
		p := l.mutable(l.principals[s.PrincipalID])
		touched = append(touched, p.ID)
		res.Alerts = append(res.Alerts, l.signal(p, s)...)
	}
	res.Subjects = uniqueSorted(touched)
	return nil
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// checkSignal validates one signal against the state; "" means valid.
func (l *Ledger) checkSignal(s *Signal) string {
	switch {
	case s.EventID == "" || len(s.EventID) > MaxIDLen:
		return "eventId: must be 1-128 bytes"
	case !ValidID(s.PrincipalID):
		return "principalId: invalid identifier"
	case l.principals[s.PrincipalID] == nil:
		return "principalId: unknown principal"
	case s.Event == "" || len(s.Event) > MaxEventNameLen:
		return "event: must be 1-128 bytes"
	case int(s.Category) >= NumComponents:
		return "category: unknown category"
	case s.Impact < -pts(100) || s.Impact > pts(100):
		return "impact: must be within [-100, 100]"
	case s.ObservedAt != 0 && s.ObservedAt < l.now-l.policy.DedupWindow:
		return "observedAt: older than the deduplication window"
	case s.ObservedAt > l.now+l.policy.FutureSkew:
		return "observedAt: in the future"
	case checkJSON("attributes", s.Attributes, '{') != nil:
		return "attributes: must be a JSON object"
	}
	return ""
}

func (l *Ledger) signal(p *principal, s *Signal) []string {
	before := p.bound(l.local(p, l.now))
	l.touch(p)
	c := int(s.Category)
	var applied int64
	if s.Impact < 0 {
		n := uint16(1)
		if p.EscCount[c] > 0 && l.now-p.EscAt[c] <= l.policy.EscalationWindow {
			n = p.EscCount[c] + 1
			if n == 0 {
				n = 0xffff
			}
		}
		p.EscCount[c], p.EscAt[c] = n, l.now
		mult := min(100+int64(n-1)*l.policy.EscalationStep, l.policy.EscalationMax)
		loss := mulDiv(-s.Impact, mult, 100, pts(1000))
		l.lower(p, c, loss, true)
		applied = -loss
	} else {
		applied = l.raise(p, c, s.Impact)
	}
	e := signalEntry{At: l.now, Event: l.eventName(s.Event) | uint32(c)<<29, Impact: int32(applied / 1000)} // #nosec G115 -- category < 5 and |impact| ≤ 1000 points, so milli-points fit int32
	w := int(l.policy.SignalWindow)
	if s.Impact < 0 {
		p.Negative = pushSignal(p.Negative, e, w)
		if c == 0 {
			p.AuthFails = append(p.AuthFails, l.now)
			if int64(len(p.AuthFails)) > l.policy.BurstCount {
				p.AuthFails = p.AuthFails[1:]
			}
		}
	} else {
		p.Positive = pushSignal(p.Positive, e, w)
	}
	p.Events++
	p.LastEvent = l.now
	var raised []string
	if !p.Active {
		raised = l.raiseAlert(p, raised, "inactive_activity", "high", "signal "+s.Event+" for an inactive principal")
	}
	if s.Impact < 0 && c == 0 && int64(len(p.AuthFails)) >= l.policy.BurstCount {
		raised = l.raiseAlert(p, raised, "failure_burst", "high",
			fmt.Sprintf("%d failed authentication signals within %s", len(p.AuthFails), durationText(l.policy.BurstWindow)))
	}
	if a, ok := anomalyScore(s.Attributes); ok && a >= l.policy.AnomalyThreshold*Point {
		raised = l.raiseAlert(p, raised, "anomaly_score", "high", "anomaly score "+FormatDecimal(a, 6)+" on "+s.Event)
	}
	if after := p.bound(l.local(p, l.now)); before-after >= l.policy.SharpDrop {
		raised = l.raiseAlert(p, raised, "sharp_drop", "high",
			"score fell "+FormatDecimal(before-after, 6)+" points on "+s.Event)
	}
	l.recordHistory(p)
	return raised
}

func durationText(ms int64) string {
	switch {
	case ms%hourMS == 0:
		return strconv.FormatInt(ms/hourMS, 10) + "h"
	case ms%60_000 == 0:
		return strconv.FormatInt(ms/60_000, 10) + "m"
	}
	return strconv.FormatInt(ms/1000, 10) + "s"
}

// raiseAlert opens an alert unless one of the same type is already open.
func (l *Ledger) raiseAlert(p *principal, raised []string, typ, severity, msg string) []string {
	p.ownCold()
	for _, a := range p.Alerts {
		if a.Type == typ && (a.Status == AlertOpen || a.Status == AlertAcknowledged) {
			return raised
		}
	}
	id := "alt-" + strconv.FormatUint(l.counts.Alerts+1, 10)
	if w := int(l.policy.AlertWindow); len(p.Alerts) >= w {
		// Evict the oldest closed alert, else the oldest.
		victim := 0
		for i, a := range p.Alerts {
			if a.Status != AlertOpen && a.Status != AlertAcknowledged {
				victim = i
				break
			}
		}
		delete(l.alertIdx, p.Alerts[victim].ID)
		p.Alerts = append(p.Alerts[:victim], p.Alerts[victim+1:]...)
	}
	p.Alerts = append(p.Alerts, alert{ID: id, Type: typ, Severity: severity, RaisedAt: l.now, Message: msg, Status: AlertOpen})
	l.alertIdx[id] = p.ID
	l.counts.Alerts++
	return append(raised, id)
}

func (l *Ledger) applyFactors(c *ReportFactors, res *Result) error {
	parts := [NumComponents][]byte{c.AuthenticationFactors, c.BehaviorMetrics, c.ComplianceStatus, c.RiskIndicators, c.Context}
	kinds := [NumComponents]byte{'{', '{', '{', '[', '{'}
	names := [NumComponents]string{"authenticationFactors", "behaviorMetrics", "complianceStatus", "riskIndicators", "context"}
	any := false
	for i, b := range parts {
		if err := checkJSON(names[i], b, kinds[i]); err != nil {
			return err
		}
		any = any || len(b) > 0
	}
	if !any {
		return reject("factors", "invalid", "at least one factor report is required")
	}
	p, err := l.principalFor("principalId", c.PrincipalID)
	if err != nil {
		return err
	}
	before := p.bound(l.local(p, l.now))
	l.touch(p)
	p.ownCold()
	if p.Factors == nil {
		p.Factors = &[NumComponents][]byte{}
	} else {
		f := *p.Factors
		p.Factors = &f
	}
	for i, b := range parts {
		if len(b) > 0 {
			p.Factors[i] = compactJSON(b)
		}
	}
	// riskIndicators (index 3 in the report) feed the context component
	// together with the context report.
	adj := factorAdjustments(l.policy.Rules, p.Factors)
	var raised []string
	for comp := 0; comp < NumComponents; comp++ {
		delta := adj[comp] - p.FactorScore[comp]
		p.FactorScore[comp] = adj[comp]
		if delta > 0 {
			l.raise(p, comp, delta)
		} else {
			l.lower(p, comp, -delta, false)
		}
	}
	if a, ok := anomalyScore(p.Factors[1]); ok && len(parts[1]) > 0 && a >= l.policy.AnomalyThreshold*Point {
		raised = l.raiseAlert(p, raised, "anomaly_score", "high", "behaviorMetrics anomaly_score "+FormatDecimal(a, 6))
	}
	if !p.Active {
		raised = l.raiseAlert(p, raised, "inactive_activity", "high", "factor report for an inactive principal")
	}
	if after := p.bound(l.local(p, l.now)); before-after >= l.policy.SharpDrop {
		raised = l.raiseAlert(p, raised, "sharp_drop", "high", "score fell "+FormatDecimal(before-after, 6)+" points on a factor report")
	}
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	res.Subjects = []string{p.ID}
	res.Alerts = raised
	return nil
}

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

func (l *Ledger) applyAssessment(c *RecordAssessment, res *Result) error {
	r := SignalResult{EventID: c.EventID}
	defer func() { res.Signals = []SignalResult{r} }()
	switch {
	case c.EventID == "" || len(c.EventID) > MaxIDLen*2:
		r.Status, r.Reason = StatusRejected, "eventId: must be 1-256 bytes"
		return reject("eventId", "invalid", "must be 1-256 bytes")
	case c.Score < 0 || c.Score > pts(100):
		r.Status, r.Reason = StatusRejected, "score: must be within [0, 100]"
		return reject("score", "invalid", "must be within [0, 100]")
	case len(c.Components) != 0 && len(c.Components) != NumComponents:
		r.Status, r.Reason = StatusRejected, "components: need all five or none"
		return reject("components", "invalid", "need all five components or none")
	}
	pa := l.partners[c.PartnerID]
	if pa == nil || pa.Suspended {
		r.Status, r.Reason = StatusRejected, "partnerId: unknown or suspended partner"
		return reject("partnerId", "forbidden", "unknown or suspended partner %q", c.PartnerID)
	}
	k := dedupHash('a', c.PartnerID+"\x00"+c.EventID)
	if l.seen(k) {
		r.Status = StatusDuplicate
		return nil
	}
	if c.ValidUntil <= l.now {
		r.Status, r.Reason = StatusRejected, "validUntil: already expired"
		return reject("validUntil", "invalid", "already expired")
	}
	if c.IssuedAt != 0 && c.IssuedAt < l.now-l.policy.DedupWindow {
		r.Status, r.Reason = StatusRejected, "iat: older than the deduplication window"
		return reject("iat", "invalid", "older than the deduplication window")
	}
	p := l.principals[c.PrincipalID]
	if p == nil {
		r.Status, r.Reason = StatusRejected, "principalId: unknown principal"
		return reject("principalId", "not_found", "unknown principal %q", c.PrincipalID)
	}
	p = l.mutable(p)
	p.ownCold()
	l.remember(k)
	a := assessment{PartnerID: c.PartnerID, EventID: c.EventID, Score: c.Score, ValidUntil: c.ValidUntil,
		IssuedAt: c.IssuedAt, ReceivedAt: l.now, Components: append([]int64(nil), c.Components...)}
	replaced := false
	for i := range p.Assessments {
		if p.Assessments[i].PartnerID == c.PartnerID {
			p.Assessments[i] = a
			replaced = true
		}
	}
	if !replaced {
		p.Assessments = append(p.Assessments, a)
		sort.Slice(p.Assessments, func(i, j int) bool { return p.Assessments[i].PartnerID < p.Assessments[j].PartnerID })
	}
	// Assessments of removed partners are forgotten when the principal
	// hears from anyone, keeping the list bounded by the partner count.
	n := 0
	for _, x := range p.Assessments {
		if l.partners[x.PartnerID] != nil {
			p.Assessments[n] = x
			n++
		}
	}
	p.Assessments = p.Assessments[:n]
	p.Events++
	p.LastEvent = l.now
	l.recordHistory(p)
	r.Status = StatusAccepted
	res.Subjects = []string{p.ID}
	return nil
}

func (l *Ledger) applyUpsertPartner(c *UpsertPartner) error {
	if err := checkID("partnerId", c.PartnerID); err != nil {
		return err
	}
	switch {
	case c.Issuer == "" || len(c.Issuer) > MaxTextLen:
		return reject("issuer", "invalid", "must be 1-%d bytes", MaxTextLen)
	case c.Audience == "" || len(c.Audience) > MaxTextLen:
		return reject("audience", "invalid", "must be 1-%d bytes", MaxTextLen)
	case c.Weight < 0 || c.Weight > 1_000_000:
		return reject("weight", "invalid", "must be within [0, 1]")
	case c.MaxInfluence < 0 || c.MaxInfluence > pts(100):
		return reject("maxInfluence", "invalid", "must be within [0, 100]")
	case c.RateLimit < 0 || c.RateLimit > 1_000_000:
		return reject("rateLimit", "invalid", "must be within [0, 1000000]")
	}
	if err := checkJSON("jwks", c.JWKS, '{'); err != nil {
		return err
	}
	total := c.Weight
	for id, p := range l.partners {
		if id != c.PartnerID && p.Issuer == c.Issuer {
			return reject("issuer", "conflict", "issuer already registered to partner %q", id)
		}
		if id != c.PartnerID {
			total += p.Weight
		}
	}
	// Partner weights are shares of one: the blend stays a convex
	// combination, so a lower local score never yields a higher blended
	// one, and each partner's influence is independent of the others.
	if total > 1_000_000 {
		return reject("weight", "conflict", "partner weights would sum to %s; they must not exceed 1", FormatDecimal(total, 6))
	}
	l.partners[c.PartnerID] = &partner{ID: c.PartnerID, Issuer: c.Issuer, Audience: c.Audience, JWKS: compactJSON(c.JWKS),
		Weight: c.Weight, MaxInfluence: c.MaxInfluence, Suspended: c.Suspended, RateLimit: c.RateLimit, UpdatedAt: l.now}
	return nil
}

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

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
