package fsm

// Detections (docs/scoring.md, "12. Detections and review"): typed, with a
// source and a review state machine; the holds they place on decisions
// until a remediation; and the windowed insider-threat rules that raise
// them.

import (
	"strconv"
)

// Detection sources.
const (
	SourceSignal  = "signal"  // an event's own content (an anomaly score)
	SourceRule    = "rule"    // a ledger rule over the principal's evidence
	SourcePartner = "partner" // a federation partner's SET
	SourceImport  = "import"  // an imported record that required review
)

var detectionSources = []string{SourceRule, SourceSignal, SourcePartner, SourceImport}

// maxDetectionEvents bounds the event ids a detection keeps.
const maxDetectionEvents = 16

// transition is one change of a detection's state: the ledger command
// that made it (a review, or the remediation event), by whom and why.
type transition struct {
	State  string
	At     int64
	By     string
	Reason string
}

// terminalStates are final: no review changes them.
var terminalStates = map[string]bool{AlertRemediated: true, AlertDismissed: true, AlertConfirmedSafe: true}

// reviewFrom lists, for each review action, the states it may leave and the
// state it sets.
var reviewFrom = map[string]struct {
	from []string
	to   string
}{
	ReviewAcknowledge:        {[]string{AlertOpen}, AlertAcknowledged},
	ReviewDismiss:            {[]string{AlertOpen, AlertAcknowledged}, AlertDismissed},
	ReviewConfirmSafe:        {[]string{AlertOpen, AlertAcknowledged}, AlertConfirmedSafe},
	ReviewConfirmCompromised: {[]string{AlertOpen, AlertAcknowledged}, AlertConfirmedCompromised},
	ReviewRemediate:          {[]string{AlertOpen, AlertAcknowledged, AlertConfirmedCompromised}, AlertRemediated},
}

// pending says whether a detection still awaits an outcome.
func (a *alert) pending() bool { return a.Status == AlertOpen || a.Status == AlertAcknowledged }

// holds says whether a detection holds the principal's decisions (at the
// policy's hold decision) until it is remediated: confirmed compromised, or
// of a hold type (a partner's credential-compromise or account-disabled)
// and not yet reviewed to an outcome.
func (pol *Policy) holds(a *alert) bool {
	if a.Status == AlertConfirmedCompromised {
		return true
	}
	return a.pending() && contains(pol.HoldTypes, a.Type)
}

// holdsOf lists the detections of p that hold its decisions under pol.
func (pol *Policy) holdsOf(p *principal) []HoldView {
	out := []HoldView{}
	for i := range p.Alerts {
		if a := &p.Alerts[i]; pol.holds(a) {
			out = append(out, HoldView{DetectionID: a.ID, Type: a.Type, State: a.Status})
		}
	}
	return out
}

// reviewAllowed is the review state machine: nil when the action may move
// the detection from its state, else the rejection.
func (l *Ledger) reviewAllowed(id, action string) error {
	pid := l.alertIdx[id]
	rf := reviewFrom[action]
	for _, a := range l.principals.get(pid).Alerts {
		if a.ID == id && !contains(rf.from, a.Status) {
			return reject("action", "conflict", "detection %s is %s: %s is not allowed from it", id, a.Status, action)
		}
	}
	return nil
}

// transition moves p's detection i to state and recomputes whether p is
// confirmed compromised.
func (l *Ledger) transition(p *principal, i int, state, by, reason string) {
	l.setState(p, i, state, by, reason)
	l.recompromise(p)
}

// setState records p's detection i's move to state, by whom and why.
func (l *Ledger) setState(p *principal, i int, state, by, reason string) {
	a := &p.Alerts[i]
	a.Status, a.ReviewedAt, a.ReviewedBy, a.Note = state, l.now, by, reason
	a.Transitions = append(append([]transition(nil), a.Transitions...), transition{State: state, At: l.now, By: by, Reason: reason})
	if a.Type == "cumulative_drop" && !a.pending() {
		// The drop was judged: the window starts again from here, so the
		// same drop does not raise the detection again.
		p.Drops = nil
	}
}

// recompromise sets p.Compromised from its detections: a principal is
// confirmed compromised while one of them is.
func (l *Ledger) recompromise(p *principal) {
	p.Compromised = false
	for i := range p.Alerts {
		p.Compromised = p.Compromised || p.Alerts[i].Status == AlertConfirmedCompromised
	}
}

// remediateBy applies the policy's remediation rules to an event about p:
// each rule whose event matches clears p's held or pending detections of
// the types it names ("confirmed_compromised" names every detection in
// that state), moving them to remediated with the event as the reason. A
// partner's event (partner set) clears only what that partner raised: one
// partner cannot lift another's report, nor a review's confirmation.
func (l *Ledger) remediateBy(p *principal, event, eventID, actor, partner string) {
	if l.v1() {
		return
	}
	for _, rr := range l.policy.Remediations {
		if rr.Event != event {
			continue
		}
		for i := range p.Alerts {
			a := &p.Alerts[i]
			match := a.pending() && contains(rr.Clears, a.Type) || a.Status == AlertConfirmedCompromised && contains(rr.Clears, AlertConfirmedCompromised)
			if match && (partner == "" || a.Partner == partner && a.Status != AlertConfirmedCompromised) {
				l.transition(p, i, AlertRemediated, actor, "remediated by "+event+" ("+eventID+")")
			}
		}
	}
}

// raiseAlert opens a detection unless one of the same type is pending, in
// which case the event joins that one's evidence.
func (l *Ledger) raiseAlert(p *principal, raised []RaisedAlert, src, typ, severity, eventID, msg string) []RaisedAlert {
	return l.raiseAlertFor(p, raised, src, typ, severity, eventID, msg, "")
}

// raiseAlertFor is raiseAlert for a detection a partner reports: each
// partner's report is its own detection, which only that partner's events
// remediate (model 1 joined reports of one type, whoever sent them).
func (l *Ledger) raiseAlertFor(p *principal, raised []RaisedAlert, src, typ, severity, eventID, msg, partner string) []RaisedAlert {
	p.ownCold()
	for i := range p.Alerts {
		if a := &p.Alerts[i]; a.Type == typ && a.pending() && (l.v1() || a.Partner == partner) {
			if eventID != "" && len(a.EventIDs) < maxDetectionEvents && !contains(a.EventIDs, eventID) {
				a.EventIDs = append(append([]string(nil), a.EventIDs...), eventID)
			}
			return raised
		}
	}
	if w := int(l.policy.AlertWindow); len(p.Alerts) >= w {
		// When every detection kept holds the principal, none is dropped
		// (that would lift a hold) and the list grows past the window:
		// holding detections are at most one per hold type and partner
		// pending, plus those an analyst confirmed.
		if victim := l.evictable(p); victim >= 0 {
			delete(l.alertIdx, p.Alerts[victim].ID)
			p.Alerts = append(p.Alerts[:victim], p.Alerts[victim+1:]...)
		}
	}
	id := l.alertID(p.ID)
	a := alert{ID: id, Type: typ, Severity: severity, RaisedAt: l.now, Message: msg, Status: AlertOpen, Source: src, Partner: partner}
	if eventID != "" {
		a.EventIDs = []string{eventID}
	}
	p.Alerts = append(p.Alerts, a)
	l.alertIdx[id] = p.ID
	l.counts.Alerts++
	l.raised = append(l.raised, RaisedAlert{ID: id, PrincipalID: p.ID})
	return append(raised, RaisedAlert{ID: id, PrincipalID: p.ID})
}

// evictable is the detection to drop when p keeps as many as the policy
// allows: the oldest with an outcome, else the oldest pending one that
// holds nothing; -1 when every one holds the principal. Model 1 dropped
// the oldest with an outcome, else the oldest.
func (l *Ledger) evictable(p *principal) int {
	if l.v1() {
		for i := range p.Alerts {
			if !p.Alerts[i].pending() {
				return i
			}
		}
		return 0
	}
	for i := range p.Alerts {
		if a := &p.Alerts[i]; !a.pending() && !l.policy.holds(a) {
			return i
		}
	}
	for i := range p.Alerts {
		if !l.policy.holds(&p.Alerts[i]) {
			return i
		}
	}
	return -1
}

// dropPoint packs a (ledger time ms, whole score points) pair of the
// cumulative-drop window.
type dropPoint uint64

func packDrop(at, score int64) dropPoint {
	return dropPoint(uint64(max(at, 0))<<8 | uint64(clamp(score, 0, 100))) // #nosec G115 -- at ≥ 0; the shift keeps 56 bits of ms
}
func (d dropPoint) at() int64    { return int64(uint64(d) >> 8) }
func (d dropPoint) score() int64 { return int64(uint64(d) & 0xff) }

// observe adds a score (whole points) at ledger time now to p's
// cumulative-drop window: a deque of strictly decreasing scores, so its
// front is the highest score within the window and it never holds more
// than 101 points.
func (l *Ledger) observe(p *principal, score int64) {
	w := l.policy.CumulativeWindow
	n := 0
	for _, d := range p.Drops {
		if d.at() > l.now-w {
			p.Drops[n] = d
			n++
		}
	}
	p.Drops = p.Drops[:n]
	for len(p.Drops) > 0 && p.Drops[len(p.Drops)-1].score() <= score {
		p.Drops = p.Drops[:len(p.Drops)-1]
	}
	p.Drops = append(p.Drops, packDrop(l.now, score))
}

// cumulativeRule adds a history point's score (whole points) to p's
// cumulative-drop window and raises cumulative_drop when it lies
// CumulativeDrop or more below the highest score within the window.
// Every history point feeds it, whatever changed the score (history.go),
// and it raises into the entry's alerts (Ledger.raised).
func (l *Ledger) cumulativeRule(p *principal, score int64, eventID string) {
	pol := &l.policy
	if pol.CumulativeDrop <= 0 || l.v1() {
		return
	}
	l.observe(p, score)
	if top := p.Drops[0]; (top.score()-score)*Point >= pol.CumulativeDrop {
		l.raiseAlert(p, nil, SourceRule, "cumulative_drop", "high", eventID,
			"score fell from "+strconv.FormatInt(top.score(), 10)+" at "+FormatTime(top.at())+" to "+strconv.FormatInt(score, 10)+
				" within "+durationText(pol.CumulativeWindow))
	}
}

// scoreRules runs the rules over p's score that an event moved from before
// to after (µpt, the full score): a sharp drop in one event, a deviation
// from p's own baseline. For an entry of model 1 the scores are the
// principal's own bounded score, as model 1 measured sharp drops, and
// there is no baseline rule.
func (l *Ledger) scoreRules(p *principal, raised []RaisedAlert, before, after int64, eventID, what string) []RaisedAlert {
	pol := &l.policy
	if before-after >= pol.SharpDrop {
		raised = l.raiseAlert(p, raised, SourceRule, "sharp_drop", "high", eventID,
			"score fell "+FormatDecimal(before-after, 6)+" points on "+what)
	}
	if pol.BaselineDeviation > 0 && !l.v1() {
		if int64(p.BaselineN) >= pol.BaselineMinEvents && p.Baseline-after >= pol.BaselineDeviation {
			raised = l.raiseAlert(p, raised, SourceRule, "baseline_deviation", "medium", eventID,
				"score "+FormatDecimal(after, 6)+" is "+FormatDecimal(p.Baseline-after, 6)+" points below the principal's baseline "+
					FormatDecimal(p.Baseline, 6))
		}
		if p.BaselineN == 0 {
			p.Baseline = after
		} else {
			p.Baseline += (after - p.Baseline) / max(pol.BaselineSmoothing, 1)
		}
		if p.BaselineN < 1<<16-1 {
			p.BaselineN++
		}
	}
	return raised
}

// privilegeRule counts p's privilege-related events (the policy's list)
// within the window and raises privilege_burst at the policy's count.
func (l *Ledger) privilegeRule(p *principal, raised []RaisedAlert, event, eventID string) []RaisedAlert {
	pol := &l.policy
	if pol.PrivilegeBurst <= 0 || l.v1() || !contains(pol.PrivilegeEvents, event) {
		return raised
	}
	p.ownCold()
	kept := make([]int64, 0, pol.PrivilegeBurst)
	for _, t := range p.Privileged {
		if t > l.now-pol.PrivilegeWindow {
			kept = append(kept, t)
		}
	}
	kept = append(kept, l.now)
	if int64(len(kept)) > pol.PrivilegeBurst {
		kept = kept[1:]
	}
	p.Privileged = kept
	if int64(len(kept)) >= pol.PrivilegeBurst {
		raised = l.raiseAlert(p, raised, SourceRule, "privilege_burst", "high", eventID,
			strconv.Itoa(len(kept))+" privilege-related events within "+durationText(pol.PrivilegeWindow))
	}
	return raised
}

// RemediationRule clears detections when an event arrives: Event is a
// signal's event name or a SET's event type; Clears lists detection types
// (and "confirmed_compromised" for every detection confirmed so).
type RemediationRule struct {
	Event  string
	Clears []string
}

// DetectionView is one detection (GET /v1/detections).
type DetectionView struct {
	DetectionID string           `json:"detectionId"`
	PrincipalID string           `json:"principalId"`
	Type        string           `json:"type"`
	Source      string           `json:"source"`
	PartnerID   string           `json:"partnerId,omitempty"`
	Level       string           `json:"level"`
	State       string           `json:"state"`
	DetectedAt  string           `json:"detectedAt"`
	EventIDs    []string         `json:"eventIds"`
	Evidence    string           `json:"evidence"`
	Holds       bool             `json:"holds"`
	Transitions []TransitionView `json:"transitions"`
}

// TransitionView is one state change of a detection.
type TransitionView struct {
	State  string `json:"state"`
	At     string `json:"at"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// HoldView names a detection holding a principal's decisions.
type HoldView struct {
	DetectionID string `json:"detectionId"`
	Type        string `json:"type"`
	State       string `json:"state"`
}

func (l *Ledger) detectionView(pid string, a *alert) DetectionView {
	v := DetectionView{DetectionID: a.ID, PrincipalID: pid, Type: a.Type, Source: a.Source, PartnerID: a.Partner, Level: a.Severity, State: a.Status,
		DetectedAt: FormatTime(a.RaisedAt), EventIDs: append([]string{}, a.EventIDs...), Evidence: a.Message,
		Holds: l.policy.holds(a), Transitions: []TransitionView{}}
	if v.Source == "" {
		v.Source = SourceRule
	}
	for _, t := range a.Transitions {
		v.Transitions = append(v.Transitions, TransitionView{State: t.State, At: FormatTime(t.At), By: t.By, Reason: t.Reason})
	}
	return v
}

// DetectionFilter selects detections.
type DetectionFilter struct {
	State, PrincipalID, Type, Source string
}

// Detections returns every detection f selects, by principal id then in
// the order they were raised.
func (l *Ledger) Detections(f DetectionFilter) []DetectionView {
	out, _ := l.DetectionPage(f, Cursor{}, 0)
	return out
}

// Cursor is where a page of detections or alerts ends: after detection
// ID of principal PrincipalID.
type Cursor struct{ PrincipalID, ID string }

// DetectionPage returns up to limit (0: all) of the detections f selects
// after the cursor, and the cursor of the next page (zero when done).
func (l *Ledger) DetectionPage(f DetectionFilter, after Cursor, limit int) ([]DetectionView, Cursor) {
	out := []DetectionView{}
	next := l.eachDetection(f.PrincipalID, after, limit, func(pid string, a *alert) bool {
		v := l.detectionView(pid, a)
		if (f.State == "" || v.State == f.State) && (f.Type == "" || v.Type == f.Type) && (f.Source == "" || v.Source == f.Source) {
			out = append(out, v)
			return true
		}
		return false
	})
	return out, next
}

// AlertPage is DetectionPage for the alert view: those with a status (all
// when empty) of a principal (all when empty).
func (l *Ledger) AlertPage(status, principalID string, after Cursor, limit int) ([]AlertView, Cursor) {
	out := []AlertView{}
	next := l.eachDetection(principalID, after, limit, func(pid string, a *alert) bool {
		if status == "" || a.Status == status {
			out = append(out, alertView(pid, *a))
			return true
		}
		return false
	})
	return out, next
}

// Alerts returns every alert, optionally only those with a given status or
// principal, by principal id then as raised.
func (l *Ledger) Alerts(status, principalID string) []AlertView {
	out, _ := l.AlertPage(status, principalID, Cursor{}, 0)
	return out
}

func sortedPrincipalsWithAlerts(idx map[string]string) []string {
	set := map[string]bool{}
	for _, pid := range idx {
		set[pid] = true
	}
	return sortedKeys(set)
}

// AlertPrincipal returns the principal an alert belongs to.
func (l *Ledger) AlertPrincipal(alertID string) (string, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	pid, ok := l.alertIdx[alertID]
	return pid, ok
}

// eachDetection hands keep the detections after the cursor, of one
// principal or all, in order, until keep has taken limit of them (0: no
// limit); it returns the cursor after the last one taken when more may
// follow.
func (l *Ledger) eachDetection(principalID string, after Cursor, limit int, keep func(pid string, a *alert) bool) Cursor {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var pids []string
	if principalID != "" {
		if p := l.principals.get(principalID); p != nil && len(p.Alerts) > 0 {
			pids = []string{principalID}
		}
	} else {
		pids = sortedPrincipalsWithAlerts(l.alertIdx)
	}
	taken := 0
	var last Cursor
	for _, pid := range pids {
		if pid < after.PrincipalID {
			continue
		}
		alerts := l.principals.get(pid).Alerts
		start := 0
		if pid == after.PrincipalID {
			for i := range alerts {
				if alerts[i].ID == after.ID {
					start = i + 1
				}
			}
		}
		for i := start; i < len(alerts); i++ {
			if limit > 0 && taken == limit {
				return last
			}
			if keep(pid, &alerts[i]) {
				taken++
				last = Cursor{PrincipalID: pid, ID: alerts[i].ID}
			}
		}
	}
	return Cursor{}
}

// Detection returns one detection.
func (l *Ledger) Detection(id string) (DetectionView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	pid, ok := l.alertIdx[id]
	if !ok {
		return DetectionView{}, false
	}
	for i := range l.principals.get(pid).Alerts {
		if a := &l.principals.get(pid).Alerts[i]; a.ID == id {
			return l.detectionView(pid, a), true
		}
	}
	return DetectionView{}, false
}

// DetectionStates are the states of a detection.
var DetectionStates = []string{AlertOpen, AlertAcknowledged, AlertRemediated, AlertDismissed, AlertConfirmedCompromised, AlertConfirmedSafe}

// DetectionSources are the sources of a detection.
func DetectionSources() []string { return append([]string(nil), detectionSources...) }

// raisePartnerAlert opens (or adds the SET to) the detection a partner's
// SET reports, remembering the partner.
func (l *Ledger) raisePartnerAlert(p *principal, c *FederatedEvent) {
	l.raiseAlertFor(p, nil, SourcePartner, c.AlertType, c.Severity, c.EventID, c.Message, c.PartnerID)
}

// alertView is detection a of principal pid in the alert shape.
func alertView(pid string, a alert) AlertView {
	v := AlertView{AlertID: a.ID, PrincipalID: pid, Type: a.Type, Severity: a.Severity, RaisedAt: FormatTime(a.RaisedAt),
		Message: a.Message, Status: a.Status, ReviewedBy: a.ReviewedBy, Note: a.Note}
	if a.ReviewedAt != 0 {
		v.ReviewedAt = FormatTime(a.ReviewedAt)
	}
	return v
}
