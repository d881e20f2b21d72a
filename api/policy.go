package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/trustledger/trustledger/fsm"
)

// The JSON form of fsm.Policy (docs/api.md, "Policy"). Scores, weights and
// rates are decimal points (rates in points per hour), durations are Go
// duration strings ("24h", "15m"), per-component, per-level, per-type and
// per-sensitivity values are objects keyed by name. PUT /v1/policy merges
// the body into the current policy: fields left out keep their values,
// arrays (permissions, rules) given are replaced whole.

// duration is a JSON duration string kept in milliseconds.
type duration struct {
	ms  int64
	bad string // the text when it did not parse
}

// UnmarshalJSON accepts a Go duration string.
func (d *duration) UnmarshalJSON(b []byte) error {
	if jsonKind(b) != "string" {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: durType}
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 || v%time.Millisecond != 0 {
		*d = duration{bad: s}
		return nil
	}
	*d = duration{ms: v.Milliseconds()}
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(formatDuration(d.ms))
}

// formatDuration writes ms compactly: "168h", "15m", "1h30m", "500ms".
func formatDuration(ms int64) string {
	s := (time.Duration(ms) * time.Millisecond).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (d duration) value(errs *fieldErrors, field string) int64 {
	if d.bad != "" {
		errs.invalid(field, "must be a non-negative duration in whole milliseconds such as \"24h\", got %q", d.bad)
	}
	return d.ms
}

func dec(v int64) decimal { return decimal{text: fsm.FormatDecimal(v, 6)} }

// componentValues are per-component values.
type componentValues struct {
	Authentication decimal `json:"authentication"`
	Behavior       decimal `json:"behavior"`
	Compliance     decimal `json:"compliance"`
	History        decimal `json:"history"`
	Context        decimal `json:"context"`
}

func (c *componentValues) list() []*decimal {
	return []*decimal{&c.Authentication, &c.Behavior, &c.Compliance, &c.History, &c.Context}
}

// levelThresholds are the lower bounds of the levels above untrusted.
type levelThresholds struct {
	Low      decimal `json:"low"`
	Medium   decimal `json:"medium"`
	High     decimal `json:"high"`
	Verified decimal `json:"verified"`
}

func (l *levelThresholds) list() []*decimal {
	return []*decimal{&l.Low, &l.Medium, &l.High, &l.Verified}
}

// typeValues are per-principal-type values.
type typeValues struct {
	User        decimal `json:"user"`
	Service     decimal `json:"service"`
	Device      decimal `json:"device"`
	Application decimal `json:"application"`
	Network     decimal `json:"network"`
}

func (t *typeValues) list() []*decimal {
	return []*decimal{&t.User, &t.Service, &t.Device, &t.Application, &t.Network}
}

// sensitivityValues are per-sensitivity values.
type sensitivityValues struct {
	Low      decimal `json:"low"`
	Medium   decimal `json:"medium"`
	High     decimal `json:"high"`
	Critical decimal `json:"critical"`
}

func (s *sensitivityValues) list() []*decimal {
	return []*decimal{&s.Low, &s.Medium, &s.High, &s.Critical}
}

// levelDurations are per-level durations.
type levelDurations struct {
	Untrusted duration `json:"untrusted"`
	Low       duration `json:"low"`
	Medium    duration `json:"medium"`
	High      duration `json:"high"`
	Verified  duration `json:"verified"`
}

func (l *levelDurations) list() []*duration {
	return []*duration{&l.Untrusted, &l.Low, &l.Medium, &l.High, &l.Verified}
}

// permissionDoc activates a permission at a minimum score.
type permissionDoc struct {
	Name     string  `json:"name"`
	MinScore decimal `json:"minScore"`
}

// decisionDoc holds the decision thresholds (docs/scoring.md, "16.
// Decisions").
type decisionDoc struct {
	Allow       sensitivityValues `json:"allow"`
	StepUp      sensitivityValues `json:"stepUp"`
	SessionMax  levelDurations    `json:"sessionMax"`
	IdleTimeout levelDurations    `json:"idleTimeout"`
	Permissions []permissionDoc   `json:"permissions"`
}

// ruleDoc awards points when a factor report field matches. Value is a
// JSON scalar for "eq", a number for "gte"/"lte", and absent for "has"
// (Key is then the risk indicator).
type ruleDoc struct {
	Component string          `json:"component"`
	Key       string          `json:"key"`
	Op        string          `json:"op"`
	Value     json.RawMessage `json:"value,omitempty"`
	Points    decimal         `json:"points"`
}

// policyDoc is the JSON form of fsm.Policy.
type policyDoc struct {
	Version              *int64          `json:"version,omitempty"`
	ModelVersion         *int            `json:"modelVersion,omitempty"`
	Caps                 componentValues `json:"caps"`
	Thresholds           levelThresholds `json:"thresholds"`
	TypeBase             typeValues      `json:"typeBase"`
	DefaultMin           decimal         `json:"defaultMin"`
	DefaultMax           decimal         `json:"defaultMax"`
	DefaultDecayRate     decimal         `json:"defaultDecayRate"`
	DefaultRecoveryRate  decimal         `json:"defaultRecoveryRate"`
	DecayGrace           duration        `json:"decayGrace"`
	RecoveryBurst        decimal         `json:"recoveryBurst"`
	EscalationWindow     duration        `json:"escalationWindow"`
	EscalationStep       int64           `json:"escalationStep"`
	EscalationMax        int64           `json:"escalationMax"`
	DedupWindow          duration        `json:"dedupWindow"`
	FutureSkew           duration        `json:"futureSkew"`
	EndorseThreshold     decimal         `json:"endorseThreshold"`
	EndorseDefaultWeight decimal         `json:"endorseDefaultWeight"`
	EndorseMaxWeight     decimal         `json:"endorseMaxWeight"`
	EndorserBudget       decimal         `json:"endorserBudget"`
	EndorseCap           decimal         `json:"endorseCap"`
	EndorseHops          int64           `json:"endorseHops"`
	FederationCap        decimal         `json:"federationCap"`
	SignalWindow         int64           `json:"signalWindow"`
	HistoryWindow        int64           `json:"historyWindow"`
	AlertWindow          int64           `json:"alertWindow"`
	ModifierLimit        int64           `json:"modifierLimit"`
	SharpDrop            decimal         `json:"sharpDrop"`
	AnomalyThreshold     int64           `json:"anomalyThreshold"`
	BurstCount           int64           `json:"burstCount"`
	BurstWindow          duration        `json:"burstWindow"`
	TrendWindow          duration        `json:"trendWindow"`
	TrendDelta           decimal         `json:"trendDelta"`
	VolatileSwings       int64           `json:"volatileSwings"`
	Decision             decisionDoc     `json:"decision"`
	Rules                []ruleDoc       `json:"rules"`
}

// policyToDoc converts a policy to its JSON form.
func policyToDoc(p *fsm.Policy) *policyDoc {
	mv := fsm.ModelVersion
	v := p.Version
	d := &policyDoc{
		Version: &v, ModelVersion: &mv,
		DefaultMin: dec(p.DefaultMin), DefaultMax: dec(p.DefaultMax),
		DefaultDecayRate: dec(p.DefaultDecayRate), DefaultRecoveryRate: dec(p.DefaultRecoveryRate),
		DecayGrace: duration{ms: p.DecayGrace}, RecoveryBurst: dec(p.RecoveryBurst),
		EscalationWindow: duration{ms: p.EscalationWindow}, EscalationStep: p.EscalationStep, EscalationMax: p.EscalationMax,
		DedupWindow: duration{ms: p.DedupWindow}, FutureSkew: duration{ms: p.FutureSkew},
		EndorseThreshold: dec(p.EndorseThreshold), EndorseDefaultWeight: dec(p.EndorseDefaultWeight),
		EndorseMaxWeight: dec(p.EndorseMaxWeight), EndorserBudget: dec(p.EndorserBudget), EndorseCap: dec(p.EndorseCap),
		EndorseHops: p.EndorseHops, FederationCap: dec(p.FederationCap),
		SignalWindow: p.SignalWindow, HistoryWindow: p.HistoryWindow, AlertWindow: p.AlertWindow, ModifierLimit: p.ModifierLimit,
		SharpDrop: dec(p.SharpDrop), AnomalyThreshold: p.AnomalyThreshold, BurstCount: p.BurstCount,
		BurstWindow: duration{ms: p.BurstWindow}, TrendWindow: duration{ms: p.TrendWindow}, TrendDelta: dec(p.TrendDelta),
		VolatileSwings: p.VolatileSwings,
	}
	for i, x := range d.Caps.list() {
		*x = dec(p.Caps[i])
	}
	for i, x := range d.Thresholds.list() {
		*x = dec(p.Thresholds[i])
	}
	for i, x := range d.TypeBase.list() {
		*x = dec(p.TypeBase[i])
	}
	for i, x := range d.Decision.Allow.list() {
		*x = dec(p.Decision.Allow[i])
	}
	for i, x := range d.Decision.StepUp.list() {
		*x = dec(p.Decision.StepUp[i])
	}
	for i, x := range d.Decision.SessionMax.list() {
		*x = duration{ms: p.Decision.SessionMax[i]}
	}
	for i, x := range d.Decision.IdleTimeout.list() {
		*x = duration{ms: p.Decision.IdleTimeout[i]}
	}
	d.Decision.Permissions = make([]permissionDoc, 0, len(p.Decision.Permissions))
	for _, r := range p.Decision.Permissions {
		d.Decision.Permissions = append(d.Decision.Permissions, permissionDoc{Name: r.Name, MinScore: dec(r.MinScore)})
	}
	d.Rules = make([]ruleDoc, 0, len(p.Rules))
	for _, r := range p.Rules {
		rd := ruleDoc{Key: r.Key, Op: r.Op, Points: dec(r.Points)}
		if int(r.Component) < fsm.NumComponents {
			rd.Component = fsm.Categories[r.Component]
		}
		switch r.Op {
		case "eq", "gte", "lte":
			rd.Value = json.RawMessage(r.Value)
		}
		d.Rules = append(d.Rules, rd)
	}
	return d
}

// policy converts the JSON form back, checking every value's syntax and
// range; fsm.Policy.Validate checks the policy as a whole afterwards.
func (d *policyDoc) policy(errs *fieldErrors) fsm.Policy {
	var p fsm.Policy
	pointsAt := func(field string, v decimal) int64 { return errs.points(field, v, true).V }
	signedPoints := func(field string, v decimal) int64 { return errs.scaled(field, v, true, -maxPoints, maxPoints).V }
	for i, x := range d.Caps.list() {
		p.Caps[i] = pointsAt("caps."+fsm.Categories[i], *x)
	}
	for i, x := range d.Thresholds.list() {
		p.Thresholds[i] = pointsAt("thresholds."+fsm.Levels[i+1], *x)
	}
	for i, x := range d.TypeBase.list() {
		p.TypeBase[i] = pointsAt("typeBase."+fsm.PrincipalTypes[i], *x)
	}
	p.DefaultMin = pointsAt("defaultMin", d.DefaultMin)
	p.DefaultMax = pointsAt("defaultMax", d.DefaultMax)
	p.DefaultDecayRate = pointsAt("defaultDecayRate", d.DefaultDecayRate)
	p.DefaultRecoveryRate = pointsAt("defaultRecoveryRate", d.DefaultRecoveryRate)
	p.DecayGrace = d.DecayGrace.value(errs, "decayGrace")
	p.RecoveryBurst = pointsAt("recoveryBurst", d.RecoveryBurst)
	p.EscalationWindow = d.EscalationWindow.value(errs, "escalationWindow")
	p.EscalationStep, p.EscalationMax = d.EscalationStep, d.EscalationMax
	p.DedupWindow = d.DedupWindow.value(errs, "dedupWindow")
	p.FutureSkew = d.FutureSkew.value(errs, "futureSkew")
	p.EndorseThreshold = pointsAt("endorseThreshold", d.EndorseThreshold)
	p.EndorseDefaultWeight = pointsAt("endorseDefaultWeight", d.EndorseDefaultWeight)
	p.EndorseMaxWeight = pointsAt("endorseMaxWeight", d.EndorseMaxWeight)
	p.EndorserBudget = pointsAt("endorserBudget", d.EndorserBudget)
	p.EndorseCap = pointsAt("endorseCap", d.EndorseCap)
	p.EndorseHops = d.EndorseHops
	p.FederationCap = pointsAt("federationCap", d.FederationCap)
	p.SignalWindow, p.HistoryWindow, p.AlertWindow, p.ModifierLimit = d.SignalWindow, d.HistoryWindow, d.AlertWindow, d.ModifierLimit
	p.SharpDrop = pointsAt("sharpDrop", d.SharpDrop)
	p.AnomalyThreshold, p.BurstCount = d.AnomalyThreshold, d.BurstCount
	p.BurstWindow = d.BurstWindow.value(errs, "burstWindow")
	p.TrendWindow = d.TrendWindow.value(errs, "trendWindow")
	p.TrendDelta = pointsAt("trendDelta", d.TrendDelta)
	p.VolatileSwings = d.VolatileSwings
	for i, x := range d.Decision.Allow.list() {
		p.Decision.Allow[i] = pointsAt("decision.allow."+fsm.Sensitivities[i], *x)
	}
	for i, x := range d.Decision.StepUp.list() {
		p.Decision.StepUp[i] = pointsAt("decision.stepUp."+fsm.Sensitivities[i], *x)
	}
	for i, x := range d.Decision.SessionMax.list() {
		p.Decision.SessionMax[i] = x.value(errs, "decision.sessionMax."+fsm.Levels[i])
	}
	for i, x := range d.Decision.IdleTimeout.list() {
		p.Decision.IdleTimeout[i] = x.value(errs, "decision.idleTimeout."+fsm.Levels[i])
	}
	for i, r := range d.Decision.Permissions {
		f := fmt.Sprintf("decision.permissions[%d].", i)
		p.Decision.Permissions = append(p.Decision.Permissions, fsm.PermissionRule{
			Name: errs.text(f+"name", r.Name, true, fsm.MaxIDLen), MinScore: pointsAt(f+"minScore", r.MinScore)})
	}
	for i, r := range d.Rules {
		f := fmt.Sprintf("rules[%d].", i)
		rule := fsm.FactorRule{Key: errs.text(f+"key", r.Key, true, fsm.MaxIDLen), Points: signedPoints(f+"points", r.Points),
			Op: errs.oneOf(f+"op", r.Op, true, []string{"eq", "gte", "lte", "has"})}
		rule.Component = errs.category(f+"component", r.Component, true)
		rule.Value = ruleValue(errs, f+"value", r.Op, r.Value)
		p.Rules = append(p.Rules, rule)
	}
	return p
}

// ruleValue converts a rule's JSON value to the ledger's text form.
func ruleValue(errs *fieldErrors, field, op string, v json.RawMessage) string {
	kind := jsonKind(v)
	switch op {
	case "eq":
		if kind == "nothing" || kind == "object" || kind == "array" {
			errs.invalid(field, "an eq rule needs a JSON string, number, boolean or null")
			return ""
		}
		var out bytes.Buffer
		if json.Compact(&out, v) != nil {
			errs.invalid(field, "is not valid JSON")
		}
		if out.Len() > fsm.MaxIDLen {
			errs.invalid(field, "must be at most %d bytes of JSON", fsm.MaxIDLen)
		}
		return out.String()
	case "gte", "lte":
		if kind != "number" {
			errs.invalid(field, "a %s rule needs a number", op)
			return ""
		}
		text := string(bytes.TrimSpace(v))
		if _, ok := fsm.ParseDecimal(text, 6); !ok {
			errs.invalid(field, "%s is not a number this API can represent", text)
		}
		return text
	case "has":
		if kind != "nothing" && kind != "null" {
			errs.invalid(field, "a has rule takes no value: its key is the risk indicator")
		}
	}
	return ""
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) {
	p := s.ledger().Policy()
	writeJSON(w, http.StatusOK, policyToDoc(&p))
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	cur := s.ledger().Policy()
	doc := policyToDoc(&cur)
	doc.Version, doc.ModelVersion = nil, nil
	doc.Decision.Permissions, doc.Rules = nil, nil
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := decodeStrict(body, doc, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	// Arrays left out keep the current ones.
	if doc.Decision.Permissions == nil || doc.Rules == nil {
		keep := policyToDoc(&cur)
		if doc.Decision.Permissions == nil {
			doc.Decision.Permissions = keep.Decision.Permissions
		}
		if doc.Rules == nil {
			doc.Rules = keep.Rules
		}
	}
	var errs fieldErrors
	if doc.ModelVersion != nil && *doc.ModelVersion != fsm.ModelVersion {
		errs.invalid("modelVersion", "this ledger runs scoring model %d", fsm.ModelVersion)
	}
	pol := doc.policy(&errs)
	if err := errs.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := pol.Validate(); err != nil {
		field, detail, _ := strings.Cut(err.Error(), ": ")
		s.fail(w, r, withCode(newProblem(ProblemInvalidField, field, "%s: %s", field, detail), "invalid"))
		return
	}
	if err := s.requireLeader(); err != nil {
		s.fail(w, r, err)
		return
	}
	if doc.Version != nil && *doc.Version != cur.Version {
		s.fail(w, r, withCode(newProblem(ProblemConflict, "version", "version: the policy is at version %d, not %d; "+
			"read it again and reapply your change", cur.Version, *doc.Version), "conflict"))
		return
	}
	if samePolicy(&pol, &cur) {
		// Nothing changes: an idempotent PUT writes nothing and answers
		// with the index the policy was already in effect at.
		writeJSON(w, http.StatusOK, map[string]any{"index": s.node.AppliedIndex(), "changed": false, "policy": policyToDoc(&cur)})
		return
	}
	res, err := s.propose(r, &fsm.SetPolicy{Policy: pol})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.ledger().Policy()
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "changed": true, "policy": policyToDoc(&now)})
}

// samePolicy reports whether two policies differ only in version.
func samePolicy(a, b *fsm.Policy) bool {
	x, y := *policyToDoc(a), *policyToDoc(b)
	x.Version, y.Version = nil, nil
	xa, err1 := json.Marshal(x)
	ya, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(xa, ya)
}
