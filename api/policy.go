package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
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

func dur(ms int64) duration { return duration{ms: ms} }

// nameSet is a fixed list of names a policy value is given for, in the
// order of the fsm.Policy array that holds the values.
type nameSet interface{ names() []string }

type (
	componentNames   struct{} // authentication, behavior, compliance, history, context
	thresholdNames   struct{} // the levels above untrusted
	levelNames       struct{} // untrusted .. verified
	typeNames        struct{} // the principal types
	sensitivityNames struct{} // low .. critical
)

func (componentNames) names() []string   { return fsm.Categories[:] }
func (thresholdNames) names() []string   { return fsm.Levels[1:] }
func (levelNames) names() []string       { return fsm.Levels }
func (typeNames) names() []string        { return fsm.PrincipalTypes }
func (sensitivityNames) names() []string { return fsm.Sensitivities }

// byName holds one T for each name of N. Its JSON form is an object with
// one member a name, in N's order, read the way decodeStrict reads a
// struct with those fields: members match names exactly or else
// case-insensitively, a member left out keeps its value, null changes
// nothing, and a member that is no name is an unknown field (refused
// even by a decoder that lets unknown fields through elsewhere).
type byName[N nameSet, T any] struct {
	v []T
}

func (b *byName[N, T]) names() []string {
	var n N
	return n.names()
}

// values returns the values in N's order.
func (b *byName[N, T]) values() []T {
	if b.v == nil {
		b.v = make([]T, len(b.names()))
	}
	return b.v
}

// byNameOf converts the values of an fsm.Policy array into a byName.
func byNameOf[N nameSet, T any](src []int64, conv func(int64) T) byName[N, T] {
	var b byName[N, T]
	for i, x := range src {
		b.values()[i] = conv(x)
	}
	return b
}

// into converts the values into dst, an fsm.Policy array; conv gets each
// value's field name, prefix followed by its name.
func (b *byName[N, T]) into(dst []int64, prefix string, conv func(field string, v T) int64) {
	names := b.names()
	for i, x := range b.values() {
		dst[i] = conv(prefix+names[i], x)
	}
}

// MarshalJSON writes the object, its members in N's order.
func (b byName[N, T]) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	names := b.names()
	for i, x := range b.values() {
		v, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendQuote(out, names[i])
		out = append(append(out, ':'), v...)
	}
	return append(out, '}'), nil
}

// UnmarshalJSON reads the object into the values it names. As in a
// struct, a member of the wrong type is an error naming it, and an
// unknown member is reported once the others are read.
func (b *byName[N, T]) UnmarshalJSON(data []byte) error {
	switch k := jsonKind(data); k {
	case "null":
		return nil
	case "object":
	default:
		return &json.UnmarshalTypeError{Value: k, Type: reflect.TypeOf(b).Elem()}
	}
	rd := json.NewDecoder(bytes.NewReader(data))
	if _, err := rd.Token(); err != nil {
		return err
	}
	var unknown error
	for rd.More() {
		tok, err := rd.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := rd.Decode(&raw); err != nil {
			return err
		}
		i := b.index(key)
		if i < 0 {
			if unknown == nil {
				unknown = fmt.Errorf("json: unknown field %q", key)
			}
			continue
		}
		if err := json.Unmarshal(raw, &b.values()[i]); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				te.Field = strings.TrimSuffix(b.names()[i]+"."+te.Field, ".")
			}
			return err
		}
	}
	return unknown
}

// index is the position of the name key matches, exactly or else
// case-insensitively (as encoding/json matches field names); -1 if none.
func (b *byName[N, T]) index(key string) int {
	names := b.names()
	for i, n := range names {
		if n == key {
			return i
		}
	}
	for i, n := range names {
		if strings.EqualFold(n, key) {
			return i
		}
	}
	return -1
}

// permissionDoc activates a permission at a minimum score.
type permissionDoc struct {
	Name     string  `json:"name"`
	MinScore decimal `json:"minScore"`
}

// decisionDoc holds the decision thresholds (docs/scoring.md, "16.
// Decisions").
type decisionDoc struct {
	Allow       byName[sensitivityNames, decimal] `json:"allow"`
	StepUp      byName[sensitivityNames, decimal] `json:"stepUp"`
	SessionMax  byName[levelNames, duration]      `json:"sessionMax"`
	IdleTimeout byName[levelNames, duration]      `json:"idleTimeout"`
	Permissions []permissionDoc                   `json:"permissions"`
	// Actions and ContextRules: policy_context.go.
	Actions      map[string]actionDoc `json:"actions"`
	ContextRules []contextRuleDoc     `json:"contextRules"`
	Routes       []routeDoc           `json:"routes"`
	// UserTokenPartners: the partners whose user JWTs GET /v1/authz takes.
	UserTokenPartners []string `json:"userTokenPartners"`
	// Hold is the decision while a detection holds the principal.
	Hold string `json:"hold"`
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
	Version              *int64                          `json:"version,omitempty"`
	ModelVersion         *int                            `json:"modelVersion,omitempty"`
	Caps                 byName[componentNames, decimal] `json:"caps"`
	Thresholds           byName[thresholdNames, decimal] `json:"thresholds"`
	TypeBase             byName[typeNames, decimal]      `json:"typeBase"`
	DefaultMin           decimal                         `json:"defaultMin"`
	DefaultMax           decimal                         `json:"defaultMax"`
	DefaultDecayRate     decimal                         `json:"defaultDecayRate"`
	DefaultRecoveryRate  decimal                         `json:"defaultRecoveryRate"`
	DecayGrace           duration                        `json:"decayGrace"`
	RecoveryBurst        decimal                         `json:"recoveryBurst"`
	EscalationWindow     duration                        `json:"escalationWindow"`
	EscalationStep       int64                           `json:"escalationStep"`
	EscalationMax        int64                           `json:"escalationMax"`
	DedupWindow          duration                        `json:"dedupWindow"`
	FutureSkew           duration                        `json:"futureSkew"`
	EndorseThreshold     decimal                         `json:"endorseThreshold"`
	EndorseDefaultWeight decimal                         `json:"endorseDefaultWeight"`
	EndorseMaxWeight     decimal                         `json:"endorseMaxWeight"`
	EndorserBudget       decimal                         `json:"endorserBudget"`
	EndorseCap           decimal                         `json:"endorseCap"`
	EndorseHops          int64                           `json:"endorseHops"`
	FederationCap        decimal                         `json:"federationCap"`
	SignalWindow         int64                           `json:"signalWindow"`
	HistoryWindow        int64                           `json:"historyWindow"`
	AlertWindow          int64                           `json:"alertWindow"`
	ModifierLimit        int64                           `json:"modifierLimit"`
	SharpDrop            decimal                         `json:"sharpDrop"`
	AnomalyThreshold     int64                           `json:"anomalyThreshold"`
	BurstCount           int64                           `json:"burstCount"`
	BurstWindow          duration                        `json:"burstWindow"`
	TrendWindow          duration                        `json:"trendWindow"`
	TrendDelta           decimal                         `json:"trendDelta"`
	VolatileSwings       int64                           `json:"volatileSwings"`
	Decision             decisionDoc                     `json:"decision"`
	Rules                []ruleDoc                       `json:"rules"`
	CumulativeDrop       decimal                         `json:"cumulativeDrop"`
	CumulativeWindow     duration                        `json:"cumulativeWindow"`
	BaselineDeviation    decimal                         `json:"baselineDeviation"`
	BaselineMinEvents    int64                           `json:"baselineMinEvents"`
	BaselineSmoothing    int64                           `json:"baselineSmoothing"`
	PrivilegeEvents      []string                        `json:"privilegeEvents"`
	PrivilegeBurst       int64                           `json:"privilegeBurst"`
	PrivilegeWindow      duration                        `json:"privilegeWindow"`
	HoldTypes            []string                        `json:"holdTypes"`
	Remediations         []remediationDoc                `json:"remediations"`
	ProducerExpiry       duration                        `json:"producerExpiry"`
	MaxProducers         int64                           `json:"maxProducers"`
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
	d.setDetections(p)
	d.Caps = byNameOf[componentNames](p.Caps[:], dec)
	d.Thresholds = byNameOf[thresholdNames](p.Thresholds[:], dec)
	d.TypeBase = byNameOf[typeNames](p.TypeBase[:], dec)
	d.Decision.Allow = byNameOf[sensitivityNames](p.Decision.Allow[:], dec)
	d.Decision.StepUp = byNameOf[sensitivityNames](p.Decision.StepUp[:], dec)
	d.Decision.SessionMax = byNameOf[levelNames](p.Decision.SessionMax[:], dur)
	d.Decision.IdleTimeout = byNameOf[levelNames](p.Decision.IdleTimeout[:], dur)
	d.Decision.Permissions = make([]permissionDoc, 0, len(p.Decision.Permissions))
	for _, r := range p.Decision.Permissions {
		d.Decision.Permissions = append(d.Decision.Permissions, permissionDoc{Name: r.Name, MinScore: dec(r.MinScore)})
	}
	d.Decision.Actions = actionsToDoc(p.Decision.Actions)
	d.Decision.ContextRules = contextRulesToDoc(p.Decision.ContextRules)
	d.Decision.Routes = routesToDoc(p.Decision.Routes)
	d.Decision.UserTokenPartners = append([]string{}, p.Decision.UserTokenPartners...)
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
	d.Caps.into(p.Caps[:], "caps.", pointsAt)
	d.Thresholds.into(p.Thresholds[:], "thresholds.", pointsAt)
	d.TypeBase.into(p.TypeBase[:], "typeBase.", pointsAt)
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
	d.detections(&p, errs)
	d.Decision.Allow.into(p.Decision.Allow[:], "decision.allow.", pointsAt)
	d.Decision.StepUp.into(p.Decision.StepUp[:], "decision.stepUp.", pointsAt)
	durationAt := func(field string, v duration) int64 { return v.value(errs, field) }
	d.Decision.SessionMax.into(p.Decision.SessionMax[:], "decision.sessionMax.", durationAt)
	d.Decision.IdleTimeout.into(p.Decision.IdleTimeout[:], "decision.idleTimeout.", durationAt)
	for i, r := range d.Decision.Permissions {
		f := fmt.Sprintf("decision.permissions[%d].", i)
		p.Decision.Permissions = append(p.Decision.Permissions, fsm.PermissionRule{
			Name: errs.text(f+"name", r.Name, true, fsm.MaxIDLen), MinScore: pointsAt(f+"minScore", r.MinScore)})
	}
	p.Decision.Actions = actionsFromDoc(errs, d.Decision.Actions)
	p.Decision.ContextRules = contextRulesFromDoc(errs, d.Decision.ContextRules)
	p.Decision.Routes = routesFromDoc(d.Decision.Routes)
	if len(d.Decision.UserTokenPartners) > 0 {
		p.Decision.UserTokenPartners = append([]string(nil), d.Decision.UserTokenPartners...)
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

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p := s.ledger().Policy()
	writeJSON(w, http.StatusOK, policyToDoc(&p))
	return nil
}

// proposedPolicy is the policy a PUT /v1/policy body makes of cur: the
// values given replace cur's, arrays and maps left out keep cur's; checked
// field by field, then by fsm.Policy.Validate. version is the body's.
func proposedPolicy(cur *fsm.Policy, body []byte, prefix string) (fsm.Policy, *int64, error) {
	doc := policyToDoc(cur)
	doc.Version, doc.ModelVersion = nil, nil
	doc.Decision.Permissions, doc.Rules = nil, nil
	doc.Decision.Actions, doc.Decision.ContextRules, doc.Decision.Routes, doc.Decision.UserTokenPartners = nil, nil, nil, nil
	doc.PrivilegeEvents, doc.HoldTypes, doc.Remediations = nil, nil, nil
	if err := decodeStrict(body, doc, prefix); err != nil {
		return fsm.Policy{}, nil, err
	}
	keep := policyToDoc(cur)
	if doc.PrivilegeEvents == nil {
		doc.PrivilegeEvents = keep.PrivilegeEvents
	}
	if doc.HoldTypes == nil {
		doc.HoldTypes = keep.HoldTypes
	}
	if doc.Remediations == nil {
		doc.Remediations = keep.Remediations
	}
	if doc.Decision.Permissions == nil {
		doc.Decision.Permissions = keep.Decision.Permissions
	}
	if doc.Decision.Actions == nil {
		doc.Decision.Actions = keep.Decision.Actions
	}
	if doc.Decision.ContextRules == nil {
		doc.Decision.ContextRules = keep.Decision.ContextRules
	}
	if doc.Decision.Routes == nil {
		doc.Decision.Routes = keep.Decision.Routes
	}
	if doc.Decision.UserTokenPartners == nil {
		doc.Decision.UserTokenPartners = keep.Decision.UserTokenPartners
	}
	if doc.Rules == nil {
		doc.Rules = keep.Rules
	}
	var errs fieldErrors
	if doc.ModelVersion != nil && *doc.ModelVersion != fsm.ModelVersion {
		errs.invalid(prefix+"modelVersion", "this ledger runs scoring model %d", fsm.ModelVersion)
	}
	pol := doc.policy(&errs)
	if err := errs.err(); err != nil {
		return fsm.Policy{}, nil, prefixFields(err, prefix)
	}
	if err := pol.Validate(); err != nil {
		field, detail, _ := strings.Cut(err.Error(), ": ")
		return fsm.Policy{}, nil, withCode(newProblem(ProblemInvalidField, prefix+field, "%s%s: %s", prefix, field, detail), "invalid")
	}
	pol.Version = cur.Version
	return pol, doc.Version, nil
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	cur := s.ledger().Policy()
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	pol, version, err := proposedPolicy(&cur, body, "")
	if err != nil {
		return err
	}
	if err := s.requireLeader(); err != nil {
		return err
	}
	if version != nil && *version != cur.Version {
		return withCode(newProblem(ProblemConflict, "version", "version: the policy is at version %d, not %d; "+
			"read it again and reapply your change", cur.Version, *version), "conflict")
	}
	if samePolicy(&pol, &cur) {
		// Nothing changes: an idempotent PUT writes nothing and answers
		// with the index the policy was already in effect at.
		writeJSON(w, http.StatusOK, map[string]any{"index": s.node.AppliedIndex(), "changed": false, "policy": policyToDoc(&cur)})
		return nil
	}
	res, err := s.propose(r, &fsm.SetPolicy{Policy: pol})
	if err != nil {
		return err
	}
	now := s.ledger().Policy()
	writeJSON(w, http.StatusOK, map[string]any{"index": res.Index, "changed": true, "policy": policyToDoc(&now)})
	return nil
}

// prefixFields names the fields of a problem as parts of the input at
// prefix (a policy inside a larger body).
func prefixFields(err error, prefix string) error {
	var p *Problem
	if prefix == "" || !errors.As(err, &p) {
		return err
	}
	q := *p
	if q.Field != "" {
		q.Detail = strings.Replace(q.Detail, q.Field, prefix+q.Field, 1)
		q.Field = prefix + q.Field
	}
	q.Errors = append([]FieldError(nil), p.Errors...)
	for i := range q.Errors {
		q.Errors[i].Field = prefix + q.Errors[i].Field
	}
	return &q
}

// samePolicy reports whether two policies differ only in version.
func samePolicy(a, b *fsm.Policy) bool {
	x, y := *policyToDoc(a), *policyToDoc(b)
	x.Version, y.Version = nil, nil
	xa, err1 := json.Marshal(x)
	ya, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && bytes.Equal(xa, ya)
}
