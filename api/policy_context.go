package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/trustledger/trustledger/fsm"
)

// The JSON form of the decision policy's action map and context rules
// (docs/scoring.md, "16. Decisions"; fsm/decide_context.go).

// actionDoc is what an action needs.
type actionDoc struct {
	Permission  string `json:"permission,omitempty"`
	Sensitivity string `json:"sensitivity"`
}

// conditionDoc is one condition of a context rule: value for the
// operators that take one, values for in, notIn, between, cidr and notCidr.
type conditionDoc struct {
	Field  string            `json:"field"`
	Op     string            `json:"op"`
	Value  json.RawMessage   `json:"value,omitempty"`
	Values []json.RawMessage `json:"values,omitempty"`
}

// effectDoc is what a matching context rule does.
type effectDoc struct {
	Decision               string    `json:"decision,omitempty"`
	RequiredAuthentication string    `json:"requiredAuthentication,omitempty"`
	SessionMaxDuration     *duration `json:"sessionMaxDuration,omitempty"`
	IdleTimeout            *duration `json:"idleTimeout,omitempty"`
	AuditIntensity         string    `json:"auditIntensity,omitempty"`
	RemovePermissions      []string  `json:"removePermissions,omitempty"`
}

// contextRuleDoc is a context rule.
type contextRuleDoc struct {
	Name    string         `json:"name"`
	Code    string         `json:"code"`
	Message string         `json:"message,omitempty"`
	When    []conditionDoc `json:"when"`
	Then    effectDoc      `json:"then"`
}

var (
	ruleDecisions = []string{"", fsm.DecisionStepUp, fsm.DecisionDeny}
	ruleAALs      = []string{"", "aal1", "aal2", "aal3"}
	ruleAudits    = []string{"", "elevated", "full"}
)

// indexIn returns the index of v in list (-1 when absent).
func indexIn(list []string, v string) int {
	for i, s := range list {
		if s == v {
			return i
		}
	}
	return -1
}

func actionsToDoc(actions []fsm.ActionRule) map[string]actionDoc {
	out := make(map[string]actionDoc, len(actions))
	for _, a := range actions {
		out[a.Name] = actionDoc{Permission: a.Permission, Sensitivity: fsm.Sensitivities[min(int(a.Sensitivity), len(fsm.Sensitivities)-1)]}
	}
	return out
}

func actionsFromDoc(errs *fieldErrors, doc map[string]actionDoc) []fsm.ActionRule {
	names := make([]string, 0, len(doc))
	for n := range doc {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]fsm.ActionRule, 0, len(names))
	for _, n := range names {
		a := doc[n]
		f := "decision.actions." + n
		sens := indexIn(fsm.Sensitivities, errs.oneOf(f+".sensitivity", a.Sensitivity, true, fsm.Sensitivities))
		out = append(out, fsm.ActionRule{Name: errs.text(f, n, true, fsm.MaxIDLen), Permission: a.Permission,
			Sensitivity: uint8(max(sens, 0))}) // #nosec G115 -- an index of a 4-element list
	}
	return out
}

func contextRulesToDoc(rules []fsm.ContextRule) []contextRuleDoc {
	out := make([]contextRuleDoc, 0, len(rules))
	for _, r := range rules {
		d := contextRuleDoc{Name: r.Name, Code: r.Code, Message: r.Message, When: make([]conditionDoc, 0, len(r.When))}
		for _, c := range r.When {
			d.When = append(d.When, conditionToDoc(c))
		}
		d.Then = effectDoc{Decision: ruleDecisions[min(int(r.Decision), 2)], RequiredAuthentication: ruleAALs[min(int(r.RequiredAAL), 3)],
			AuditIntensity: ruleAudits[min(int(r.Audit), 2)], RemovePermissions: r.RemovePermissions}
		if r.SessionMax > 0 {
			d.Then.SessionMaxDuration = &duration{ms: r.SessionMax}
		}
		if r.IdleTimeout > 0 {
			d.Then.IdleTimeout = &duration{ms: r.IdleTimeout}
		}
		out = append(out, d)
	}
	return out
}

// conditionToDoc writes the condition's values as JSON: scalars as they
// are, decimals as numbers, prefixes as strings.
func conditionToDoc(c fsm.Condition) conditionDoc {
	vals := make([]json.RawMessage, len(c.Values))
	for i, v := range c.Values {
		switch c.Op {
		case "cidr", "notCidr":
			vals[i] = json.RawMessage(strconv.Quote(v))
		default:
			vals[i] = json.RawMessage(v)
		}
	}
	d := conditionDoc{Field: c.Field, Op: c.Op}
	switch c.Op {
	case "eq", "ne", "gte", "lte":
		d.Value = vals[0]
	case "absent", "present":
	default:
		d.Values = vals
	}
	return d
}

func contextRulesFromDoc(errs *fieldErrors, docs []contextRuleDoc) []fsm.ContextRule {
	out := make([]fsm.ContextRule, 0, len(docs))
	for i, d := range docs {
		f := fmt.Sprintf("decision.contextRules[%d]", i)
		r := fsm.ContextRule{Name: d.Name, Code: d.Code, Message: d.Message, RemovePermissions: d.Then.RemovePermissions}
		for j, c := range d.When {
			r.When = append(r.When, conditionFromDoc(errs, fmt.Sprintf("%s.when[%d]", f, j), c))
		}
		pick := func(field string, list []string, v string) uint8 {
			k := indexIn(list, v)
			if k < 0 {
				errs.invalid(f+".then."+field, "must be one of %q", list[1:])
				return 0
			}
			return uint8(k) // #nosec G115 -- an index of a short list
		}
		r.Decision = pick("decision", ruleDecisions, d.Then.Decision)
		r.RequiredAAL = pick("requiredAuthentication", ruleAALs, d.Then.RequiredAuthentication)
		r.Audit = pick("auditIntensity", ruleAudits, d.Then.AuditIntensity)
		if d.Then.SessionMaxDuration != nil {
			r.SessionMax = d.Then.SessionMaxDuration.value(errs, f+".then.sessionMaxDuration")
		}
		if d.Then.IdleTimeout != nil {
			r.IdleTimeout = d.Then.IdleTimeout.value(errs, f+".then.idleTimeout")
		}
		out = append(out, r)
	}
	return out
}

// conditionFromDoc converts a condition's JSON values to the ledger's
// text form; fsm checks them against the operator.
func conditionFromDoc(errs *fieldErrors, field string, c conditionDoc) fsm.Condition {
	raws := c.Values
	if c.Value != nil {
		if c.Values != nil {
			errs.invalid(field, "give value or values, not both")
		}
		raws = []json.RawMessage{c.Value}
	}
	out := fsm.Condition{Field: c.Field, Op: c.Op}
	for k, raw := range raws {
		vf := fmt.Sprintf("%s.values[%d]", field, k)
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			errs.invalid(vf, "is not valid JSON")
			continue
		}
		text := b.String()
		switch kind := jsonKind(raw); {
		case kind == "object" || kind == "array":
			errs.invalid(vf, "must be a JSON string, number, boolean or null")
		case c.Op == "cidr" || c.Op == "notCidr":
			var s string
			if kind != "string" || json.Unmarshal(raw, &s) != nil {
				errs.invalid(vf, "must be a string such as \"10.0.0.0/8\"")
			}
			text = s
		case c.Op == "gte" || c.Op == "lte" || c.Op == "between":
			if kind != "number" {
				errs.invalid(vf, "must be a number")
			}
		}
		out.Values = append(out.Values, text)
	}
	return out
}

// routeDoc maps requests a gateway forwards (GET /v1/authz) to an action.
type routeDoc struct {
	Methods []string `json:"methods,omitempty"`
	Path    string   `json:"path"`
	Action  string   `json:"action"`
}

func routesToDoc(routes []fsm.RouteRule) []routeDoc {
	out := make([]routeDoc, 0, len(routes))
	for _, r := range routes {
		out = append(out, routeDoc{Methods: r.Methods, Path: r.Path, Action: r.Action})
	}
	return out
}

func routesFromDoc(docs []routeDoc) []fsm.RouteRule {
	var out []fsm.RouteRule
	for _, d := range docs {
		out = append(out, fsm.RouteRule{Methods: d.Methods, Path: d.Path, Action: d.Action})
	}
	return out
}
