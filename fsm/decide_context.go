package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Decision policy over actions and request context (docs/scoring.md, "16.
// Decisions"): an action map names, per action, the permission it needs
// and its sensitivity; context rules, evaluated in order, make a decision
// stricter when all of their conditions hold. Everything here is pure: the
// request context is parsed with integers and strings only, and rules are
// looked at in policy order.

// ActionRule names what an action needs.
type ActionRule struct {
	Name string
	// Permission is the activated permission the action requires ("":
	// none beyond the sensitivity's thresholds).
	Permission string
	// Sensitivity indexes Sensitivities.
	Sensitivity uint8
}

// ContextRule makes a decision stricter when every condition holds. Each
// effect only ever tightens: a later or looser rule cannot undo it.
type ContextRule struct {
	// Name identifies the rule to operators; Code is the stable reason
	// code decisions carry when it matches; Message explains it.
	Name, Code, Message string
	When                []Condition
	// Decision is the least strict outcome left: 0 any, 1 step_up, 2 deny.
	Decision uint8
	// RequiredAAL is the least assurance level required (0 any, 1..3 for
	// aal1..aal3).
	RequiredAAL uint8
	// SessionMax and IdleTimeout cap the session (ms, 0: no cap).
	SessionMax, IdleTimeout int64
	// Audit is the least audit intensity (0 any, 1 elevated, 2 full).
	Audit uint8
	// RemovePermissions are taken out of the activated permissions.
	RemovePermissions []string
}

// Condition is one test of a context rule on a field of the request
// (context.*), of the principal's record (principal.*) or of the time of
// the decision (time.hour, time.weekday; UTC). Values are JSON scalars for
// eq, ne, in and notIn, decimals for gte, lte and between (two: low, high;
// a low above the high wraps, as for hours 22 to 6), prefixes for cidr and
// notCidr; absent and present take none. A condition on a field the
// request or record does not have holds only for absent (and ne, notIn,
// notCidr do not hold either: a missing value proves nothing).
type Condition struct {
	Field  string
	Op     string
	Values []string
}

// Condition operators.
var conditionOps = []string{"eq", "ne", "in", "notIn", "gte", "lte", "between", "cidr", "notCidr", "absent", "present"}

// Principal fields a condition may test, besides the factor documents
// (principal.authenticationFactors.*, principal.behaviorMetrics.*,
// principal.complianceStatus.*, principal.context.*).
var principalFields = []string{"principal.trustScore", "principal.trustLevel", "principal.principalType",
	"principal.requiresReview", "principal.openAlerts", "principal.isActive"}

var factorDocs = []string{"principal.authenticationFactors.", "principal.behaviorMetrics.",
	"principal.complianceStatus.", "principal.context."}

// Limits on the decision policy and the request context.
const (
	MaxActions         = 256
	MaxContextRules    = 64
	MaxConditions      = 8
	MaxConditionValues = 64
	// MaxContextFields is the most scalar fields a request context may
	// hold; MaxContextDepth its nesting.
	MaxContextFields = 256
	MaxContextDepth  = 8
	// MaxConditionValuesTotal bounds the values of all the context rules'
	// conditions together: the cost of a decision.
	MaxConditionValuesTotal = 512
)

// Context is a request context flattened to its scalar fields: dotted
// path → compact JSON text ("true", "12.5", `"corp"`, "null").
type Context map[string]string

// ParseContext flattens a JSON object (nil or empty: no context). Arrays
// are kept whole, as their compact JSON text, which equals no value: ne and
// notIn hold on them, eq, in, the numeric operators and cidr do not.
func ParseContext(b []byte) (Context, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return Context{}, nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be a JSON object")
	}
	out := Context{}
	if err := flatten(out, "", obj, 1); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(out Context, prefix string, obj map[string]any, depth int) error {
	if depth > MaxContextDepth {
		return fmt.Errorf("nested deeper than %d levels", MaxContextDepth)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path, v := prefix+k, obj[k]
		if sub, ok := v.(map[string]any); ok {
			if err := flatten(out, path+".", sub, depth+1); err != nil {
				return err
			}
			continue
		}
		if len(out) >= MaxContextFields {
			return fmt.Errorf("more than %d fields", MaxContextFields)
		}
		if _, dup := out[path]; dup {
			// {"a.b": 1, "a": {"b": 2}}: one path, two values.
			return fmt.Errorf("the field %q is given twice (a dotted key and a nested object)", path)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		out[path] = string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	}
	return nil
}

// validate checks an action rule against the permissions of the policy.
func (a *ActionRule) validate(perms map[string]bool) error {
	if a.Name == "" || len(a.Name) > MaxIDLen {
		return fmt.Errorf("decision.actions: name %q empty or too long", a.Name)
	}
	if a.Permission != "" && !perms[a.Permission] {
		return fmt.Errorf("decision.actions.%s.permission: %q is not a permission of the policy", a.Name, a.Permission)
	}
	if int(a.Sensitivity) >= len(Sensitivities) {
		return fmt.Errorf("decision.actions.%s.sensitivity: must be one of %s", a.Name, strings.Join(Sensitivities, ", "))
	}
	return nil
}

// validCode reports whether s is a reason code: a lower-case letter, then
// up to 63 lower-case letters, digits or underscores.
func validCode(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validate checks a context rule; field is its place in the policy.
func (r *ContextRule) validate(field string, perms map[string]bool) error {
	switch {
	case r.Name == "" || len(r.Name) > MaxIDLen:
		return fmt.Errorf("%s.name: must be 1 to %d bytes", field, MaxIDLen)
	case !validCode(r.Code):
		return fmt.Errorf("%s.code: must be a lower-case code such as device_untrusted (letters, digits, _; at most 64)", field)
	case len(r.Message) > 512:
		return fmt.Errorf("%s.message: at most 512 bytes", field)
	case len(r.When) == 0 || len(r.When) > MaxConditions:
		return fmt.Errorf("%s.when: needs 1 to %d conditions", field, MaxConditions)
	case r.Decision > 2 || r.RequiredAAL > 3 || r.Audit > 2:
		return fmt.Errorf("%s.then: bad decision, requiredAuthentication or auditIntensity", field)
	case r.SessionMax < 0 || r.IdleTimeout < 0 || r.SessionMax > 30*24*hourMS || r.IdleTimeout > 30*24*hourMS:
		return fmt.Errorf("%s.then: session limits must be within [0, 30 days]", field)
	case r.Decision == 0 && r.RequiredAAL == 0 && r.SessionMax == 0 && r.IdleTimeout == 0 && r.Audit == 0 && len(r.RemovePermissions) == 0:
		return fmt.Errorf("%s.then: the rule changes nothing", field)
	}
	for _, p := range r.RemovePermissions {
		if !perms[p] {
			return fmt.Errorf("%s.then.removePermissions: %q is not a permission of the policy", field, p)
		}
	}
	for i := range r.When {
		if err := r.When[i].validate(fmt.Sprintf("%s.when[%d]", field, i)); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a condition's field, operator and values.
func (c *Condition) validate(field string) error {
	if !knownField(c.Field) {
		return fmt.Errorf("%s.field: %q is not context.<path>, one of %s, %s<key>, time.hour or time.weekday",
			field, c.Field, strings.Join(principalFields, ", "), strings.Join(factorDocs, "<key>, "))
	}
	want := map[string][2]int{"absent": {0, 0}, "present": {0, 0}, "eq": {1, 1}, "ne": {1, 1}, "gte": {1, 1}, "lte": {1, 1},
		"between": {2, 2}, "in": {1, MaxConditionValues}, "notIn": {1, MaxConditionValues},
		"cidr": {1, MaxConditionValues}, "notCidr": {1, MaxConditionValues}}
	n, ok := want[c.Op]
	if !ok {
		return fmt.Errorf("%s.op: must be one of %s", field, strings.Join(conditionOps, ", "))
	}
	if len(c.Values) < n[0] || len(c.Values) > n[1] {
		return fmt.Errorf("%s: %s takes %d to %d values, got %d", field, c.Op, n[0], n[1], len(c.Values))
	}
	for i, v := range c.Values {
		vf := fmt.Sprintf("%s.values[%d]", field, i)
		if len(v) > MaxIDLen {
			return fmt.Errorf("%s: at most %d bytes", vf, MaxIDLen)
		}
		switch c.Op {
		case "gte", "lte", "between":
			if _, ok := ParseDecimal(v, 6); !ok {
				return fmt.Errorf("%s: %q is not a decimal number", vf, v)
			}
		case "cidr", "notCidr":
			if _, err := netip.ParsePrefix(v); err != nil {
				return fmt.Errorf("%s: %q is not a CIDR prefix such as 10.0.0.0/8", vf, v)
			}
		default:
			if !json.Valid([]byte(v)) || strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
				return fmt.Errorf("%s: must be a JSON string, number, boolean or null", vf)
			}
		}
	}
	return nil
}

func knownField(f string) bool {
	switch {
	case len(f) > 2*MaxIDLen:
		return false
	case f == "time.hour" || f == "time.weekday":
		return true
	case strings.HasPrefix(f, "context.") && len(f) > len("context."):
		return true
	}
	for _, p := range principalFields {
		if f == p {
			return true
		}
	}
	for _, p := range factorDocs {
		if strings.HasPrefix(f, p) && len(f) > len(p) {
			return true
		}
	}
	return false
}

// decisionInputs are what conditions read: the request context, the
// record, and the time of the decision.
type decisionInputs struct {
	ctx     Context
	r       *Record
	t       int64
	factors map[string]Context // flattened factor documents, on first use
}

// unreadable reports whether field is in a factor document that cannot be
// flattened (too many fields, too deep, a path given twice): a condition on
// it holds, whatever it tests, so that such a document cannot switch a
// rule off (rules only tighten decisions).
func (in *decisionInputs) unreadable(field string) bool {
	for _, p := range factorDocs {
		if strings.HasPrefix(field, p) {
			return in.factorDoc(p) == nil
		}
	}
	return false
}

// value returns the field's compact JSON text, and whether it is there.
func (in *decisionInputs) value(field string) (string, bool) {
	switch field {
	case "time.hour":
		return strconv.FormatInt(floorMod(in.t, 24*hourMS)/hourMS, 10), true
	case "time.weekday":
		// 1970-01-01 was a Thursday (4).
		return strconv.FormatInt((floorDiv(in.t, 24*hourMS)+4)%7, 10), true
	case "principal.trustScore":
		return strconv.FormatInt(in.r.TrustScore, 10), true
	case "principal.trustLevel":
		return strconv.Quote(in.r.TrustLevel), true
	case "principal.principalType":
		return strconv.Quote(in.r.PrincipalType), true
	case "principal.requiresReview":
		return strconv.FormatBool(in.r.RequiresReview), true
	case "principal.isActive":
		return strconv.FormatBool(in.r.IsActive), true
	case "principal.openAlerts":
		n := 0
		for _, a := range in.r.TrustAlerts {
			if a.Status == "open" {
				n++
			}
		}
		return strconv.Itoa(n), true
	}
	if rest, ok := strings.CutPrefix(field, "context."); ok {
		v, ok := in.ctx[rest]
		return v, ok
	}
	for _, p := range factorDocs {
		if rest, ok := strings.CutPrefix(field, p); ok {
			doc := in.factorDoc(p)
			v, ok := doc[rest]
			return v, ok
		}
	}
	return "", false
}

// factorDoc flattens one of the record's factor documents.
func (in *decisionInputs) factorDoc(prefix string) Context {
	if c, ok := in.factors[prefix]; ok {
		return c
	}
	var raw json.RawMessage
	switch prefix {
	case "principal.authenticationFactors.":
		raw = in.r.AuthenticationFactors
	case "principal.behaviorMetrics.":
		raw = in.r.BehaviorMetrics
	case "principal.complianceStatus.":
		raw = in.r.ComplianceStatus
	case "principal.context.":
		raw = in.r.Context
	}
	c, err := ParseContext(raw)
	if err != nil {
		c = nil // unreadable
	}
	if in.factors == nil {
		in.factors = map[string]Context{}
	}
	in.factors[prefix] = c
	return c
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// holds evaluates the condition.
func (c *Condition) holds(in *decisionInputs) bool {
	if in.unreadable(c.Field) {
		return true
	}
	v, ok := in.value(c.Field)
	switch c.Op {
	case "absent":
		return !ok
	case "present":
		return ok
	}
	if !ok {
		return false
	}
	switch c.Op {
	case "eq", "ne", "in", "notIn":
		match := false
		for _, want := range c.Values {
			match = match || scalarEqual(v, want)
		}
		return match == (c.Op == "eq" || c.Op == "in")
	case "gte", "lte", "between":
		x, ok := ParseDecimal(v, 6)
		if !ok {
			return false
		}
		a, _ := ParseDecimal(c.Values[0], 6)
		switch c.Op {
		case "gte":
			return x >= a
		case "lte":
			return x <= a
		}
		b, _ := ParseDecimal(c.Values[1], 6)
		if a <= b {
			return x >= a && x <= b
		}
		return x >= a || x <= b
	case "cidr", "notCidr":
		s, ok := jsonString(v)
		if !ok {
			return false
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		in := false
		for _, p := range c.Values {
			pfx, _ := netip.ParsePrefix(p)
			in = in || pfx.Contains(addr.WithZone("").Unmap())
		}
		return in == (c.Op == "cidr")
	}
	return false
}

// scalarEqual compares two compact JSON scalars: strings by their value
// (whatever their escapes), numbers numerically, the rest as text.
func scalarEqual(a, b string) bool {
	if a == b {
		return true
	}
	if x, ok := jsonString(a); ok {
		y, ok := jsonString(b)
		return ok && x == y
	}
	x, ok1 := ParseDecimal(a, 6)
	y, ok2 := ParseDecimal(b, 6)
	return ok1 && ok2 && x == y
}

// jsonString returns the value of a JSON string literal.
func jsonString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if v[len(v)-1] == '"' && !strings.ContainsRune(v, '\\') {
		return v[1 : len(v)-1], true // no escapes: the text between the quotes
	}
	var s string
	if json.Unmarshal([]byte(v), &s) != nil {
		return "", false
	}
	return s, true
}

// matches reports whether every condition of the rule holds.
func (r *ContextRule) matches(in *decisionInputs) bool {
	for i := range r.When {
		if !r.When[i].holds(in) {
			return false
		}
	}
	return true
}

// action returns the action rule for name.
func (d *DecisionPolicy) action(name string) (ActionRule, bool) {
	for _, a := range d.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return ActionRule{}, false
}

// RouteRule maps requests a gateway forwards to an action: Methods (empty:
// any) and Path, exact or, ending in "*", a prefix.
type RouteRule struct {
	Methods []string
	Path    string
	Action  string
}

// Limits on gateway routes.
const (
	MaxRoutes    = 256
	MaxRoutePath = 256
)

var routeMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func validateRoutes(routes []RouteRule) error {
	if len(routes) > MaxRoutes {
		return fmt.Errorf("decision.routes: at most %d", MaxRoutes)
	}
	for i, r := range routes {
		f := fmt.Sprintf("decision.routes[%d]", i)
		if r.Path == "" || r.Path[0] != '/' || len(r.Path) > MaxRoutePath || strings.Contains(strings.TrimSuffix(r.Path, "*"), "*") {
			return fmt.Errorf("%s.path: must start with / (at most %d bytes; a * only at the end)", f, MaxRoutePath)
		}
		if r.Action == "" || len(r.Action) > MaxIDLen {
			return fmt.Errorf("%s.action: must be 1 to %d bytes", f, MaxIDLen)
		}
		for _, m := range r.Methods {
			if !contains(routeMethods, m) {
				return fmt.Errorf("%s.methods: %q is not one of %s", f, m, strings.Join(routeMethods, ", "))
			}
		}
	}
	return nil
}

// RouteAction returns the action for a request a gateway forwards: the
// first route that matches its method and path, else by method (GET,
// HEAD, OPTIONS read; DELETE delete; the others write).
func (d *DecisionPolicy) RouteAction(method, path string) string {
	for _, r := range d.Routes {
		if len(r.Methods) > 0 && !contains(r.Methods, method) {
			continue
		}
		if p, prefix := strings.CutSuffix(r.Path, "*"); (prefix && strings.HasPrefix(path, p)) || (!prefix && path == r.Path) {
			return r.Action
		}
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return "read"
	case "DELETE":
		return "delete"
	}
	return "write"
}
