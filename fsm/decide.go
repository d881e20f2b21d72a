package fsm

import (
	"sort"
	"strconv"
)

// DecisionRequest is a decision request (docs/scoring.md, "16. Decisions").
type DecisionRequest struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	// Sensitivity may be empty when the policy maps the action; given, it
	// can only raise the action's.
	Sensitivity string `json:"sensitivity"`
	// Context is the request being decided, flattened (ParseContext).
	Context Context `json:"-"`
}

// Reason is one reason for a decision, or one thing that would change it:
// a stable code (docs/scoring.md, "Reason codes"), a message for people
// and, for a context rule, the rule's name.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Rule    string `json:"rule,omitempty"`
}

// Decision is an access decision (docs/scoring.md, "16. Decisions").
type Decision struct {
	// DecisionID identifies the answer in the decision log; the API sets
	// it (it is not part of the decision function).
	DecisionID  string `json:"decisionId"`
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	Sensitivity string `json:"sensitivity"`
	// RequiredPermission is the permission the policy's action map asks
	// for the action ("" when none).
	RequiredPermission string `json:"requiredPermission,omitempty"`
	// Decision is one of the Decision* constants.
	Decision   string `json:"decision"`
	TrustScore int64  `json:"trustScore"`
	TrustLevel string `json:"trustLevel"`
	// RequiredAuthentication is the NIST SP 800-63B assurance level: aal1,
	// aal2 or aal3.
	RequiredAuthentication string `json:"requiredAuthentication"`
	// SessionMaxDuration and IdleTimeout are in seconds.
	SessionMaxDuration int64 `json:"sessionMaxDuration"`
	IdleTimeout        int64 `json:"idleTimeout"`
	// AuditIntensity is standard, elevated or full.
	AuditIntensity       string   `json:"auditIntensity"`
	ActivatedPermissions []string `json:"activatedPermissions"`
	Reasons              []Reason `json:"reasons"`
	WhatWouldChange      []Reason `json:"whatWouldChange"`
	PolicyVersion        int64    `json:"policyVersion"`
	EvaluatedAt          string   `json:"evaluatedAt"`
	LedgerIndex          uint64   `json:"ledgerIndex"`
}

// Decisions.
const (
	DecisionAllow  = "allow"
	DecisionStepUp = "step_up"
	DecisionDeny   = "deny"
)

// NIST SP 800-63B reauthentication limits per assurance level (ms): AAL1
// 30 days; AAL2 12 h / 30 min idle; AAL3 12 h / 15 min idle.
var aalLimits = [3]struct{ session, idle int64 }{
	{30 * 24 * hourMS, 30 * 24 * hourMS},
	{12 * hourMS, 30 * 60_000},
	{12 * hourMS, 15 * 60_000},
}

// Decide evaluates a decision request against the record at time t. An
// unknown principal is denied. A request the policy cannot decide (an
// unknown sensitivity, or none for an action the policy does not map) is
// a RejectError with code "invalid".
func (l *Ledger) Decide(req DecisionRequest, t int64) (Decision, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.decide(&l.policy, req, t)
}

func (l *Ledger) decide(pol *Policy, req DecisionRequest, t int64) (Decision, error) {
	sens, perm, err := pol.Decision.ResolveAction(req.Action, req.Sensitivity)
	if err != nil {
		return Decision{}, err
	}
	req.Sensitivity = Sensitivities[sens]
	p := l.principals.get(req.PrincipalID)
	if p == nil {
		return Decision{PrincipalID: req.PrincipalID, Action: req.Action, Sensitivity: req.Sensitivity, RequiredPermission: perm,
			Decision: DecisionDeny, TrustLevel: "untrusted", RequiredAuthentication: "aal3", AuditIntensity: "full",
			ActivatedPermissions: []string{}, Reasons: []Reason{{Code: "unknown_principal", Message: "unknown principal"}},
			WhatWouldChange: []Reason{{Code: "register_principal", Message: "register the principal"}},
			PolicyVersion:   pol.Version, EvaluatedAt: FormatTime(t), LedgerIndex: l.index}, nil
	}
	d := DecidePolicy(l.record(p, t), pol, req, t)
	d.EvaluatedAt, d.LedgerIndex = FormatTime(t), l.index
	return d, nil
}

// ResolveAction returns the sensitivity (an index of Sensitivities) and
// the required permission of a request: the action map's, with a given
// sensitivity raising the action's; for an action the map lacks, the
// given sensitivity, which is then required.
func (d *DecisionPolicy) ResolveAction(action, sensitivity string) (int, string, error) {
	given := -1
	for i, s := range Sensitivities {
		if s == sensitivity {
			given = i
		}
	}
	if sensitivity != "" && given < 0 {
		return 0, "", reject("sensitivity", "invalid", "must be one of %v", Sensitivities)
	}
	a, ok := d.action(action)
	switch {
	case ok:
		return max(int(a.Sensitivity), given), a.Permission, nil
	case given < 0:
		return 0, "", reject("sensitivity", "invalid", "required: the policy does not map action %q (GET /v1/policy, decision.actions)", action)
	}
	return given, "", nil
}

// DecidePolicy is the pure decision function: record + policy + request,
// at time t (the request's time: context rules may look at the hour).
// Degradation is progressive: as the score falls, sessions shorten, the
// required assurance level rises, auditing intensifies, permissions fall
// away, and finally access is denied. Context rules then make it stricter
// where they match, and an action whose required permission is not
// activated is denied.
func DecidePolicy(r *Record, pol *Policy, req DecisionRequest, t int64) Decision {
	d := Decision{PrincipalID: r.PrincipalID, Action: req.Action, Sensitivity: req.Sensitivity, PolicyVersion: pol.Version,
		TrustScore: r.TrustScore, TrustLevel: r.TrustLevel, ActivatedPermissions: []string{}, Reasons: []Reason{}, WhatWouldChange: []Reason{}}
	sens, perm, err := pol.Decision.ResolveAction(req.Action, req.Sensitivity)
	if err != nil {
		sens = lastIndex(Sensitivities, req.Sensitivity)
	}
	d.Sensitivity, d.RequiredPermission = Sensitivities[sens], perm
	level := lastIndex(Levels, r.TrustLevel)
	score := r.TrustScore * Point
	dp := &pol.Decision
	aal := d.setSession(dp, sens, level)
	audit := auditLevel(sens, level, r.RequiresReview)
	d.ActivatedPermissions = activatedPermissions(dp.Permissions, score)
	d.decide(r, score, dp.Allow[sens], dp.StepUp[sens])
	if r.RequiresReview {
		d.Reasons = append(d.Reasons, Reason{Code: "open_alerts", Message: "open trust alerts require review: audit intensity full"})
		if d.Decision == DecisionAllow && sens >= 2 {
			d.Decision = DecisionStepUp
			d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "review_alerts", Message: "review the open alerts"})
		}
	}
	for _, h := range r.Holds {
		// A detection that holds the principal applies like a context
		// rule of its own: whatever the score, partner weight or expiry,
		// the decision is at least the policy's hold until remediated.
		aal, audit = d.applyRule(&ContextRule{Name: "detection:" + h.DetectionID, Code: "remediation_required",
			Message:  "detection " + h.DetectionID + " (" + h.Type + ", " + h.State + ") holds decisions until it is remediated",
			Decision: dp.Hold, RequiredAAL: 3, Audit: 2}, aal, audit)
		d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "remediate",
			Message: "remediate detection " + h.DetectionID + " (POST /v1/detections/" + h.DetectionID + "/review, or an event the policy's remediations name)"})
	}
	in := &decisionInputs{ctx: req.Context, r: r, t: t}
	for i := range dp.ContextRules {
		if cr := &dp.ContextRules[i]; cr.matches(in) {
			aal, audit = d.applyRule(cr, aal, audit)
		}
	}
	d.AuditIntensity = auditIntensities[audit]
	if perm != "" && !contains(d.ActivatedPermissions, perm) {
		d.denyMissing(dp, perm, score)
	}
	if d.Decision == DecisionStepUp {
		d.WhatWouldChange = append([]Reason{{Code: "authenticate", Message: "authenticate at " + d.RequiredAuthentication + " to proceed"}},
			d.WhatWouldChange...)
	}
	if level < 4 && d.Decision != DecisionDeny {
		next := pol.Thresholds[level]
		d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "next_level",
			Message: "reach " + thresholdText(next) + " (" + Levels[level+1] + ") for longer sessions and more permissions"})
	}
	return d
}

var auditIntensities = []string{"standard", "elevated", "full"}

// decisionRank orders decisions by strictness.
var decisionRank = map[string]uint8{DecisionAllow: 0, DecisionStepUp: 1, DecisionDeny: 2}

// applyRule makes the decision as strict as a matching context rule asks:
// it can only raise the decision, the assurance level and the audit, and
// only shorten the session and remove permissions. aal and audit are the
// levels so far (0-based); it returns them raised.
func (d *Decision) applyRule(cr *ContextRule, aal, audit int) (int, int) {
	msg := cr.Message
	if msg == "" {
		msg = "context rule " + cr.Name + " applies"
	}
	d.Reasons = append(d.Reasons, Reason{Code: cr.Code, Message: msg, Rule: cr.Name})
	if cr.Decision > decisionRank[d.Decision] {
		if cr.Decision == 2 {
			d.Decision = DecisionDeny
		} else {
			d.Decision = DecisionStepUp
			// Stepping up means authenticating above what was enough.
			aal = max(aal, 1)
		}
		if len(cr.When) > 0 {
			d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "resolve_context",
				Message: "a request where context rule " + cr.Name + " does not apply", Rule: cr.Name})
		}
	}
	if cr.RequiredAAL > 0 {
		aal = max(aal, int(cr.RequiredAAL)-1)
	}
	d.RequiredAuthentication = "aal" + strconv.Itoa(aal+1)
	d.SessionMaxDuration = min(d.SessionMaxDuration, aalLimits[aal].session/1000)
	d.IdleTimeout = min(d.IdleTimeout, aalLimits[aal].idle/1000)
	if cr.SessionMax > 0 {
		d.SessionMaxDuration = min(d.SessionMaxDuration, cr.SessionMax/1000)
	}
	if cr.IdleTimeout > 0 {
		d.IdleTimeout = min(d.IdleTimeout, cr.IdleTimeout/1000)
	}
	d.IdleTimeout = min(d.IdleTimeout, d.SessionMaxDuration)
	audit = max(audit, int(cr.Audit))
	if len(cr.RemovePermissions) > 0 {
		kept := []string{}
		for _, p := range d.ActivatedPermissions {
			if !contains(cr.RemovePermissions, p) {
				kept = append(kept, p)
			}
		}
		d.ActivatedPermissions = kept
	}
	return aal, audit
}

// denyMissing denies a request whose action needs perm, which is not
// activated: below its minimum score, or removed by a context rule (score,
// µpt, says which).
func (d *Decision) denyMissing(dp *DecisionPolicy, perm string, score int64) {
	d.Decision = DecisionDeny
	d.Reasons = append(d.Reasons, Reason{Code: "missing_permission",
		Message: "action " + d.Action + " requires permission " + perm + ", which is not activated"})
	for _, p := range dp.Permissions {
		switch {
		case p.Name != perm:
		case score >= p.MinScore:
			d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "resolve_context",
				Message: "a request where no context rule removes permission " + perm})
		default:
			d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: "obtain_permission",
				Message: "raise the trust score to " + thresholdText(p.MinScore) + " to activate " + perm})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lastIndex returns the index of the last element of list equal to name, or
// 0 when there is none.
func lastIndex(list []string, name string) int {
	idx := 0
	for i, s := range list {
		if s == name {
			idx = i
		}
	}
	return idx
}

// requiredAAL is the assurance level (0-2: aal1-aal3) a sensitivity and a
// trust level demand: the stronger of the two.
func requiredAAL(sens, level int) int {
	aal := [4]int{0, 0, 1, 2}[sens]
	switch {
	case level <= 1:
		aal = max(aal, 2)
	case level == 2:
		aal = max(aal, 1)
	}
	return aal
}

// setSession sets the required assurance level — the stronger of what the
// sensitivity and the trust level demand — and the session limits, capped by
// that level's reauthentication limits and halved for critical actions.
func (d *Decision) setSession(dp *DecisionPolicy, sens, level int) int {
	aal := requiredAAL(sens, level)
	d.RequiredAuthentication = "aal" + strconv.Itoa(aal+1)
	d.SessionMaxDuration = min(dp.SessionMax[level], aalLimits[aal].session) / 1000
	d.IdleTimeout = min(dp.IdleTimeout[level], aalLimits[aal].idle) / 1000
	if sens == 3 {
		d.SessionMaxDuration /= 2
		d.IdleTimeout /= 2
	}
	return aal
}

// auditLevel is the audit intensity (an index of auditIntensities): it
// rises as the trust level falls or the sensitivity rises, and is full
// while alerts await review.
func auditLevel(sens, level int, review bool) int {
	audit := 0
	switch {
	case level <= 1:
		audit = 2
	case level == 2 || sens >= 2:
		audit = 1
	}
	if review {
		audit = 2
	}
	return audit
}

// activatedPermissions returns the names of the permissions whose minimum
// score (µpt) score meets, sorted.
func activatedPermissions(rules []PermissionRule, score int64) []string {
	out := []string{}
	for _, p := range sortedPermissions(rules) {
		if score >= p.MinScore {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

func thresholdText(v int64) string { return FormatDecimal(v, 6) }

// decide sets the decision and its reasons from the principal's state and
// the score (µpt) against the sensitivity's allow and step-up thresholds.
func (d *Decision) decide(r *Record, score, allow, stepUp int64) {
	thr := thresholdText
	scoreText := "trust score " + strconv.FormatInt(r.TrustScore, 10)
	why := func(code, msg string) { d.Reasons = append(d.Reasons, Reason{Code: code, Message: msg}) }
	change := func(code, msg string) {
		d.WhatWouldChange = append(d.WhatWouldChange, Reason{Code: code, Message: msg})
	}
	switch {
	case !r.IsActive:
		d.Decision = DecisionDeny
		why("inactive", "principal is inactive")
		change("reactivate", "reactivate the principal (isActive=true)")
	case r.Explanation.ClampedBy == "confirmed_compromised":
		d.Decision = DecisionDeny
		why("confirmed_compromised", "principal confirmed compromised by review")
		if len(r.Holds) == 0 { // else each holding detection says how
			change("remediate", "remediate the confirmed detection (review action remediate, or an event the policy's remediations name)")
		}
	case score >= allow:
		d.Decision = DecisionAllow
		why("meets_threshold", scoreText+" meets the "+d.Sensitivity+" allow threshold "+thr(allow))
	case score >= stepUp:
		d.Decision = DecisionStepUp
		why("below_allow_threshold", scoreText+" is below the "+d.Sensitivity+" allow threshold "+thr(allow)+" but meets step-up "+thr(stepUp))
		change("raise_score", "raise the trust score to "+thr(allow)+" to be allowed without step-up")
	default:
		d.Decision = DecisionDeny
		why("below_threshold", scoreText+" is below the "+d.Sensitivity+" step-up threshold "+thr(stepUp))
		change("raise_score", "raise the trust score to "+thr(stepUp)+" for step-up or "+thr(allow)+" to be allowed")
	}
}

// DecideRoute decides a request a gateway forwards (method and path): the
// action is the policy's routes' (RouteAction); one the action map lacks
// is decided at high sensitivity.
func (l *Ledger) DecideRoute(principal, method, path string, ctx Context, t int64) (Decision, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	req := DecisionRequest{PrincipalID: principal, Action: l.policy.Decision.RouteAction(method, path), Context: ctx}
	if _, ok := l.policy.Decision.action(req.Action); !ok {
		req.Sensitivity = Sensitivities[2]
	}
	return l.decide(&l.policy, req, t)
}
