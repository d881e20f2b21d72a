package fsm

// Signals, factor reports and the alerts they raise.

import (
	"fmt"
	"sort"
	"strconv"
)

func pushSignal(list []signalEntry, e signalEntry, window int) []signalEntry {
	if len(list) >= window {
		copy(list, list[len(list)-window+1:])
		list = list[:window-1]
	}
	if cap(list) < window && len(list) == cap(list) {
		grown := make([]signalEntry, len(list), window)
		copy(grown, list)
		list = grown
	}
	return append(list, e)
}

func (r *rules) signals(c *RecordSignals) error {
	if len(c.Signals) == 0 || len(c.Signals) > MaxSignalsPerCmd {
		return reject("signals", "invalid", "need 1 to %d signals", MaxSignalsPerCmd)
	}
	if c.Producer != nil {
		_, err := r.producerVerdict(c.Producer)
		return err
	}
	return nil
}

// applySignals applies a batch signal by signal: each one is rejected,
// skipped as a duplicate or applied, as signalVerdict says.
func (l *Ledger) applySignals(c *RecordSignals, actor string, res *Result) {
	r := l.rulesAt(actor, l.now)
	res.Signals = make([]SignalResult, len(c.Signals))
	var batch map[dedupKey]bool // a producer's batch: its ids, not kept
	if c.Producer != nil {
		if v, _ := r.producerVerdict(c.Producer); v == producerDuplicate {
			for i := range c.Signals {
				res.Signals[i] = SignalResult{EventID: c.Signals[i].EventID, Status: StatusDuplicate}
			}
			l.counts.SignalsDuplicate += uint64(len(c.Signals))
			return
		}
		batch = make(map[dedupKey]bool, len(c.Signals))
	}
	touched := make([]string, 0, 4)
	for i := range c.Signals {
		s := &c.Signals[i]
		p, k, status, rej := r.signalVerdict(s, batch)
		res.Signals[i] = SignalResult{EventID: s.EventID, Status: status}
		switch status {
		case StatusRejected:
			res.Signals[i].Reason = rej.Error()
			l.counts.SignalsRejected++
			continue
		case StatusDuplicate:
			l.counts.SignalsDuplicate++
			continue
		}
		if batch != nil {
			batch[k] = true
		} else {
			l.remember(k)
		}
		l.counts.SignalsAccepted++
		p = l.mutable(p)
		touched = append(touched, p.ID)
		res.Alerts = append(res.Alerts, l.signal(p, s, actor)...)
	}
	// A producer's batch counts as applied when a signal of it was (then
	// a retry of it is a duplicate, whatever its other signals became);
	// one of which nothing applied changes nothing, and may be sent again.
	if c.Producer != nil && len(touched) > 0 {
		l.sweepProducers()
		l.takeProducer(r, c.Producer)
	}
	res.Subjects = uniqueSorted(touched)
}

// signalVerdict is what Apply does with one signal of a batch: reject it
// (status StatusRejected, rej says why), skip it as a duplicate, or accept
// it for principal p, remembering dedup key k. pending holds the keys of
// signals accepted earlier in the batch that the ledger does not remember
// yet (Ledger.CheckSignals); Apply remembers as it goes and passes nil.
func (r *rules) signalVerdict(s *Signal, pending map[dedupKey]bool) (p *principal, k dedupKey, status string, rej *RejectError) {
	if p, rej = r.checkSignal(s); rej != nil {
		return nil, k, StatusRejected, rej
	}
	k = dedupHash('s', s.EventID)
	if r.seen(k) || pending[k] {
		return p, k, StatusDuplicate, nil
	}
	return p, k, StatusAccepted, nil
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// checkSignal validates one signal against the state and the actor's
// organizations; nil means valid, and then p is the principal it is about.
func (r *rules) checkSignal(s *Signal) (*principal, *RejectError) {
	p := r.l.principals.get(s.PrincipalID)
	switch {
	case s.EventID == "" || len(s.EventID) > MaxIDLen:
		return nil, rejection("eventId", "invalid", "must be 1-128 bytes")
	case !validLedgerID(s.PrincipalID):
		return nil, rejection("principalId", "invalid", "invalid identifier")
	case p == nil:
		return nil, rejection("principalId", "not_found", "unknown principal")
	case s.Event == "" || len(s.Event) > MaxEventNameLen:
		return nil, rejection("event", "invalid", "must be 1-128 bytes")
	case int(s.Category) >= NumComponents:
		return nil, rejection("category", "invalid", "unknown category")
	case s.Impact < -pts(100) || s.Impact > pts(100):
		return nil, rejection("impact", "invalid", "must be within [-100, 100]")
	case s.ObservedAt != 0 && s.ObservedAt < r.now-r.l.policy.DedupWindow:
		return nil, rejection("observedAt", "invalid", "older than the deduplication window")
	case s.ObservedAt > r.now+r.l.policy.FutureSkew:
		return nil, rejection("observedAt", "invalid", "in the future")
	case checkJSON("attributes", s.Attributes, '{') != nil:
		return nil, rejection("attributes", "invalid", "must be a JSON object")
	case !inScope(r.scope, p.Org):
		return nil, rejection("principalId", "scope", "outside the token's organizations")
	}
	return p, nil
}

// ruleScore is the score (µpt) the rules over an event's score change
// measure, given p's full score exact: that score, or for an entry of
// model 1 the principal's own bounded score, as model 1 measured.
func (l *Ledger) ruleScore(p *principal, exact int64) int64 {
	if l.v1() {
		return p.bound(l.local(p, l.now))
	}
	return exact
}

func (l *Ledger) signal(p *principal, s *Signal, actor string) []RaisedAlert {
	before := l.ruleScore(p, l.begin(p, true))
	c := int(s.Category)
	var applied int64
	if s.Impact < 0 {
		n := uint16(1)
		if p.EscCount[c] > 0 && l.now-p.EscAt[c] <= l.policy.EscalationWindow {
			n = p.EscCount[c] + 1
			if n == 0 {
				n = 0xffff
			}
		}
		p.EscCount[c], p.EscAt[c] = n, l.now
		mult := min(100+int64(n-1)*l.policy.EscalationStep, l.policy.EscalationMax)
		loss := mulDiv(-s.Impact, mult, 100, pts(1000))
		l.lower(p, c, loss, true)
		applied = -loss
	} else {
		applied = l.raise(p, c, s.Impact)
	}
	e := signalEntry{At: l.now, Event: l.eventName(s.Event) | uint32(c)<<29, Impact: int32(applied / 1000)} // #nosec G115 -- category < 5 and |impact| ≤ 1000 points, so milli-points fit int32
	w := int(l.policy.SignalWindow)
	failure := s.Impact < 0 && (c == 0 || !l.v1()) // model 1 counted failed authentication only
	if s.Impact < 0 {
		p.Negative = pushSignal(p.Negative, e, w)
		if failure {
			p.Failures = append(p.Failures, l.now)
			if int64(len(p.Failures)) > l.policy.BurstCount {
				p.Failures = p.Failures[1:]
			}
		}
	} else {
		p.Positive = pushSignal(p.Positive, e, w)
	}
	p.Events++
	p.LastEvent = l.now
	var raised []RaisedAlert
	if !p.Active {
		raised = l.raiseAlert(p, raised, SourceRule, "inactive_activity", "high", s.EventID, "signal "+s.Event+" for an inactive principal")
	}
	if failure && int64(len(p.Failures)) >= l.policy.BurstCount {
		what := "negative signals"
		if l.v1() {
			what = "failed authentication signals"
		}
		raised = l.raiseAlert(p, raised, SourceRule, "failure_burst", "high", s.EventID,
			fmt.Sprintf("%d %s within %s", len(p.Failures), what, durationText(l.policy.BurstWindow)))
	}
	if a, ok := anomalyScore(s.Attributes); ok && a >= l.policy.AnomalyThreshold*Point {
		raised = l.raiseAlert(p, raised, SourceSignal, "anomaly_score", "high", s.EventID, "anomaly score "+FormatDecimal(a, 6)+" on "+s.Event)
	}
	raised = l.privilegeRule(p, raised, s.Event, s.EventID)
	if s.Impact >= 0 {
		l.remediateBy(p, s.Event, s.EventID, actor, "")
	}
	after := l.score(p, l.now)
	raised = l.scoreRules(p, raised, before, l.ruleScore(p, after), s.EventID, s.Event)
	l.recordHistoryAt(p, CauseSignal, s.EventID, after)
	return raised
}

func durationText(ms int64) string {
	switch {
	case ms%hourMS == 0:
		return strconv.FormatInt(ms/hourMS, 10) + "h"
	case ms%60_000 == 0:
		return strconv.FormatInt(ms/60_000, 10) + "m"
	}
	return strconv.FormatInt(ms/1000, 10) + "s"
}

// factorNames are the factor reports in component order, and factorKinds
// the JSON kind of each.
var (
	factorNames = [NumComponents]string{"authenticationFactors", "behaviorMetrics", "complianceStatus", "riskIndicators", "context"}
	factorKinds = [NumComponents]byte{'{', '{', '{', '[', '{'}
)

// checkFactorReports checks factor reports in component order.
func checkFactorReports(parts [NumComponents][]byte) error {
	for i, b := range parts {
		if err := checkJSON(factorNames[i], b, factorKinds[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *ReportFactors) parts() [NumComponents][]byte {
	return [NumComponents][]byte{c.AuthenticationFactors, c.BehaviorMetrics, c.ComplianceStatus, c.RiskIndicators, c.Context}
}

func (r *rules) factors(c *ReportFactors) error {
	if _, err := r.principal("principalId", c.PrincipalID); err != nil {
		return err
	}
	if err := r.principalInScope("principalId", c.PrincipalID); err != nil {
		return err
	}
	parts := c.parts()
	if err := checkFactorReports(parts); err != nil {
		return err
	}
	for _, b := range parts {
		if len(b) > 0 {
			return nil
		}
	}
	return reject("factors", "invalid", "at least one factor report is required")
}

func (l *Ledger) applyFactors(c *ReportFactors, res *Result) {
	parts := c.parts()
	p := l.mutable(l.principals.get(c.PrincipalID))
	before := l.ruleScore(p, l.begin(p, true))
	p.ownCold()
	if p.Factors == nil {
		p.Factors = &[NumComponents][]byte{}
	} else {
		f := *p.Factors
		p.Factors = &f
	}
	for i, b := range parts {
		if len(b) > 0 {
			p.Factors[i] = compactJSON(b)
		}
	}
	// riskIndicators (index 3 in the report) feed the context component
	// together with the context report.
	adj := factorAdjustments(l.policy.Rules, p.Factors)
	var raised []RaisedAlert
	for comp := 0; comp < NumComponents; comp++ {
		delta := adj[comp] - p.FactorScore[comp]
		p.FactorScore[comp] = adj[comp]
		if delta > 0 {
			l.raise(p, comp, delta)
		} else {
			l.lower(p, comp, -delta, false)
		}
	}
	if a, ok := anomalyScore(p.Factors[1]); ok && len(parts[1]) > 0 && a >= l.policy.AnomalyThreshold*Point {
		raised = l.raiseAlert(p, raised, SourceSignal, "anomaly_score", "high", "", "behaviorMetrics anomaly_score "+FormatDecimal(a, 6))
	}
	if !p.Active {
		raised = l.raiseAlert(p, raised, SourceRule, "inactive_activity", "high", "", "factor report for an inactive principal")
	}
	p.Events++
	p.LastEvent = l.now
	after := l.score(p, l.now)
	raised = l.scoreRules(p, raised, before, l.ruleScore(p, after), "", "a factor report")
	l.recordHistoryAt(p, CauseFactors, "", after)
	res.Subjects = []string{p.ID}
	res.Alerts = raised
}
