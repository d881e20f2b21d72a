package fsm

import (
	"sort"
	"strconv"
)

// DecisionRequest is a decision request (docs/scoring.md, "16. Decisions").
type DecisionRequest struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	Sensitivity string `json:"sensitivity"`
}

// Decision is an access decision (docs/scoring.md, "16. Decisions").
type Decision struct {
	PrincipalID string `json:"principalId"`
	Action      string `json:"action"`
	Sensitivity string `json:"sensitivity"`
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
	Reasons              []string `json:"reasons"`
	WhatWouldChange      []string `json:"whatWouldChange"`
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
// unknown principal is denied.
func (l *Ledger) Decide(req DecisionRequest, t int64) Decision {
	l.mu.RLock()
	defer l.mu.RUnlock()
	p := l.principals[req.PrincipalID]
	if p == nil {
		return Decision{PrincipalID: req.PrincipalID, Action: req.Action, Sensitivity: req.Sensitivity, Decision: DecisionDeny,
			TrustLevel: "untrusted", RequiredAuthentication: "aal3", AuditIntensity: "full", ActivatedPermissions: []string{},
			Reasons: []string{"unknown principal"}, WhatWouldChange: []string{"register the principal"},
			EvaluatedAt: FormatTime(t), LedgerIndex: l.index}
	}
	r := l.record(p, t)
	d := DecidePolicy(r, &l.policy, req)
	d.EvaluatedAt, d.LedgerIndex = FormatTime(t), l.index
	return d
}

// DecidePolicy is the pure decision function: record + policy + request.
// Degradation is progressive: as the score falls, sessions shorten, the
// required assurance level rises, auditing intensifies, permissions fall
// away, and finally access is denied.
func DecidePolicy(r *Record, pol *Policy, req DecisionRequest) Decision {
	d := Decision{PrincipalID: r.PrincipalID, Action: req.Action, Sensitivity: req.Sensitivity,
		TrustScore: r.TrustScore, TrustLevel: r.TrustLevel, ActivatedPermissions: []string{}, Reasons: []string{}, WhatWouldChange: []string{}}
	sens := lastIndex(Sensitivities, req.Sensitivity)
	level := lastIndex(Levels, r.TrustLevel)
	score := r.TrustScore * Point
	dp := &pol.Decision
	d.setSession(dp, sens, level)
	d.AuditIntensity = auditIntensity(sens, level, r.RequiresReview)
	d.ActivatedPermissions = activatedPermissions(dp.Permissions, score)
	d.decide(r, score, dp.Allow[sens], dp.StepUp[sens])
	if r.RequiresReview {
		d.Reasons = append(d.Reasons, "open trust alerts require review: audit intensity full")
		if d.Decision == DecisionAllow && sens >= 2 {
			d.Decision = DecisionStepUp
			d.WhatWouldChange = append(d.WhatWouldChange, "review the open alerts")
		}
	}
	if level < 4 && d.Decision != DecisionDeny {
		next := pol.Thresholds[level]
		d.WhatWouldChange = append(d.WhatWouldChange, "reach "+thresholdText(next)+" ("+Levels[level+1]+") for longer sessions and more permissions")
	}
	return d
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

// setSession sets the required assurance level — the stronger of what the
// sensitivity and the trust level demand — and the session limits, capped by
// that level's reauthentication limits and halved for critical actions.
func (d *Decision) setSession(dp *DecisionPolicy, sens, level int) {
	aal := [4]int{0, 0, 1, 2}[sens]
	switch {
	case level <= 1:
		aal = max(aal, 2)
	case level == 2:
		aal = max(aal, 1)
	}
	d.RequiredAuthentication = "aal" + strconv.Itoa(aal+1)
	d.SessionMaxDuration = min(dp.SessionMax[level], aalLimits[aal].session) / 1000
	d.IdleTimeout = min(dp.IdleTimeout[level], aalLimits[aal].idle) / 1000
	if sens == 3 {
		d.SessionMaxDuration /= 2
		d.IdleTimeout /= 2
	}
}

// auditIntensity rises as the trust level falls or the sensitivity rises,
// and is full while alerts await review.
func auditIntensity(sens, level int, review bool) string {
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
	return []string{"standard", "elevated", "full"}[audit]
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
	switch {
	case !r.IsActive:
		d.Decision = DecisionDeny
		d.Reasons = append(d.Reasons, "principal is inactive")
		d.WhatWouldChange = append(d.WhatWouldChange, "reactivate the principal (isActive=true)")
	case r.Explanation.ClampedBy == "confirmed_compromised":
		d.Decision = DecisionDeny
		d.Reasons = append(d.Reasons, "principal confirmed compromised by review")
		d.WhatWouldChange = append(d.WhatWouldChange, "an alert review with confirm-safe")
	case score >= allow:
		d.Decision = DecisionAllow
		d.Reasons = append(d.Reasons, scoreText+" meets the "+d.Sensitivity+" allow threshold "+thr(allow))
	case score >= stepUp:
		d.Decision = DecisionStepUp
		d.Reasons = append(d.Reasons, scoreText+" is below the "+d.Sensitivity+" allow threshold "+thr(allow)+" but meets step-up "+thr(stepUp))
		d.WhatWouldChange = append(d.WhatWouldChange, "authenticate at "+d.RequiredAuthentication+" to proceed",
			"raise the trust score to "+thr(allow)+" to be allowed without step-up")
	default:
		d.Decision = DecisionDeny
		d.Reasons = append(d.Reasons, scoreText+" is below the "+d.Sensitivity+" step-up threshold "+thr(stepUp))
		d.WhatWouldChange = append(d.WhatWouldChange, "raise the trust score to "+thr(stepUp)+" for step-up or "+thr(allow)+" to be allowed")
	}
}
