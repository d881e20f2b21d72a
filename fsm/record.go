package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
)

// Breakdown is scoreComponents: each component's own evidence in whole
// points (negative where its evidence is), and the adjustment — decay,
// modifiers, endorsements, federation, bounds and rounding — that makes
// them add up to trustScore.
type Breakdown struct {
	Authentication int64 `json:"authentication"`
	Behavior       int64 `json:"behavior"`
	Compliance     int64 `json:"compliance"`
	History        int64 `json:"history"`
	Context        int64 `json:"context"`
	Adjustment     int64 `json:"adjustment"`
}

// Sum returns the total of the parts: trustScore.
func (b Breakdown) Sum() int64 {
	return b.Authentication + b.Behavior + b.Compliance + b.History + b.Context + b.Adjustment
}

// SignalView is one entry of positiveSignals / negativeSignals.
type SignalView struct {
	Event     string      `json:"event"`
	Category  string      `json:"category"`
	Timestamp string      `json:"timestamp"`
	Impact    json.Number `json:"impact"`
}

// ModifierView is one active temporary modifier.
type ModifierView struct {
	ID        string      `json:"id"`
	Delta     json.Number `json:"delta"`
	Reason    string      `json:"reason,omitempty"`
	CreatedAt string      `json:"createdAt"`
	ExpiresAt string      `json:"expiresAt"`
}

// EndorsementView is one endorsement.
type EndorsementView struct {
	EndorsementID string      `json:"endorsementId"`
	EndorserID    string      `json:"endorserId"`
	EndorseeID    string      `json:"endorseeId"`
	Weight        json.Number `json:"weight"`
	Reason        string      `json:"reason,omitempty"`
	CreatedAt     string      `json:"createdAt"`
	ExpiresAt     string      `json:"expiresAt,omitempty"`
	// Counted says whether the endorsement adds to the score now.
	Counted bool `json:"counted"`
}

// FederatedView is one partner's assessment in federatedTrust.
type FederatedView struct {
	Score        json.Number `json:"score"`
	Weight       json.Number `json:"weight,omitempty"`
	MaxInfluence json.Number `json:"maxInfluence,omitempty"`
	Influence    json.Number `json:"influence"`
	ValidUntil   string      `json:"validUntil,omitempty"`
	ReceivedAt   string      `json:"receivedAt,omitempty"`
	Counted      bool        `json:"counted"`
	// Source is "partner" (a pushed assessment) or "import".
	Source string `json:"source"`
}

// AlertView is one trust alert.
type AlertView struct {
	AlertID     string `json:"alertId"`
	PrincipalID string `json:"principalId"`
	Type        string `json:"type"`
	Severity    string `json:"severity"`
	RaisedAt    string `json:"raisedAt"`
	Message     string `json:"message"`
	// Status is open, acknowledged, remediated, dismissed,
	// confirmed_compromised or confirmed_safe.
	Status     string `json:"status"`
	ReviewedAt string `json:"reviewedAt,omitempty"`
	ReviewedBy string `json:"reviewedBy,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Explanation tells how the score was derived, in exact decimal points.
type Explanation struct {
	ModelVersion     int                    `json:"modelVersion"`
	PolicyVersion    int64                  `json:"policyVersion"`
	BaseTrustScore   json.Number            `json:"baseTrustScore"`
	Components       map[string]json.Number `json:"components"`
	Evidence         json.Number            `json:"evidence"`
	Decay            json.Number            `json:"decay"`
	Modifiers        json.Number            `json:"modifiers"`
	Local            json.Number            `json:"local"`
	EndorsementBonus json.Number            `json:"endorsementBonus"`
	Federation       json.Number            `json:"federation"`
	Exact            json.Number            `json:"exact"`
	ClampedBy        string                 `json:"clampedBy,omitempty"`
	Summary          []string               `json:"summary"`
}

// Record is the PrincipalTrust record (docs/architecture.md, "The trust
// record"): the 29 properties in their original names, "@type", and extra
// fields.
type Record struct {
	Type                  string                   `json:"@type"`
	TrustID               string                   `json:"trustId"`
	PrincipalID           string                   `json:"principalId"`
	PrincipalType         string                   `json:"principalType"`
	TrustScore            int64                    `json:"trustScore"`
	TrustLevel            string                   `json:"trustLevel"`
	ScoreComponents       Breakdown                `json:"scoreComponents"`
	AuthenticationFactors json.RawMessage          `json:"authenticationFactors"`
	BehaviorMetrics       json.RawMessage          `json:"behaviorMetrics"`
	ComplianceStatus      json.RawMessage          `json:"complianceStatus"`
	RiskIndicators        json.RawMessage          `json:"riskIndicators"`
	PositiveSignals       []SignalView             `json:"positiveSignals"`
	NegativeSignals       []SignalView             `json:"negativeSignals"`
	TrustHistory          []HistoryView            `json:"trustHistory"`
	TrustTrend            string                   `json:"trustTrend"`
	BaseTrustScore        json.Number              `json:"baseTrustScore"`
	TrustModifiers        []ModifierView           `json:"trustModifiers"`
	TrustDecayRate        json.Number              `json:"trustDecayRate"`
	TrustRecoveryRate     json.Number              `json:"trustRecoveryRate"`
	MaxTrustScore         json.Number              `json:"maxTrustScore"`
	MinTrustScore         json.Number              `json:"minTrustScore"`
	Endorsements          []EndorsementView        `json:"endorsements"`
	FederatedTrust        map[string]FederatedView `json:"federatedTrust"`
	LastAssessmentAt      string                   `json:"lastAssessmentAt"`
	NextAssessmentAt      string                   `json:"nextAssessmentAt"`
	AssessmentFrequency   string                   `json:"assessmentFrequency"`
	TrustAlerts           []AlertView              `json:"trustAlerts"`
	// AssessmentOverdue says nextAssessmentAt passed without new evidence.
	AssessmentOverdue bool `json:"assessmentOverdue"`
	// Holds are the detections holding the principal's decisions until
	// remediated (docs/scoring.md, "12. Detections and review").
	Holds          []HoldView      `json:"holds"`
	RequiresReview bool            `json:"requiresReview"`
	IsActive       bool            `json:"isActive"`
	Metadata       json.RawMessage `json:"metadata"`

	// OrgID is the principal's organization, when it has one.
	OrgID string `json:"orgId,omitempty"`
	// Context is the last context factor report.
	Context json.RawMessage `json:"context"`
	// Confidence (0-100) says how much evidence the score rests on.
	Confidence int64 `json:"confidence"`
	// TrustScoreExact is the score before rounding to whole points.
	TrustScoreExact json.Number `json:"trustScoreExact"`
	// Explanation tells how the score was derived.
	Explanation Explanation `json:"explanation"`
	// EvaluatedAt is the instant the score was evaluated at.
	EvaluatedAt string `json:"evaluatedAt"`
	// LedgerIndex is the ledger index the record reflects.
	LedgerIndex uint64 `json:"ledgerIndex"`
}

func dec(v int64) json.Number { return json.Number(FormatDecimal(v, 6)) }

func rawOr(b []byte, def string) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage(def)
	}
	return json.RawMessage(b)
}

// Record returns the trust record of a principal evaluated at ledger-clock
// time t (Unix ms).
func (l *Ledger) Record(id string, t int64) (*Record, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.principals.get(id)
	if p == nil {
		return nil, false
	}
	return l.record(p, t), true
}

func (l *Ledger) record(p *principal, t int64) *Record {
	ev := l.evaluate(p, t)
	r := &Record{
		Type:                "PrincipalTrust",
		TrustID:             p.TrustID,
		PrincipalID:         p.ID,
		PrincipalType:       PrincipalTypes[p.Type],
		TrustScore:          ev.Score,
		TrustLevel:          Levels[ev.Level],
		ScoreComponents:     breakdownOf(ev.Components),
		TrustTrend:          l.trend(p, t, ev.Score),
		BaseTrustScore:      dec(p.Base),
		TrustDecayRate:      dec(p.DecayRate),
		TrustRecoveryRate:   dec(p.RecoveryRate),
		MaxTrustScore:       dec(p.Max),
		MinTrustScore:       dec(p.Min),
		LastAssessmentAt:    FormatTime(p.LastEvent),
		NextAssessmentAt:    FormatTime(p.LastEvent + AssessmentFrequencies[p.Frequency].Period),
		AssessmentOverdue:   overdue(p, t),
		AssessmentFrequency: AssessmentFrequencies[p.Frequency].Name,
		IsActive:            p.Active,
		Metadata:            rawOr(p.Metadata, "{}"),
		OrgID:               p.Org,
		Confidence:          l.confidence(p, t),
		TrustScoreExact:     dec(ev.Exact),
		EvaluatedAt:         FormatTime(t),
		LedgerIndex:         l.index,
	}
	if r.TrustID == "" {
		r.TrustID = "trust_" + p.ID
	}
	r.setFactors(p.Factors)
	r.PositiveSignals = l.signalViews(p.Positive)
	r.NegativeSignals = l.signalViews(p.Negative)
	r.TrustHistory = historyViews(p.History)
	r.TrustModifiers = modifierViews(p.Modifiers, t)
	r.Endorsements = l.endorsementViews(p.Endorsed, t)
	r.FederatedTrust = l.federatedViews(p, ev.Partners)
	r.TrustAlerts, r.RequiresReview = alertViews(p.ID, p.Alerts)
	r.RequiresReview = r.RequiresReview || p.Compromised
	r.Holds = l.policy.holdsOf(p)
	r.Explanation = l.explain(p, ev)
	return r
}

// setFactors sets the record's factor properties from the principal's
// reported factors, each defaulting to an empty object (risk indicators to an
// empty array).
func (r *Record) setFactors(factors *[NumComponents][]byte) {
	var f [NumComponents][]byte
	if factors != nil {
		f = *factors
	}
	r.AuthenticationFactors = rawOr(f[0], "{}")
	r.BehaviorMetrics = rawOr(f[1], "{}")
	r.ComplianceStatus = rawOr(f[2], "{}")
	r.RiskIndicators = rawOr(f[3], "[]")
	r.Context = rawOr(f[4], "{}")
}

// modifierViews returns the modifiers still active at t.
func modifierViews(modifiers []modifier, t int64) []ModifierView {
	out := []ModifierView{}
	for _, m := range modifiers {
		if m.ExpiresAt > t {
			out = append(out, ModifierView{ID: m.ID, Delta: dec(m.Delta), Reason: m.Reason,
				CreatedAt: FormatTime(m.CreatedAt), ExpiresAt: FormatTime(m.ExpiresAt)})
		}
	}
	return out
}

// endorsementViews returns the endorsements of the given ids that still
// exist, in the order of ids.
func (l *Ledger) endorsementViews(ids []string, t int64) []EndorsementView {
	out := []EndorsementView{}
	for _, id := range ids {
		if e := l.endorse[id]; e != nil {
			out = append(out, l.endorsementView(e, t))
		}
	}
	return out
}

// federatedViews returns the principal's federated trust by partner id: the
// partners' assessments, marked with the influence of those the evaluation
// counted, then the imported entries no assessment replaces.
func (l *Ledger) federatedViews(p *principal, counts []PartnerInfluence) map[string]FederatedView {
	out := map[string]FederatedView{}
	counted := map[string]PartnerInfluence{}
	for _, pi := range counts {
		counted[pi.PartnerID] = pi
	}
	for _, a := range p.Assessments {
		v := FederatedView{Score: dec(a.Score), ValidUntil: FormatTime(a.ValidUntil), ReceivedAt: FormatTime(a.ReceivedAt),
			Influence: "0", Source: "partner"}
		if pa := l.partners[a.PartnerID]; pa != nil {
			v.Weight = json.Number(FormatDecimal(pa.Weight, 6))
			v.MaxInfluence = dec(pa.MaxInfluence)
		}
		if pi, ok := counted[a.PartnerID]; ok {
			v.Counted, v.Influence = true, dec(pi.Influence)
		}
		out[a.PartnerID] = v
	}
	for k, v := range jsonObject(p.Imported) {
		if _, clash := out[k]; clash {
			continue
		}
		score, _ := ParseDecimal(string(v), 6)
		out[k] = FederatedView{Score: dec(score), Influence: "0", Source: "import"}
	}
	return out
}

// alertViews returns the principal's alerts and whether one of them is still
// open or acknowledged.
func alertViews(pid string, alerts []alert) ([]AlertView, bool) {
	out := []AlertView{}
	pending := false
	for _, a := range alerts {
		out = append(out, alertView(pid, a))
		pending = pending || a.pending()
	}
	return out, pending
}

func (l *Ledger) signalViews(list []signalEntry) []SignalView {
	out := make([]SignalView, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // newest first
		e := list[i]
		name := otherEvent
		if e.eventIndex() < len(l.events) {
			name = l.events[e.eventIndex()]
		}
		out = append(out, SignalView{Event: name, Category: Categories[e.category()%NumComponents],
			Timestamp: FormatTime(e.At), Impact: json.Number(FormatDecimal(int64(e.Impact), 3))})
	}
	return out
}

func (l *Ledger) endorsementView(e *endorsement, t int64) EndorsementView {
	v := EndorsementView{EndorsementID: e.ID, EndorserID: e.EndorserID, EndorseeID: e.EndorseeID, Weight: dec(e.Weight),
		Reason: e.Reason, CreatedAt: FormatTime(e.CreatedAt)}
	if e.ExpiresAt != 0 {
		v.ExpiresAt = FormatTime(e.ExpiresAt)
	}
	if e.ExpiresAt == 0 || e.ExpiresAt > t {
		if q := l.principals.get(e.EndorserID); q != nil && q.Active && !q.Compromised {
			v.Counted = l.endorsedScore(q, t, l.policy.EndorseHops-1) >= l.policy.EndorseThreshold
		}
	}
	return v
}

func (l *Ledger) explain(p *principal, ev Evaluation) Explanation {
	x := Explanation{
		ModelVersion: ModelVersion, PolicyVersion: l.policy.Version, BaseTrustScore: dec(p.Base),
		Components: map[string]json.Number{}, Evidence: dec(ev.Evidence), Decay: dec(ev.Decay), Modifiers: dec(ev.Modifiers),
		Local: dec(ev.Local), EndorsementBonus: dec(ev.Endorsement), Federation: dec(ev.Federation), Exact: dec(ev.Exact),
		ClampedBy: ev.Clamped,
	}
	for i, v := range p.V {
		x.Components[Categories[i]] = dec(v)
	}
	x.Summary = []string{"evidence " + FormatDecimal(ev.Evidence, 6) + " from baseline " + FormatDecimal(p.Base, 6) + " plus signals and factor reports"}
	if ev.Decay > 0 {
		x.Summary = append(x.Summary, "inactivity decay -"+FormatDecimal(ev.Decay, 6))
	}
	if ev.Modifiers != 0 {
		x.Summary = append(x.Summary, "temporary modifiers "+signed(ev.Modifiers))
	}
	if ev.Endorsement != 0 {
		x.Summary = append(x.Summary, "endorsement bonus +"+FormatDecimal(ev.Endorsement, 6))
	}
	if ev.Federation != 0 {
		x.Summary = append(x.Summary, "federated assessments "+signed(ev.Federation))
	}
	if ev.Clamped != "" {
		x.Summary = append(x.Summary, "held by "+ev.Clamped)
	}
	x.Summary = append(x.Summary, "score "+strconv.FormatInt(ev.Score, 10)+" ("+Levels[ev.Level]+"), breakdown: each component's own evidence, the rest as adjustment")
	return x
}

func signed(v int64) string {
	if v > 0 {
		return "+" + FormatDecimal(v, 6)
	}
	return FormatDecimal(v, 6)
}

// Filter selects principals for List.
type Filter struct {
	Type           string
	Level          string
	OrgID          string
	RequiresReview *bool
	Overdue        *bool  // assessmentOverdue
	After          string // cursor: list ids greater than this
	Limit          int
}

// List returns records matching f evaluated at t, ordered by principal id,
// and the cursor for the next page ("" when done).
func (l *Ledger) List(f Filter, t int64) ([]*Record, string) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	ids := make([]string, 0, 64)
	l.principals.each(func(p *principal) {
		if p.ID <= f.After || (f.Type != "" && PrincipalTypes[p.Type] != f.Type) || (f.OrgID != "" && p.Org != f.OrgID) {
			return
		}
		ids = append(ids, p.ID)
	})
	sort.Strings(ids)
	var out []*Record
	next := ""
	for _, id := range ids {
		if len(out) == f.Limit {
			next = out[len(out)-1].PrincipalID
			break
		}
		r := l.record(l.principals.get(id), t)
		if f.Level != "" && r.TrustLevel != f.Level || f.RequiresReview != nil && r.RequiresReview != *f.RequiresReview ||
			f.Overdue != nil && r.AssessmentOverdue != *f.Overdue {
			continue
		}
		out = append(out, r)
	}
	return out, next
}

// Has reports whether a principal exists.
func (l *Ledger) Has(id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.principals.get(id) != nil
}

// OrgOf returns a principal's organization.
func (l *Ledger) OrgOf(id string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.principals.get(id)
	if p == nil {
		return "", false
	}
	return p.Org, true
}

// PrincipalType returns the type of a principal.
func (l *Ledger) PrincipalType(id string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.principals.get(id)
	if p == nil || int(p.Type) >= len(PrincipalTypes) {
		return "", false
	}
	return PrincipalTypes[p.Type], true
}

// History returns a principal's score history.
func (l *Ledger) History(id string) ([]HistoryView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.principals.get(id)
	if p == nil {
		return nil, false
	}
	return historyViews(p.History), true
}

// OrgView is an organization baseline.
type OrgView struct {
	OrgID          string      `json:"orgId"`
	Name           string      `json:"name,omitempty"`
	BaseTrustScore json.Number `json:"baseTrustScore"`
	UpdatedAt      string      `json:"updatedAt"`
}

// Org returns an organization.
func (l *Ledger) Org(id string) (OrgView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	o := l.orgs[id]
	if o == nil {
		return OrgView{}, false
	}
	return OrgView{OrgID: o.ID, Name: o.Name, BaseTrustScore: dec(o.Base), UpdatedAt: FormatTime(o.UpdatedAt)}, true
}

// Endorsement returns an active endorsement evaluated at t.
func (l *Ledger) Endorsement(id string, t int64) (EndorsementView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.endorse[id]
	if e == nil {
		return EndorsementView{}, false
	}
	return l.endorsementView(e, t), true
}

// PartnerView is a federation partner.
type PartnerView struct {
	PartnerID    string          `json:"partnerId"`
	Issuer       string          `json:"issuer"`
	Audience     string          `json:"audience"`
	JWKS         json.RawMessage `json:"jwks"`
	Weight       json.Number     `json:"weight"`
	MaxInfluence json.Number     `json:"maxInfluence"`
	Status       string          `json:"status"`
	RateLimit    int64           `json:"rateLimit"`
	UpdatedAt    string          `json:"updatedAt"`
	// SubjectAliases map subjects ("email:<address>", "iss_sub:<iss>
	// <sub>") to principal ids.
	SubjectAliases map[string]string `json:"subjectAliases,omitempty"`
	// SSF is how a partner registered from its transmitter is reached,
	// and what its stream's SSF events said (the credential is never
	// shown); nil for a partner with neither.
	SSF *PartnerSSFView `json:"ssf,omitempty"`
}

// PartnerSSFView is a partner's SSF registration.
type PartnerSSFView struct {
	ConfigurationURL string `json:"configurationUrl"`
	JWKSURI          string `json:"jwksUri"`
	StreamID         string `json:"streamId"`
	Delivery         string `json:"delivery"`
	PollURL          string `json:"pollUrl,omitempty"`
	TokenID          string `json:"tokenId,omitempty"`
	Verification     string `json:"verification,omitempty"`
	VerifiedAt       string `json:"verifiedAt,omitempty"`
	StreamStatus     string `json:"streamStatus,omitempty"`
	StreamReason     string `json:"streamReason,omitempty"`
	StreamStatusAt   string `json:"streamStatusAt,omitempty"`
	// Auth is the credential for the transmitter's endpoints, for the
	// node's own calls; never encoded. VerifyState is the state of the
	// verification asked for.
	Auth        string `json:"-"`
	VerifyState string `json:"-"`
}

func partnerView(p *partner) PartnerView {
	st := "active"
	if p.Suspended {
		st = "suspended"
	}
	v := PartnerView{PartnerID: p.ID, Issuer: p.Issuer, Audience: p.Audience, JWKS: rawOr(p.JWKS, "{}"),
		Weight: json.Number(FormatDecimal(p.Weight, 6)), MaxInfluence: dec(p.MaxInfluence), Status: st,
		RateLimit: p.RateLimit, UpdatedAt: FormatTime(p.UpdatedAt)}
	if len(p.Aliases) > 0 {
		v.SubjectAliases = make(map[string]string, len(p.Aliases))
		for _, a := range p.Aliases {
			v.SubjectAliases[a.Subject] = a.PrincipalID
		}
	}
	if p.SSF.ConfigURL != "" || p.VerifiedAt != 0 || p.StreamStatusAt != 0 {
		s := p.SSF
		v.SSF = &PartnerSSFView{ConfigurationURL: s.ConfigURL, JWKSURI: s.JWKSURI, StreamID: s.StreamID, Delivery: s.Delivery,
			PollURL: s.PollURL, TokenID: s.TokenID, Verification: p.Verification, StreamStatus: p.StreamStatus,
			StreamReason: p.StreamReason, Auth: s.Auth, VerifyState: s.VerifyState}
		if p.VerifiedAt != 0 {
			v.SSF.VerifiedAt = FormatTime(p.VerifiedAt)
		}
		if p.StreamStatusAt != 0 {
			v.SSF.StreamStatusAt = FormatTime(p.StreamStatusAt)
		}
	}
	return v
}

// Partner returns a federation partner.
func (l *Ledger) Partner(id string) (PartnerView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.partners[id]
	if p == nil {
		return PartnerView{}, false
	}
	return partnerView(p), true
}

// Partners returns all partners ordered by id.
func (l *Ledger) Partners() []PartnerView {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := []PartnerView{}
	for _, p := range l.partners {
		out = append(out, partnerView(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartnerID < out[j].PartnerID })
	return out
}

// PartnerByIssuer returns the partner registered for an issuer.
func (l *Ledger) PartnerByIssuer(iss string) (PartnerView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, p := range l.partners {
		if p.Issuer == iss {
			return partnerView(p), true
		}
	}
	return PartnerView{}, false
}

// TokenByHash returns the token whose secret hashes to h.
func (l *Ledger) TokenByHash(h [32]byte) (Token, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	id, ok := l.tokenHash[h]
	if !ok {
		return Token{}, false
	}
	return *l.tokens[id], true
}

// Token returns a token by id (without its secret).
func (l *Ledger) Token(id string) (Token, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t := l.tokens[id]
	if t == nil {
		return Token{}, false
	}
	return *t, true
}

// Tokens returns all tokens (without secrets) ordered by id.
func (l *Ledger) Tokens() []Token {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]Token, 0, len(l.tokens))
	for _, t := range l.tokens {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LedgerTime returns the current ledger time (Unix ms).
func (l *Ledger) LedgerTime() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.now
}

// RecordsDigest returns the SHA-256 (hex) of every principal's record
// evaluated at t, in principal-id order: two nodes at the same applied index
// agree on it for any t. It costs a full evaluation of every principal.
func (l *Ledger) RecordsDigest(t int64) (string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ids := l.principals.ids()
	sort.Strings(ids)
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, id := range ids {
		if err := enc.Encode(l.record(l.principals.get(id), t)); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
