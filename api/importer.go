package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/trustledger/trustledger/fsm"
)

// A PrincipalTrust record in the original format becomes an
// fsm.ImportRecord here. JSON-typed properties may be native JSON or a
// string holding JSON; numbers may be JSON numbers or strings holding
// one. Derived properties (trustLevel, trustTrend, nextAssessmentAt) and
// the extra fields this API adds to records are checked and otherwise
// ignored, so an exported record imports again.

// trustTrends are the trustTrend values.
var trustTrends = []string{"increasing", "stable", "decreasing", "volatile"}

// derivedExtras are extra record fields the ledger derives; an import
// accepts and ignores them.
var derivedExtras = []string{"confidence", "trustScoreExact", "explanation", "evaluatedAt", "ledgerIndex", "assessmentOverdue", "holds"}

// recordReader reads the properties of one imported record.
type recordReader struct {
	m      map[string]json.RawMessage
	prefix string
	errs   *fieldErrors
	used   map[string]bool
}

func (rr *recordReader) raw(key string) (json.RawMessage, bool) {
	rr.used[key] = true
	v, ok := rr.m[key]
	if !ok || jsonKind(v) == "null" {
		return nil, false
	}
	return v, true
}

func (rr *recordReader) field(key string) string { return rr.prefix + key }

func (rr *recordReader) str(key string, required bool) string {
	v, ok := rr.raw(key)
	if !ok {
		if required {
			rr.errs.required(rr.field(key))
		}
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		rr.errs.add(rr.field(key), "type", "must be a string, got %s", jsonKind(v))
		return ""
	}
	return s
}

// number reads a decimal (a JSON number or a string holding one) scaled to
// 6 decimals within [lo, hi].
func (rr *recordReader) number(key string, required bool, lo, hi int64) fsm.Opt {
	v, ok := rr.raw(key)
	if !ok {
		if required {
			rr.errs.required(rr.field(key))
		}
		return fsm.Opt{}
	}
	return parseNumber(rr.errs, rr.field(key), v, lo, hi)
}

func parseNumber(errs *fieldErrors, field string, v json.RawMessage, lo, hi int64) fsm.Opt {
	text := string(bytes.TrimSpace(v))
	switch jsonKind(v) {
	case "number":
	case "string":
		_ = json.Unmarshal(v, &text)
		text = strings.TrimPrefix(strings.TrimSpace(text), "+")
	default:
		errs.add(field, "type", "must be a number, got %s", jsonKind(v))
		return fsm.Opt{}
	}
	return errs.scaled(field, decimal{text: text}, true, lo, hi)
}

func (rr *recordReader) boolean(key string, def bool) bool {
	v, ok := rr.raw(key)
	if !ok {
		return def
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		var s string
		if json.Unmarshal(v, &s) == nil && (s == "true" || s == "false") {
			return s == "true"
		}
		rr.errs.add(rr.field(key), "type", "must be true or false, got %s", jsonKind(v))
		return def
	}
	return b
}

// doc reads a JSON-typed property: native JSON of the wanted kind or a
// string holding it. It returns the compact JSON (nil when absent).
func (rr *recordReader) doc(key string, kind byte) []byte {
	v, ok := rr.raw(key)
	if !ok {
		return nil
	}
	var d jsonDoc
	if err := d.UnmarshalJSON(v); err != nil {
		want := "a JSON object"
		if kind == '[' {
			want = "a JSON array"
		}
		rr.errs.add(rr.field(key), "type", "must be %s (or a string holding one), got %s", want, jsonKind(v))
		return nil
	}
	return d.bytesOf(rr.errs, rr.field(key), kind, fsm.MaxJSONFieldBytes)
}

func (rr *recordReader) time(key string, required bool) int64 {
	s := rr.str(key, required)
	return rr.errs.timestamp(rr.field(key), s, false)
}

// objects decodes a JSON array of objects (for signal and history lists).
func (rr *recordReader) objects(key string) []map[string]json.RawMessage {
	b := rr.doc(key, '[')
	if b == nil {
		return nil
	}
	var list []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		rr.errs.add(rr.field(key), "type", "must be an array of objects")
		return nil
	}
	return list
}

// importedRecord is a parsed import: the command and notes for the
// caller.
type importedRecord struct {
	cmd      *fsm.ImportRecord
	warnings []string
}

// parseImportRecord converts one record. pol is the current policy, for
// the early checks of bounds, components and level.
func parseImportRecord(raw json.RawMessage, prefix string, pol *fsm.Policy, now int64, errs *fieldErrors) *importedRecord {
	var m map[string]json.RawMessage
	if err := decodeStrict(raw, &m, prefix); err != nil {
		errs.merge(err)
		return nil
	}
	rr := &recordReader{m: m, prefix: prefix, errs: errs, used: map[string]bool{}}
	out := &importedRecord{cmd: &fsm.ImportRecord{}}
	c := out.cmd
	if t := rr.str("@type", false); t != "" && t != "PrincipalTrust" {
		errs.invalid(rr.field("@type"), "must be PrincipalTrust")
	}
	c.TrustID = rr.str("trustId", false)
	if c.TrustID != "" {
		errs.id(rr.field("trustId"), c.TrustID, false)
	}
	c.PrincipalID = errs.id(rr.field("principalId"), rr.str("principalId", true), false)
	c.PrincipalType = errs.oneOf(rr.field("principalType"), rr.str("principalType", true), false, fsm.PrincipalTypes)
	// Present but empty is as missing: the ledger would refuse the record
	// (and write a rejected entry) if it were proposed.
	for key, v := range map[string]string{"principalId": c.PrincipalID, "principalType": c.PrincipalType} {
		if _, present := rr.raw(key); present && v == "" {
			errs.required(rr.field(key))
		}
	}
	c.OrgID = errs.id(rr.field("orgId"), rr.str("orgId", false), false)
	score := rr.settings(c)
	out.warnings = append(out.warnings, rr.derived(score, pol)...)
	lo, hi := pol.PrincipalBounds(c.Min, c.Max)
	switch {
	case lo > hi:
		errs.invalid(rr.field("minTrustScore"), "must not exceed maxTrustScore")
	case score.Set && (score.V < lo || score.V > hi):
		errs.invalid(rr.field("trustScore"), "must lie within [minTrustScore, maxTrustScore] = [%s, %s]",
			fsm.FormatDecimal(lo, 6), fsm.FormatDecimal(hi, 6))
	}
	var adjusted bool
	c.Components, adjusted = rr.components(score, pol)
	if adjusted {
		c.Components = nil
		out.warnings = append(out.warnings, "scoreComponents has an adjustment or a negative component: the ledger apportions trustScore over the components")
	}
	out.warnings = append(out.warnings, rr.evidence(c, pol, now)...)
	rr.unknown()
	return out
}

// settings reads the score, bounds, rates and flags of a record into c and
// returns its trustScore.
func (rr *recordReader) settings(c *fsm.ImportRecord) fsm.Opt {
	score := rr.number("trustScore", true, 0, maxPoints)
	c.Score = score.V
	c.Base = rr.number("baseTrustScore", false, 0, maxPoints)
	c.Min = rr.number("minTrustScore", false, 0, maxPoints)
	c.Max = rr.number("maxTrustScore", false, 0, maxPoints)
	c.DecayRate = rr.number("trustDecayRate", false, 0, maxPoints)
	c.RecoveryRate = rr.number("trustRecoveryRate", false, 0, maxPoints)
	c.Frequency = rr.errs.oneOf(rr.field("assessmentFrequency"), rr.str("assessmentFrequency", false), false, frequencyNames())
	c.Inactive = !rr.boolean("isActive", true)
	c.RequiresReview = rr.boolean("requiresReview", false)
	c.LastAssessmentAt = rr.time("lastAssessmentAt", false)
	return score
}

// derived checks the properties the ledger derives (nextAssessmentAt,
// trustTrend, trustLevel) and warns when trustLevel is not the one the
// ledger derives from trustScore.
func (rr *recordReader) derived(score fsm.Opt, pol *fsm.Policy) []string {
	rr.time("nextAssessmentAt", false)
	rr.errs.oneOf(rr.field("trustTrend"), rr.str("trustTrend", false), false, trustTrends)
	lvl := rr.errs.oneOf(rr.field("trustLevel"), rr.str("trustLevel", false), false, fsm.Levels)
	if lvl == "" || !score.Set {
		return nil
	}
	if want := pol.Level(score.V); want != lvl {
		return []string{fmt.Sprintf("trustLevel %s does not match trustScore under the current policy; the ledger derives %s", lvl, want)}
	}
	return nil
}

// evidence reads the factor reports, signal lists, history, federated
// trust and metadata of a record into c, with warnings for the lists an
// import does not take.
func (rr *recordReader) evidence(c *fsm.ImportRecord, pol *fsm.Policy, now int64) []string {
	names := [fsm.NumComponents]string{"authenticationFactors", "behaviorMetrics", "complianceStatus", "riskIndicators", "context"}
	for i, n := range names {
		kind := byte('{')
		if i == 3 {
			kind = '['
		}
		c.Factors[i] = rr.doc(n, kind)
	}
	c.Positive = rr.signals("positiveSignals", 1)
	c.Negative = rr.signals("negativeSignals", -1)
	c.History = rr.history()
	c.FederatedTrust = rr.federated()
	c.Metadata = rr.doc("metadata", '{')
	var warnings []string
	c.Modifiers, warnings = rr.modifiers(pol, now)
	if b := rr.doc("endorsements", '['); len(b) > 2 {
		warnings = append(warnings, "endorsements not imported: the imported trustScore already reflects them")
	}
	if b := rr.doc("trustAlerts", '['); len(b) > 2 {
		warnings = append(warnings, "trustAlerts not imported, nor the holds they placed: the ledger raises its own detections "+
			"(requiresReview: true opens an imported_review detection); review the principal")
	}
	return warnings
}

// unknown reports the properties of the record nothing read.
func (rr *recordReader) unknown() {
	for _, key := range derivedExtras {
		rr.used[key] = true
	}
	for _, key := range sortedKeys(rr.m) {
		if !rr.used[key] {
			rr.errs.add(rr.field(key), "unknown", "unknown property; a PrincipalTrust record has the 29 properties of its schema")
			rr.errs.list[len(rr.errs.list)-1].kind = ProblemUnknownField
		}
	}
}

// modifiers reads trustModifiers (as this API writes them: id, delta,
// reason, createdAt, expiresAt): the ones still in force at now, which the
// imported score reflects; expired ones are left out with a warning.
func (rr *recordReader) modifiers(pol *fsm.Policy, now int64) ([]fsm.ImportedModifier, []string) {
	list := rr.objects("trustModifiers")
	if int64(len(list)) > pol.ModifierLimit {
		rr.errs.invalid(rr.field("trustModifiers"), "at most %d modifiers", pol.ModifierLimit)
		return nil, nil
	}
	var out []fsm.ImportedModifier
	var warnings []string
	for i, e := range list {
		f := fmt.Sprintf("%s[%d].", rr.field("trustModifiers"), i)
		for k := range e {
			if !slices.Contains([]string{"id", "delta", "reason", "createdAt", "expiresAt"}, k) {
				rr.errs.invalid(f+k, "unknown field; a modifier has id, delta, reason, createdAt and expiresAt")
			}
		}
		sub := &recordReader{m: e, prefix: f, errs: rr.errs, used: map[string]bool{}}
		m := fsm.ImportedModifier{Delta: sub.number("delta", true, -maxPoints, maxPoints).V, ExpiresAt: sub.time("expiresAt", true)}
		m.Reason = rr.errs.text(f+"reason", sub.str("reason", false), false, fsm.MaxTextLen)
		if m.Delta == 0 {
			rr.errs.invalid(f+"delta", "must be non-zero")
		}
		if m.ExpiresAt != 0 && m.ExpiresAt <= now {
			warnings = append(warnings, fmt.Sprintf("trustModifiers[%d] not imported: it expired at %s", i, fsm.FormatTime(m.ExpiresAt)))
			continue
		}
		out = append(out, m)
	}
	return out, warnings
}

// components reads scoreComponents: all five components or none, within
// their caps, adding up to trustScore — with the adjustment, when the
// record (one this API exported) has one; adjusted says it is not zero.
func (rr *recordReader) components(score fsm.Opt, pol *fsm.Policy) (_ []int64, adjusted bool) {
	b := rr.doc("scoreComponents", '{')
	if b == nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		rr.errs.invalid(rr.field("scoreComponents"), "must be an object of numbers")
		return nil, false
	}
	field := rr.field("scoreComponents")
	out := make([]int64, fsm.NumComponents)
	var sum int64
	ok := true
	// A breakdown this API wrote has an adjustment and components that
	// may be negative (each component's own evidence).
	var adjustment int64
	lo := int64(0)
	v, exported := m["adjustment"]
	if exported {
		adjustment = parseNumber(rr.errs, field+".adjustment", v, -10*maxPoints, 10*maxPoints).V
		delete(m, "adjustment")
		lo = -10 * maxPoints
	}
	for _, k := range sortedKeys(m) {
		if _, known := fsm.CategoryIndex(k); !known {
			rr.errs.invalid(field+"."+k, "unknown component; the components are %s", strings.Join(fsm.Categories[:], ", "))
			ok = false
		}
	}
	for i, name := range fsm.Categories {
		v, present := m[name]
		if !present {
			rr.errs.invalid(field+"."+name, "is missing; give all five components or none")
			ok = false
			continue
		}
		n := parseNumber(rr.errs, field+"."+name, v, lo, pol.Caps[i])
		if !n.Set {
			ok = false
		}
		adjusted = adjusted || n.V < 0
		out[i] = n.V
		sum += n.V
	}
	if ok && score.Set && sum+adjustment != score.V {
		rr.errs.invalid(field, "must add up to trustScore %s, adds up to %s", fsm.FormatDecimal(score.V, 6), fsm.FormatDecimal(sum+adjustment, 6))
	}
	return out, adjusted || adjustment != 0
}

// signals reads positiveSignals or negativeSignals. sign is the sign an
// impact without one takes (the original format writes "impact": 10 in
// positiveSignals and "impact": -5 in negativeSignals).
func (rr *recordReader) signals(key string, sign int64) []fsm.ImportedSignal {
	list := rr.objects(key)
	if len(list) > 1000 {
		rr.errs.invalid(rr.field(key), "at most 1000 signals")
		return nil
	}
	out := make([]fsm.ImportedSignal, 0, len(list))
	for i, e := range list {
		f := fmt.Sprintf("%s[%d].", rr.field(key), i)
		var s fsm.ImportedSignal
		for k := range e {
			if !slices.Contains([]string{"event", "timestamp", "impact", "category"}, k) {
				rr.errs.invalid(f+k, "unknown field; a signal has event, timestamp, impact and category")
			}
		}
		sub := &recordReader{m: e, prefix: f, errs: rr.errs, used: map[string]bool{}}
		s.Event = rr.errs.text(f+"event", sub.str("event", true), false, fsm.MaxEventNameLen)
		s.At = sub.time("timestamp", true)
		s.Impact = sub.number("impact", true, -maxPoints, maxPoints).V
		if sign < 0 && s.Impact > 0 {
			s.Impact = -s.Impact
		}
		cat := sub.str("category", false)
		if cat == "" {
			cat = inferCategory(s.Event)
		}
		s.Category = rr.errs.category(f+"category", cat, true)
		out = append(out, s)
	}
	return out
}

// categoryHints maps words in event names to the component a signal of
// the original format (which has no category) most likely concerns.
var categoryHints = []struct {
	category string
	words    []string
}{
	{"authentication", []string{"mfa", "login", "logon", "password", "auth", "credential", "passkey", "otp", "token", "sso", "certificate"}},
	{"compliance", []string{"training", "audit", "policy", "compliance", "compliant", "scan", "certification", "violation", "attestation"}},
	{"behavior", []string{"anomal", "behavio", "phishing", "exfil", "velocity", "usage", "access_pattern", "download"}},
	{"context", []string{"device", "location", "network", "vpn", "travel", "geo", "tor", "ip_"}},
}

// inferCategory guesses a signal's category from its event name; "history"
// (reliability over time) when nothing matches.
func inferCategory(event string) string {
	e := strings.ToLower(event)
	for _, h := range categoryHints {
		for _, w := range h.words {
			if strings.Contains(e, w) {
				return h.category
			}
		}
	}
	return "history"
}

// history reads trustHistory: [{timestamp, score}].
func (rr *recordReader) history() []fsm.ImportedPoint {
	list := rr.objects("trustHistory")
	if len(list) > 10000 {
		rr.errs.invalid(rr.field("trustHistory"), "at most 10000 points")
		return nil
	}
	out := make([]fsm.ImportedPoint, 0, len(list))
	for i, e := range list {
		f := fmt.Sprintf("%s[%d].", rr.field("trustHistory"), i)
		for k := range e {
			// cause, eventId, delta and components: what this API adds,
			// derived again by the ledger.
			if !slices.Contains([]string{"timestamp", "score", "cause", "eventId", "delta", "components"}, k) {
				rr.errs.invalid(f+k, "unknown field; a history point has timestamp and score (and, as this API writes it, cause, eventId, delta, components)")
			}
		}
		sub := &recordReader{m: e, prefix: f, errs: rr.errs, used: map[string]bool{}}
		out = append(out, fsm.ImportedPoint{At: sub.time("timestamp", true), Score: sub.number("score", true, 0, maxPoints).V})
	}
	return out
}

// federated reads federatedTrust: an object of source → score, where a
// score is a number or an object with a "score" (as this API writes it).
func (rr *recordReader) federated() []byte {
	b := rr.doc("federatedTrust", '{')
	if b == nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		rr.errs.invalid(rr.field("federatedTrust"), "must be an object")
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for _, k := range sortedKeys(m) {
		v, f := m[k], rr.field("federatedTrust")+"."+k
		if jsonKind(v) == "object" {
			var o map[string]json.RawMessage
			_ = json.Unmarshal(v, &o)
			v = o["score"]
		}
		n := parseNumber(rr.errs, f, v, 0, maxPoints)
		if n.Set {
			out[k] = json.RawMessage(fsm.FormatDecimal(n.V, 6))
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return data
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
