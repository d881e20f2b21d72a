package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// randomContext is a request context such as gateways send.
func randomContext(rng *rand.Rand) Context {
	c := Context{}
	if rng.IntN(3) > 0 {
		c["device.compliant"] = []string{"true", "false"}[rng.IntN(2)]
	}
	if rng.IntN(2) == 0 {
		c["network.ip"] = []string{`"10.1.2.3"`, `"192.0.2.7"`, `"2001:db8::1"`, `"not an ip"`}[rng.IntN(4)]
	}
	if rng.IntN(2) == 0 {
		c["geo.country"] = []string{`"DE"`, `"US"`, `"KP"`}[rng.IntN(3)]
	}
	if rng.IntN(2) == 0 {
		c["device.posture"] = []string{"10", "55", "90.5"}[rng.IntN(3)]
	}
	return c
}

// randomRule is a context rule over the fields randomContext and records
// give, with random effects.
func randomRule(rng *rand.Rand, i int, perms []string) ContextRule {
	conds := []Condition{
		{Field: "context.device.compliant", Op: "eq", Values: []string{"false"}},
		{Field: "context.network.ip", Op: "notCidr", Values: []string{"10.0.0.0/8"}},
		{Field: "context.network.ip", Op: "cidr", Values: []string{"192.0.2.0/24", "2001:db8::/32"}},
		{Field: "context.geo.country", Op: "in", Values: []string{`"KP"`, `"IR"`}},
		{Field: "context.device.posture", Op: "lte", Values: []string{"50"}},
		{Field: "context.device.posture", Op: "absent"},
		{Field: "principal.trustScore", Op: "between", Values: []string{"40", "80"}},
		{Field: "principal.openAlerts", Op: "gte", Values: []string{"1"}},
		{Field: "time.hour", Op: "between", Values: []string{"22", "6"}},
		{Field: "principal.trustLevel", Op: "ne", Values: []string{`"verified"`}},
	}
	r := ContextRule{Name: "r" + string(rune('a'+i)), Code: "rule_" + string(rune('a'+i))}
	for n := 1 + rng.IntN(2); n > 0; n-- {
		r.When = append(r.When, conds[rng.IntN(len(conds))])
	}
	r.Decision = uint8(rng.IntN(3))
	r.RequiredAAL = uint8(rng.IntN(4))
	r.Audit = uint8(rng.IntN(3))
	if rng.IntN(2) == 0 {
		r.SessionMax = rng.Int64N(8*hourMS) + 60_000
	}
	if rng.IntN(2) == 0 {
		r.IdleTimeout = rng.Int64N(hourMS) + 60_000
	}
	if rng.IntN(2) == 0 {
		r.RemovePermissions = []string{perms[rng.IntN(len(perms))]}
	}
	if r.Decision == 0 && r.RequiredAAL == 0 && r.Audit == 0 && r.SessionMax == 0 && r.IdleTimeout == 0 && r.RemovePermissions == nil {
		r.Decision = 1
	}
	return r
}

func randomDecisionPolicy(t *testing.T, rng *rand.Rand, base Policy) Policy {
	p := clonePolicy(base)
	var perms []string
	for _, r := range p.Decision.Permissions {
		perms = append(perms, r.Name)
	}
	p.Decision.ContextRules = nil
	for i := rng.IntN(5); i > 0; i-- {
		p.Decision.ContextRules = append(p.Decision.ContextRules, randomRule(rng, i, perms))
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("random policy: %v", err)
	}
	return p
}

func randomRequest(rng *rand.Rand, p *Policy, id string) DecisionRequest {
	req := DecisionRequest{PrincipalID: id, Context: randomContext(rng)}
	if rng.IntN(4) == 0 {
		req.Action, req.Sensitivity = "custom", Sensitivities[rng.IntN(4)]
	} else {
		req.Action = p.Decision.Actions[rng.IntN(len(p.Decision.Actions))].Name
		if rng.IntN(3) == 0 {
			req.Sensitivity = Sensitivities[rng.IntN(4)]
		}
	}
	return req
}

// stricter reports how b is looser than a, if it is ("" when b is at
// least as strict in every respect).
func looserIn(a, b Decision) string {
	aal := func(s string) string { return s }
	switch {
	case decisionRank[b.Decision] < decisionRank[a.Decision]:
		return "decision"
	case aal(b.RequiredAuthentication) < aal(a.RequiredAuthentication):
		return "assurance"
	case b.SessionMaxDuration > a.SessionMaxDuration:
		return "session"
	case b.IdleTimeout > a.IdleTimeout:
		return "idle timeout"
	case slices.Index(auditIntensities, b.AuditIntensity) < slices.Index(auditIntensities, a.AuditIntensity):
		return "audit"
	}
	for _, p := range b.ActivatedPermissions {
		if !slices.Contains(a.ActivatedPermissions, p) {
			return "permission " + p
		}
	}
	return ""
}

// Decision invariants over random ledgers, policies and requests: an
// action whose required permission is not activated is denied; context
// rules never make a decision looser in any respect (decision, assurance,
// session, idle timeout, audit, permissions); and the same (record,
// policy, request) gives the same decision.
func TestPropertyDecisions(t *testing.T) {
	forSomeSequences(t, 250, func(t *testing.T, w *world) {
		for i := 0; i < 20; i++ {
			w.step()
		}
		for i := 0; i < 20; i++ {
			id := w.principal()
			at := w.now + w.rng.Int64N(3*24*hourMS)
			pol := randomDecisionPolicy(t, w.rng, w.l.Policy())
			req := randomRequest(w.rng, &pol, id)
			w.l.mu.RLock()
			r := w.l.record(w.l.principals.get(id), at)
			w.l.mu.RUnlock()
			bare := clonePolicy(pol)
			bare.Decision.ContextRules = nil
			if _, _, err := pol.Decision.ResolveAction(req.Action, req.Sensitivity); err != nil {
				t.Fatalf("request %+v: %v", req, err)
			}
			with, without := DecidePolicy(r, &pol, req, at), DecidePolicy(r, &bare, req, at)
			if how := looserIn(without, with); how != "" {
				t.Fatalf("context rules loosened the %s: without %+v, with %+v (rules %+v)", how, without, with, pol.Decision.ContextRules)
			}
			for _, d := range []Decision{with, without} {
				if d.RequiredPermission != "" && !slices.Contains(d.ActivatedPermissions, d.RequiredPermission) && d.Decision != DecisionDeny {
					t.Fatalf("action %s needs %s, not activated %v, yet %s", d.Action, d.RequiredPermission, d.ActivatedPermissions, d.Decision)
				}
				if d.IdleTimeout > d.SessionMaxDuration || d.SessionMaxDuration <= 0 {
					t.Fatalf("session %d s, idle %d s", d.SessionMaxDuration, d.IdleTimeout)
				}
			}
			again := DecidePolicy(r, &pol, req, at)
			a, _ := json.Marshal(with)
			b, _ := json.Marshal(again)
			if !bytes.Equal(a, b) {
				t.Fatalf("the same inputs decided twice differently:\n%s\n%s", a, b)
			}
		}
	})
}

// The default policy: deploy needs production_change (85), so a principal
// below it is denied with missing_permission whatever the sensitivity
// given; a non-compliant device steps an allowed request up with
// device_untrusted; reason codes are stable.
func TestDecisionActionMapAndDeviceRule(t *testing.T) {
	l := NewLedger()
	w := &world{t: t, l: l, rng: rand.New(rand.NewPCG(1, 2)), now: t0}
	w.apply(&RegisterPrincipal{PrincipalID: "svc", PrincipalType: "service"})
	d, err := l.Decide(DecisionRequest{PrincipalID: "svc", Action: "deploy", Sensitivity: "high"}, w.now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Decision != DecisionDeny || d.Sensitivity != "critical" || d.RequiredPermission != "production_change" || !hasCode(d.Reasons, "missing_permission") {
		t.Fatalf("deploy at %d: %+v", d.TrustScore, d)
	}
	d, _ = l.Decide(DecisionRequest{PrincipalID: "svc", Action: "read"}, w.now)
	if d.Decision != DecisionAllow || d.Sensitivity != "low" || !hasCode(d.Reasons, "meets_threshold") {
		t.Fatalf("read: %+v", d)
	}
	ctx, err := ParseContext([]byte(`{"device":{"compliant":false,"id":"d1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := l.Decide(DecisionRequest{PrincipalID: "svc", Action: "read", Context: ctx}, w.now)
	if d2.Decision != DecisionStepUp || !hasCode(d2.Reasons, "device_untrusted") || d2.RequiredAuthentication < "aal2" ||
		d2.WhatWouldChange[0].Code != "authenticate" || d2.AuditIntensity == "standard" {
		t.Fatalf("non-compliant device: %+v", d2)
	}
	if _, err := l.Decide(DecisionRequest{PrincipalID: "svc", Action: "custom"}, w.now); err == nil || !strings.Contains(err.Error(), "does not map") {
		t.Fatalf("unmapped action without sensitivity: %v", err)
	}
	if d, _ := l.Decide(DecisionRequest{PrincipalID: "ghost", Action: "read"}, w.now); d.Decision != DecisionDeny || d.Reasons[0].Code != "unknown_principal" {
		t.Fatalf("unknown principal: %+v", d)
	}
}

func hasCode(rs []Reason, code string) bool {
	for _, r := range rs {
		if r.Code == code {
			return true
		}
	}
	return false
}

func TestConditions(t *testing.T) {
	ctx, err := ParseContext([]byte(`{"net":{"ip":"10.2.3.4","v6":"2001:db8::5"},"geo":"KP","n":12.50,"ok":true,"s":"a<b","tags":["x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Record{TrustScore: 60, TrustLevel: "medium", TrustAlerts: []AlertView{{Status: "open"}, {Status: "dismissed"}}}
	in := &decisionInputs{ctx: ctx, r: r, t: 1_700_000_000_000 + 23*hourMS} // 2023-11-15T22:13:20Z... a Wednesday
	for _, tc := range []struct {
		c    Condition
		want bool
	}{
		{Condition{"context.net.ip", "cidr", []string{"10.0.0.0/8"}}, true},
		{Condition{"context.net.ip", "notCidr", []string{"10.0.0.0/8"}}, false},
		{Condition{"context.net.v6", "cidr", []string{"2001:db8::/32"}}, true},
		{Condition{"context.geo", "in", []string{`"IR"`, `"KP"`}}, true},
		{Condition{"context.geo", "notIn", []string{`"IR"`, `"KP"`}}, false},
		{Condition{"context.n", "eq", []string{"12.5"}}, true},
		{Condition{"context.n", "between", []string{"10", "13"}}, true},
		{Condition{"context.ok", "eq", []string{"true"}}, true},
		{Condition{"context.s", "eq", []string{`"a\u003cb"`}}, true},
		{Condition{"context.tags", "present", nil}, true},
		{Condition{"context.missing", "ne", []string{"1"}}, false},
		{Condition{"context.missing", "notCidr", []string{"10.0.0.0/8"}}, false},
		{Condition{"context.missing", "absent", nil}, true},
		{Condition{"context.geo", "present", nil}, true},
		{Condition{"principal.openAlerts", "gte", []string{"1"}}, true},
		{Condition{"principal.trustLevel", "eq", []string{`"medium"`}}, true},
		{Condition{"time.hour", "between", []string{"21", "6"}}, true},
		{Condition{"time.hour", "between", []string{"1", "6"}}, false},
		{Condition{"time.weekday", "eq", []string{"3"}}, true},
	} {
		if err := tc.c.validate("c"); err != nil {
			t.Fatalf("%+v: %v", tc.c, err)
		}
		if got := tc.c.holds(in); got != tc.want {
			t.Errorf("%+v holds = %v, want %v", tc.c, got, tc.want)
		}
	}
	for _, bad := range []Condition{
		{"context.", "eq", []string{"1"}}, {"principal.secret", "eq", []string{"1"}}, {"context.a", "like", []string{"1"}},
		{"context.a", "cidr", []string{"10.0.0.0"}}, {"context.a", "gte", []string{"ten"}}, {"context.a", "between", []string{"1"}},
		{"context.a", "eq", []string{"{}"}}, {"context.a", "absent", []string{"1"}},
	} {
		if bad.validate("c") == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	for _, doc := range []string{`[1]`, `"x"`, `{"a":`, strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10)} {
		if _, err := ParseContext([]byte(doc)); err == nil {
			t.Errorf("context %s parsed", doc)
		}
	}
	many := map[string]int{}
	for i := 0; i <= MaxContextFields; i++ {
		many["k"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = i
	}
	b, _ := json.Marshal(many)
	if _, err := ParseContext(b); err == nil {
		t.Error("a context with too many fields parsed")
	}
}

// A DecisionPolicy from before the action map and context rules (five
// fields, as SetPolicy entries and snapshots of then hold it) decodes with
// both empty.
func TestDecisionPolicyDecodesOldFormat(t *testing.T) {
	type v1 struct {
		Allow, StepUp           [4]int64
		SessionMax, IdleTimeout [5]int64
		Permissions             []PermissionRule
	}
	old := DefaultPolicy().Decision
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(v1{old.Allow, old.StepUp, old.SessionMax, old.IdleTimeout, old.Permissions}); err != nil {
		t.Fatal(err)
	}
	var got DecisionPolicy
	if err := msgpack.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Allow != old.Allow || len(got.Permissions) != len(old.Permissions) || got.Actions != nil || got.ContextRules != nil {
		t.Fatalf("decoded %+v", got)
	}
	buf.Reset()
	if err := enc.Encode(old); err != nil {
		t.Fatal(err)
	}
	var now DecisionPolicy
	if err := msgpack.Unmarshal(buf.Bytes(), &now); err != nil || len(now.Actions) != len(old.Actions) || len(now.ContextRules) != 1 ||
		now.ContextRules[0].When[0].Values[0] != "false" {
		t.Fatalf("round trip: %+v, %v", now, err)
	}
}

// TestGoldenDecisions pins the decisions of the golden ledger's principals
// for a fixed set of requests under a policy with context rules. CI also
// runs it for arm64 under qemu: the same bytes there.
func TestGoldenDecisions(t *testing.T) {
	log := readGolden(t)
	l := NewLedger()
	for i, e := range log {
		l.Apply(uint64(i+1), e)
	}
	pol := l.Policy()
	// The golden ledger's policy was set before the action map existed:
	// give it the default map, so that permissions are decided too.
	pol.Decision.Actions = defaultActions()
	pol.Decision.ContextRules = append(pol.Decision.ContextRules,
		ContextRule{Name: "outside-corp", Code: "network_zone", When: []Condition{{Field: "context.network.ip", Op: "notCidr", Values: []string{"10.0.0.0/8"}}},
			SessionMax: hourMS, Audit: 1},
		ContextRule{Name: "embargo", Code: "geography", When: []Condition{{Field: "context.geo.country", Op: "in", Values: []string{`"KP"`}}}, Decision: 2},
		ContextRule{Name: "night", Code: "time_of_day", When: []Condition{{Field: "time.hour", Op: "between", Values: []string{"22", "6"}}},
			RequiredAAL: 3, RemovePermissions: []string{"admin"}})
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	contexts := []string{`{}`, `{"device":{"compliant":false}}`, `{"network":{"ip":"10.9.8.7"}}`, `{"network":{"ip":"203.0.113.9"},"geo":{"country":"KP"}}`}
	h := sha256.New()
	n, held := 0, 0
	l.mu.RLock()
	ids := l.principals.ids()
	slices.Sort(ids)
	for _, id := range ids {
		r := l.record(l.principals.get(id), goldenAt)
		for _, a := range []string{"read", "write", "deploy", "admin"} {
			for i, c := range contexts {
				ctx, err := ParseContext([]byte(c))
				if err != nil {
					t.Fatal(err)
				}
				at := goldenAt + int64(i)*7*hourMS
				dec := DecidePolicy(r, &pol, DecisionRequest{PrincipalID: id, Action: a, Context: ctx}, at)
				for _, why := range dec.Reasons {
					if why.Code == "remediation_required" {
						held++
					}
				}
				b, _ := json.Marshal(dec)
				h.Write(b)
				h.Write([]byte{'\n'})
				n++
			}
		}
	}
	l.mu.RUnlock()
	got := hex.EncodeToString(h.Sum(nil))
	if held == 0 {
		t.Fatal("no golden decision is held by a detection")
	}
	t.Logf("%d decisions, %d held by detections", n, held)
	const want = "f962972c56768a0faed074a6ce037dc5782c10ef8a233e83b6f48556eebef858"
	if got != want {
		t.Fatalf("golden decisions (%d) hash to %s, want %s: decisions changed — check why, then re-pin", n, got, want)
	}
}

// A snapshot taken at policy version 0 restores this binary's built-in
// default policy, as replaying the ledger from its first entry gives,
// whatever default the snapshot holds (an older binary's).
func TestRestoreVersionZeroPolicyIsTheDefault(t *testing.T) {
	l := NewLedger()
	l.policy.Decision.Actions, l.policy.Decision.ContextRules = nil, nil // as an older binary's default
	var buf bytes.Buffer
	if _, err := l.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	n := NewLedger()
	if err := n.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if p := n.Policy(); p.Version != 0 || len(p.Decision.Actions) == 0 || len(p.Decision.ContextRules) == 0 {
		t.Fatalf("restored version-0 policy: %d actions, %d context rules", len(p.Decision.Actions), len(p.Decision.ContextRules))
	}
}

// A dotted key and a nested object naming the same field are refused, not
// decided one way or the other by map order; a factor document that cannot
// be read makes conditions on it hold (rules only tighten).
func TestContextCollisionsAndUnreadableFactors(t *testing.T) {
	if _, err := ParseContext([]byte(`{"device":{"compliant":false},"device.compliant":true}`)); err == nil {
		t.Fatal("a field given twice was accepted")
	}
	if c, err := ParseContext([]byte(`{"os.version":"14","device":{"id":"x<y"}}`)); err != nil || c["os.version"] != `"14"` || c["device.id"] != `"x<y"` {
		t.Fatalf("dotted keys: %v %v", c, err)
	}
	big := map[string]int{}
	for i := 0; i <= MaxContextFields; i++ {
		big["k"+strconv.Itoa(i)] = i
	}
	doc, _ := json.Marshal(big)
	r := &Record{TrustScore: 90, TrustLevel: "verified", ComplianceStatus: doc}
	in := &decisionInputs{r: r}
	c := Condition{Field: "principal.complianceStatus.disk_encrypted", Op: "eq", Values: []string{"false"}}
	if !c.holds(in) {
		t.Fatal("a condition on an unreadable factor document did not hold")
	}
}

// The rules' conditions may hold at most MaxConditionValuesTotal values
// together: the cost of every decision is bounded.
func TestContextRulesValueBudget(t *testing.T) {
	p := DefaultPolicy()
	vals := make([]string, MaxConditionValues)
	for i := range vals {
		vals[i] = strconv.Quote("v" + strconv.Itoa(i))
	}
	for i := 0; i*MaxConditionValues <= MaxConditionValuesTotal; i++ {
		p.Decision.ContextRules = append(p.Decision.ContextRules, ContextRule{Name: "r" + strconv.Itoa(i), Code: "c",
			When: []Condition{{Field: "principal.principalType", Op: "notIn", Values: vals}}, Decision: 1})
	}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "values together") {
		t.Fatalf("%d rules of %d values: %v", len(p.Decision.ContextRules), MaxConditionValues, err)
	}
	p.Decision.ContextRules = p.Decision.ContextRules[:MaxConditionValuesTotal/MaxConditionValues]
	if err := p.Validate(); err != nil {
		t.Fatalf("at the budget: %v", err)
	}
}

// A permission a context rule removed is not told to be earned by score:
// what would change it is a request the rule does not match.
func TestRemovedPermissionAdvice(t *testing.T) {
	pol := DefaultPolicy()
	pol.Decision.ContextRules = append(pol.Decision.ContextRules, ContextRule{Name: "night-admin", Code: "time_of_day",
		When: []Condition{{Field: "time.hour", Op: "between", Values: []string{"22", "6"}}}, RemovePermissions: []string{"admin"}})
	r := &Record{PrincipalID: "a", TrustScore: 85, TrustLevel: "high", IsActive: true}
	night := int64(23 * hourMS)
	d := DecidePolicy(r, &pol, DecisionRequest{PrincipalID: "a", Action: "admin"}, night)
	if d.Decision != DecisionDeny || !hasCode(d.Reasons, "missing_permission") || !hasCode(d.WhatWouldChange, "resolve_context") ||
		hasCode(d.WhatWouldChange, "obtain_permission") {
		t.Fatalf("admin at night at 85: %+v", d)
	}
	r.TrustScore = 60
	if d := DecidePolicy(r, &pol, DecisionRequest{PrincipalID: "a", Action: "admin"}, 12*hourMS); !hasCode(d.WhatWouldChange, "obtain_permission") {
		t.Fatalf("admin by day at 60: %+v", d)
	}
}

// FormatDecimal agrees with the straightforward formatting for every scale
// it takes and values across the range (including the extremes).
func TestFormatDecimalAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []int64{0, 1, -1, 5, -5, 10, 100, 1_000_000, -1_000_000, 1_500_000, 123_456_789, -120, 9_223_372_036_854_775_807, -9_223_372_036_854_775_807}
	for i := 0; i < 20000; i++ {
		v := rng.Int64N(2_000_000_000) - 1_000_000_000
		if i%3 == 0 {
			v = int64(rng.Uint64())
		}
		vals = append(vals, v, v/1000*1000)
	}
	for _, v := range vals {
		for scale := 0; scale <= 18; scale++ {
			if got, want := FormatDecimal(v, scale), formatDecimalSlow(v, scale); got != want {
				t.Fatalf("FormatDecimal(%d, %d) = %q, want %q", v, scale, got, want)
			}
		}
	}
}

// FormatTime is RFC 3339 in UTC with milliseconds when there are any, as
// the time package writes it, across millennia.
func TestFormatTimeAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 20000; i++ {
		ms := rng.Int64N(120_000_000_000_000) - 62_000_000_000_000 // years ~5 to ~3800
		want := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		want = strings.Replace(want, ".000Z", "Z", 1)
		if got := FormatTime(ms); got != want {
			t.Fatalf("FormatTime(%d) = %q, want %q", ms, got, want)
		}
	}
}
