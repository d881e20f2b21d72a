package fsm

import (
	"fmt"
	"sort"
)

// ModelVersion is the version of the scoring model implemented here. Any
// change to scoring results must bump it (and the golden digest).
const ModelVersion = 2

// Policy is the replicated scoring and decision policy (docs/scoring.md; its
// JSON form: docs/api.md, "Policy JSON form"). Every number is an integer:
// points in µpt, rates in µpt per hour, durations in milliseconds, weights
// in parts per million.
type Policy struct {
	// Version counts SetPolicy commands; 0 is the built-in default.
	Version int64
	// Caps are the component maxima (µpt), summing to 100 points.
	Caps [NumComponents]int64
	// Thresholds are the lower bounds (µpt) of low, medium, high, verified.
	Thresholds [4]int64
	// TypeBase is the default baseline per principal type (µpt).
	TypeBase [5]int64
	// Default bounds and rates for new principals.
	DefaultMin, DefaultMax int64
	DefaultDecayRate       int64 // µpt/h
	DefaultRecoveryRate    int64 // µpt/h
	DecayGrace             int64 // ms of inactivity before decay starts
	RecoveryBurst          int64 // µpt: most recovery allowance banked
	EscalationWindow       int64 // ms
	EscalationStep         int64 // percent added per repeat
	EscalationMax          int64 // percent, the highest multiplier
	DedupWindow            int64 // ms
	FutureSkew             int64 // ms an observedAt may be ahead
	EndorseThreshold       int64 // µpt an endorser needs
	EndorseDefaultWeight   int64 // µpt
	EndorseMaxWeight       int64 // µpt per endorsement
	EndorserBudget         int64 // µpt an endorser can hand out
	EndorseCap             int64 // µpt total bonus
	EndorseHops            int64 // chain length considered, ≥1
	FederationCap          int64 // µpt total federated influence
	SignalWindow           int64 // recent signals kept per list
	HistoryWindow          int64 // history points kept
	AlertWindow            int64 // alerts kept per principal
	ModifierLimit          int64 // active modifiers per principal
	SharpDrop              int64 // µpt drop in one event that alerts
	AnomalyThreshold       int64 // anomaly_score (0-100) that alerts
	BurstCount             int64 // negative signals (model 1: authentication) ...
	BurstWindow            int64 // ... within this many ms alert
	TrendWindow            int64 // ms of history the trend looks at
	TrendDelta             int64 // µpt net change for a direction
	VolatileSwings         int64 // direction changes for volatile
	Decision               DecisionPolicy
	Rules                  []FactorRule
	// The fields below came with model 2; a policy encoded without them
	// (a set_policy entry of model 1) gets the built-in values (codec.go).

	// CumulativeDrop (µpt, 0 off) within CumulativeWindow (ms) raises
	// cumulative_drop.
	CumulativeDrop   int64
	CumulativeWindow int64
	// BaselineDeviation (µpt, 0 off): a score this far below the
	// principal's baseline raises baseline_deviation, once the baseline has
	// BaselineMinEvents events; the baseline moves 1/BaselineSmoothing of
	// the way to each new score.
	BaselineDeviation int64
	BaselineMinEvents int64
	BaselineSmoothing int64
	// PrivilegeBurst (0 off) of the PrivilegeEvents (signal event names)
	// within PrivilegeWindow (ms) raises privilege_burst.
	PrivilegeEvents []string
	PrivilegeBurst  int64
	PrivilegeWindow int64
	// HoldTypes are the detection types that hold decisions while pending
	// (confirmed compromises always do), until remediated or reviewed.
	HoldTypes []string
	// Remediations clear detections when an event arrives.
	Remediations []RemediationRule
	// ProducerExpiry (ms) is how long an idle producer's session is
	// remembered; MaxProducers how many are (producer.go).
	ProducerExpiry int64
	MaxProducers   int64
}

// DecisionPolicy holds the decision thresholds (docs/scoring.md, "16.
// Decisions").
type DecisionPolicy struct {
	// Allow and StepUp are the minimum scores (µpt) per sensitivity
	// (low, medium, high, critical).
	Allow  [4]int64
	StepUp [4]int64
	// SessionMax and IdleTimeout (ms) per trust level (untrusted..verified).
	SessionMax  [5]int64
	IdleTimeout [5]int64
	// Permissions activated at or above a score.
	Permissions []PermissionRule
	// Actions map action names to the permission and sensitivity they
	// need, sorted by name (decide_context.go).
	Actions []ActionRule
	// ContextRules tighten decisions where they match, in order.
	ContextRules []ContextRule
	// Routes map the method and path a gateway forwards to an action
	// (RouteAction), first match first.
	Routes []RouteRule
	// UserTokenPartners are the federation partners (identity providers)
	// whose users' JWTs a gateway may send to name the principal; none by
	// default: a partner that pushes risk events does not vouch for
	// identities unless listed here.
	UserTokenPartners []string
	// Hold is the decision (1 step-up, 2 deny) while a detection holds
	// the principal (Policy.HoldTypes, confirmed compromises).
	Hold uint8
}

// PermissionRule activates a permission at a minimum score.
type PermissionRule struct {
	Name     string
	MinScore int64 // µpt
}

// FactorRule awards points to a component when a factor report field
// matches. Op is "eq" (JSON scalar equality, Value is its JSON text),
// "gte"/"lte" (numeric, Value a decimal) or "has" (riskIndicators array
// contains Value).
type FactorRule struct {
	Component uint8
	Key       string
	Op        string
	Value     string
	Points    int64 // µpt, signed
}

// Sensitivities are the decision sensitivities in order.
var Sensitivities = []string{"low", "medium", "high", "critical"}

// Levels are the trust levels in order.
var Levels = []string{"untrusted", "low", "medium", "high", "verified"}

func pts(p int64) int64 { return p * Point }

// DefaultPolicy returns the built-in policy of scoring model 2.
func DefaultPolicy() Policy {
	return Policy{
		Caps:                 [NumComponents]int64{pts(25), pts(23), pts(22), pts(22), pts(8)},
		Thresholds:           [4]int64{pts(30), pts(50), pts(70), pts(90)},
		TypeBase:             [5]int64{pts(50), pts(60), pts(40), pts(50), pts(30)},
		DefaultMin:           0,
		DefaultMax:           pts(100),
		DefaultDecayRate:     5_000,   // 0.005 points/hour
		DefaultRecoveryRate:  100_000, // 0.1 points/hour
		DecayGrace:           24 * hourMS,
		RecoveryBurst:        pts(15),
		EscalationWindow:     7 * 24 * hourMS,
		EscalationStep:       50,
		EscalationMax:        300,
		DedupWindow:          7 * 24 * hourMS,
		FutureSkew:           15 * 60_000,
		EndorseThreshold:     pts(70),
		EndorseDefaultWeight: pts(3),
		EndorseMaxWeight:     pts(5),
		EndorserBudget:       pts(15),
		EndorseCap:           pts(10),
		EndorseHops:          2,
		FederationCap:        pts(20),
		SignalWindow:         10,
		HistoryWindow:        30,
		AlertWindow:          20,
		ModifierLimit:        16,
		SharpDrop:            pts(15),
		AnomalyThreshold:     80,
		BurstCount:           5,
		BurstWindow:          10 * 60_000,
		TrendWindow:          30 * 24 * hourMS,
		TrendDelta:           pts(3),
		VolatileSwings:       3,
		Decision: DecisionPolicy{
			Allow:       [4]int64{pts(30), pts(50), pts(70), pts(85)},
			StepUp:      [4]int64{pts(15), pts(30), pts(50), pts(70)},
			SessionMax:  [5]int64{15 * 60_000, hourMS, 4 * hourMS, 8 * hourMS, 12 * hourMS},
			IdleTimeout: [5]int64{5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 60 * 60_000},
			Permissions: []PermissionRule{
				{Name: "read", MinScore: pts(30)},
				{Name: "write", MinScore: pts(50)},
				{Name: "sensitive_read", MinScore: pts(70)},
				{Name: "admin", MinScore: pts(80)},
				{Name: "production_change", MinScore: pts(85)},
			},
			Actions:      defaultActions(),
			ContextRules: defaultContextRules(),
			Hold:         2,
		},
		Rules:             defaultRules(),
		CumulativeDrop:    pts(25),
		CumulativeWindow:  24 * hourMS,
		BaselineDeviation: pts(20),
		BaselineMinEvents: 10,
		BaselineSmoothing: 16,
		PrivilegeEvents:   []string{"admin_action", "permission_change", "privilege_escalation", "role_granted", "sudo"},
		PrivilegeBurst:    3,
		PrivilegeWindow:   hourMS,
		HoldTypes:         []string{"partner_account_disabled", "partner_credential_compromise"},
		ProducerExpiry:    7 * 24 * hourMS,
		MaxProducers:      100_000,
		Remediations: []RemediationRule{
			// A compromise an analyst confirmed is lifted by a review
			// (least privilege): add "confirmed_compromised" to let these
			// events lift it too.
			{Event: "credential_rotated", Clears: []string{"partner_credential_compromise"}},
			{Event: "hardware_mfa_enrolled", Clears: []string{"partner_credential_compromise"}},
			{Event: "https://schemas.openid.net/secevent/risc/event-type/account-enabled", Clears: []string{"partner_account_disabled"}},
		},
	}
}

// defaultActions maps the usual actions to the default permissions.
func defaultActions() []ActionRule {
	return []ActionRule{
		{Name: "admin", Permission: "admin", Sensitivity: 2},
		{Name: "delete", Permission: "write", Sensitivity: 2},
		{Name: "deploy", Permission: "production_change", Sensitivity: 3},
		{Name: "read", Permission: "read", Sensitivity: 0},
		{Name: "read_sensitive", Permission: "sensitive_read", Sensitivity: 2},
		{Name: "write", Permission: "write", Sensitivity: 1},
	}
}

// defaultContextRules: a device its management reports non-compliant
// steps the request up.
func defaultContextRules() []ContextRule {
	return []ContextRule{{
		Name: "non-compliant-device", Code: "device_untrusted",
		Message:  "the request comes from a device that is not compliant (context.device.compliant is false)",
		When:     []Condition{{Field: "context.device.compliant", Op: "eq", Values: []string{"false"}}},
		Decision: 1, RequiredAAL: 2, Audit: 1,
	}}
}

func rule(c uint8, key, op, value string, points int64) FactorRule {
	return FactorRule{Component: c, Key: key, Op: op, Value: value, Points: points}
}

func defaultRules() []FactorRule {
	a, b, c, ctx := uint8(0), uint8(1), uint8(2), uint8(4)
	return []FactorRule{
		rule(a, "mfa_enabled", "eq", "true", pts(3)),
		rule(a, "mfa_enabled", "eq", "false", -pts(5)),
		rule(a, "mfa_type", "eq", `"hardware_token"`, pts(2)),
		rule(a, "biometric_enrolled", "eq", "true", pts(1)),
		rule(a, "password_strength", "eq", `"weak"`, -pts(3)),
		rule(a, "failed_attempts_30d", "gte", "5", -pts(3)),
		rule(a, "certificate_based", "eq", "true", pts(4)),
		rule(a, "mutual_tls", "eq", "true", pts(4)),
		rule(a, "key_rotation", "eq", `"never"`, -pts(4)),
		rule(b, "login_consistency", "gte", "0.9", pts(2)),
		rule(b, "login_consistency", "lte", "0.5", -pts(3)),
		rule(b, "typical_hours", "eq", "false", -pts(2)),
		rule(b, "anomaly_score", "gte", "50", -pts(5)),
		rule(b, "api_call_pattern", "eq", `"consistent"`, pts(3)),
		rule(b, "error_rate", "lte", "0.01", pts(2)),
		rule(b, "data_patterns", "eq", `"anomalous"`, -pts(5)),
		rule(c, "training_completed", "eq", "true", pts(1)),
		rule(c, "training_current", "eq", "true", pts(1)),
		rule(c, "training_completed", "eq", "false", -pts(3)),
		rule(c, "violations_ytd", "gte", "1", -pts(3)),
		rule(c, "policy_violations", "gte", "1", -pts(3)),
		rule(c, "security_scans", "eq", `"passed"`, pts(2)),
		rule(c, "vulnerability_assessment", "eq", `"clean"`, pts(2)),
		rule(c, "pci_compliant", "eq", "true", pts(1)),
		rule(ctx, "occasional_vpn_use", "has", "", -pts(1)/2),
		rule(ctx, "multiple_devices", "has", "", -pts(1)/2),
		rule(ctx, "new_device", "has", "", -pts(1)),
		rule(ctx, "location_change", "has", "", -pts(1)),
		rule(ctx, "after_hours_access", "has", "", -pts(1)),
		rule(ctx, "impossible_travel", "has", "", -pts(4)),
		rule(ctx, "tor_exit_node", "has", "", -pts(4)),
		rule(ctx, "internet_facing", "has", "", -pts(4)),
		rule(ctx, "handles_cardholder_data", "has", "", -pts(3)),
		rule(ctx, "device_managed", "eq", "true", pts(2)),
		rule(ctx, "network", "eq", `"corporate"`, pts(1)),
	}
}

// Validate checks a policy for internal consistency.
func (p *Policy) Validate() error {
	for _, check := range []func() error{p.validateScale, p.validateBounds, p.Decision.validate, p.validateRules, p.validateDetections} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validateScale checks the component caps, the level thresholds and the
// per-type base scores against the 100-point scale.
func (p *Policy) validateScale() error {
	var sum int64
	for i, c := range p.Caps {
		if c <= 0 {
			return fmt.Errorf("caps.%s: must be positive", Categories[i])
		}
		sum += c
	}
	if sum != pts(100) {
		return fmt.Errorf("caps: must sum to 100 points, got %s", FormatDecimal(sum, 6))
	}
	prev := int64(0)
	for i, t := range p.Thresholds {
		if t <= prev || t > pts(100) {
			return fmt.Errorf("thresholds.%s: must be increasing within (0, 100]", Levels[i+1])
		}
		prev = t
	}
	for i, b := range p.TypeBase {
		if b < 0 || b > pts(100) {
			return fmt.Errorf("typeBase.%s: must be within [0, 100]", PrincipalTypes[i])
		}
	}
	return nil
}

// validateBounds checks each scalar parameter against its closed range.
func (p *Policy) validateBounds() error {
	checks := []struct {
		name      string
		v, lo, hi int64
	}{
		{"defaultMin", p.DefaultMin, 0, pts(100)},
		{"defaultMax", p.DefaultMax, p.DefaultMin, pts(100)},
		{"defaultDecayRate", p.DefaultDecayRate, 0, pts(100)},
		{"defaultRecoveryRate", p.DefaultRecoveryRate, 0, pts(100)},
		{"decayGrace", p.DecayGrace, 0, 365 * 24 * hourMS},
		{"recoveryBurst", p.RecoveryBurst, 0, pts(100)},
		{"escalationWindow", p.EscalationWindow, 0, 365 * 24 * hourMS},
		{"escalationStep", p.EscalationStep, 0, 1000},
		{"escalationMax", p.EscalationMax, 100, 1000},
		{"dedupWindow", p.DedupWindow, hourMS, 365 * 24 * hourMS},
		{"futureSkew", p.FutureSkew, 0, 24 * hourMS},
		{"endorseThreshold", p.EndorseThreshold, 0, pts(100)},
		{"endorseDefaultWeight", p.EndorseDefaultWeight, 0, p.EndorseMaxWeight},
		{"endorseMaxWeight", p.EndorseMaxWeight, 0, pts(100)},
		{"endorserBudget", p.EndorserBudget, 0, pts(100)},
		{"endorseCap", p.EndorseCap, 0, pts(100)},
		{"endorseHops", p.EndorseHops, 1, 4},
		{"federationCap", p.FederationCap, 0, pts(100)},
		{"signalWindow", p.SignalWindow, 1, 100},
		{"historyWindow", p.HistoryWindow, 2, 500},
		{"alertWindow", p.AlertWindow, 1, 200},
		{"modifierLimit", p.ModifierLimit, 1, 100},
		{"sharpDrop", p.SharpDrop, Point, pts(100)},
		{"anomalyThreshold", p.AnomalyThreshold, 1, 100},
		{"burstCount", p.BurstCount, 2, 1000},
		{"burstWindow", p.BurstWindow, 1000, 7 * 24 * hourMS},
		{"trendWindow", p.TrendWindow, hourMS, 365 * 24 * hourMS},
		{"trendDelta", p.TrendDelta, 0, pts(100)},
		{"volatileSwings", p.VolatileSwings, 1, 100},
		{"cumulativeDrop", p.CumulativeDrop, 0, pts(100)},
		{"cumulativeWindow", p.CumulativeWindow, 60_000, 30 * 24 * hourMS},
		{"baselineDeviation", p.BaselineDeviation, 0, pts(100)},
		{"baselineMinEvents", p.BaselineMinEvents, 1, 1<<16 - 1},
		{"baselineSmoothing", p.BaselineSmoothing, 1, 1024},
		{"privilegeBurst", p.PrivilegeBurst, 0, 1000},
		{"privilegeWindow", p.PrivilegeWindow, 1000, 30 * 24 * hourMS},
		{"producerExpiry", p.ProducerExpiry, hourMS, 365 * 24 * hourMS},
		{"maxProducers", p.MaxProducers, 1, 1_000_000},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return fmt.Errorf("%s: must be within [%d, %d], got %d", c.name, c.lo, c.hi, c.v)
		}
	}
	return nil
}

// validate checks the decision thresholds, the session limits per level and
// the permission rules.
func (d *DecisionPolicy) validate() error {
	for i := range d.Allow {
		if d.StepUp[i] < 0 || d.StepUp[i] > d.Allow[i] || d.Allow[i] > pts(100) {
			return fmt.Errorf("decision.%s: need 0 ≤ stepUp ≤ allow ≤ 100", Sensitivities[i])
		}
		if i > 0 && d.Allow[i] < d.Allow[i-1] {
			return fmt.Errorf("decision.allow.%s: must not be below %s", Sensitivities[i], Sensitivities[i-1])
		}
	}
	if d.Hold != 1 && d.Hold != 2 {
		return fmt.Errorf("decision.hold: must be step_up or deny")
	}
	for i := range d.SessionMax {
		if d.SessionMax[i] <= 0 || d.IdleTimeout[i] <= 0 || d.IdleTimeout[i] > d.SessionMax[i] {
			return fmt.Errorf("decision.session.%s: need 0 < idleTimeout ≤ sessionMax", Levels[i])
		}
	}
	if len(d.Permissions) > 256 {
		return fmt.Errorf("decision.permissions: at most 256")
	}
	seen := map[string]bool{}
	for _, r := range d.Permissions {
		if r.Name == "" || len(r.Name) > MaxIDLen || seen[r.Name] {
			return fmt.Errorf("decision.permissions: name %q empty, too long or repeated", r.Name)
		}
		seen[r.Name] = true
		if r.MinScore < 0 || r.MinScore > pts(100) {
			return fmt.Errorf("decision.permissions.%s: minScore must be within [0, 100]", r.Name)
		}
	}
	return d.validateContext(seen)
}

// validateContext checks the action map (sorted, unique names, known
// permissions) and the context rules.
func (d *DecisionPolicy) validateContext(perms map[string]bool) error {
	if len(d.Actions) > MaxActions {
		return fmt.Errorf("decision.actions: at most %d", MaxActions)
	}
	for i := range d.Actions {
		if err := d.Actions[i].validate(perms); err != nil {
			return err
		}
		if i > 0 && d.Actions[i-1].Name >= d.Actions[i].Name {
			return fmt.Errorf("decision.actions: %q is repeated or out of order", d.Actions[i].Name)
		}
	}
	if len(d.ContextRules) > MaxContextRules {
		return fmt.Errorf("decision.contextRules: at most %d", MaxContextRules)
	}
	if err := validateRoutes(d.Routes); err != nil {
		return err
	}
	if len(d.UserTokenPartners) > MaxActions {
		return fmt.Errorf("decision.userTokenPartners: at most %d", MaxActions)
	}
	for _, id := range d.UserTokenPartners {
		if checkID("decision.userTokenPartners", id) != nil {
			return fmt.Errorf("decision.userTokenPartners: %q is not a partner id", id)
		}
	}
	names := map[string]bool{}
	values := 0
	for i := range d.ContextRules {
		r := &d.ContextRules[i]
		if err := r.validate(fmt.Sprintf("decision.contextRules[%d]", i), perms); err != nil {
			return err
		}
		for _, c := range r.When {
			values += len(c.Values)
		}
		if values > MaxConditionValuesTotal {
			return fmt.Errorf("decision.contextRules[%d]: the rules' conditions hold more than %d values together", i, MaxConditionValuesTotal)
		}
		if names[r.Name] {
			return fmt.Errorf("decision.contextRules[%d].name: %q is repeated", i, r.Name)
		}
		names[r.Name] = true
	}
	return nil
}

// validateRules checks the factor rules: component, key, operator, value and
// points.
func (p *Policy) validateRules() error {
	if len(p.Rules) > 1024 {
		return fmt.Errorf("rules: at most 1024")
	}
	for i, r := range p.Rules {
		if int(r.Component) >= NumComponents || r.Key == "" || len(r.Key) > MaxIDLen || len(r.Value) > MaxIDLen {
			return fmt.Errorf("rules[%d]: bad component, key or value", i)
		}
		switch r.Op {
		case "eq", "has":
		case "gte", "lte":
			if _, ok := ParseDecimal(r.Value, 6); !ok {
				return fmt.Errorf("rules[%d].value: not a decimal number", i)
			}
		default:
			return fmt.Errorf("rules[%d].op: must be eq, gte, lte or has", i)
		}
		if abs64(r.Points) > pts(100) {
			return fmt.Errorf("rules[%d].points: must be within [-100, 100]", i)
		}
	}
	return nil
}

// sortedPermissions returns the permission rules ordered by score then name.
func sortedPermissions(rules []PermissionRule) []PermissionRule {
	out := append([]PermissionRule(nil), rules...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].MinScore != out[j].MinScore {
			return out[i].MinScore < out[j].MinScore
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// levelOf maps a score (µpt) to its level index.
func (p *Policy) levelOf(score int64) int {
	lvl := 0
	for i, t := range p.Thresholds {
		if score >= t {
			lvl = i + 1
		}
	}
	return lvl
}

// Limits of the detection rules' lists.
const (
	maxPrivilegeEvents = 64
	maxHoldTypes       = 64
	maxRemediations    = 64
	maxClears          = 16
)

// validateDetections checks the detection rules' lists: privilege events,
// hold types and remediation rules.
func (p *Policy) validateDetections() error {
	if len(p.PrivilegeEvents) > maxPrivilegeEvents {
		return fmt.Errorf("privilegeEvents: at most %d", maxPrivilegeEvents)
	}
	for _, e := range p.PrivilegeEvents {
		if e == "" || len(e) > MaxEventNameLen {
			return fmt.Errorf("privilegeEvents: event names must be 1-%d bytes", MaxEventNameLen)
		}
	}
	if len(p.HoldTypes) > maxHoldTypes {
		return fmt.Errorf("holdTypes: at most %d", maxHoldTypes)
	}
	for _, t := range p.HoldTypes {
		if !validLedgerID(t) {
			return fmt.Errorf("holdTypes: %q is not a detection type", t)
		}
	}
	if len(p.Remediations) > maxRemediations {
		return fmt.Errorf("remediations: at most %d", maxRemediations)
	}
	for i, r := range p.Remediations {
		if r.Event == "" || len(r.Event) > MaxTextLen {
			return fmt.Errorf("remediations[%d].event: must be 1-%d bytes", i, MaxTextLen)
		}
		if len(r.Clears) == 0 || len(r.Clears) > maxClears {
			return fmt.Errorf("remediations[%d].clears: need 1 to %d detection types", i, maxClears)
		}
		for _, t := range r.Clears {
			if !validLedgerID(t) {
				return fmt.Errorf("remediations[%d].clears: %q is not a detection type", i, t)
			}
		}
	}
	return nil
}
