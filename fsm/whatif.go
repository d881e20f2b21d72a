package fsm

import (
	"errors"
	"sort"
)

// Policy what-if (docs/scoring.md, "Policy what-if"): a proposed policy is
// evaluated against every principal's current record without being
// written, and the decisions it would change are reported.

// DecisionOutcome is the gist of a decision: its outcome and reason codes.
type DecisionOutcome struct {
	Decision               string   `json:"decision"`
	RequiredAuthentication string   `json:"requiredAuthentication"`
	Reasons                []string `json:"reasons"`
}

// DecisionChange is one principal whose decision the proposed policy
// changes.
type DecisionChange struct {
	PrincipalID string          `json:"principalId"`
	TrustScore  int64           `json:"trustScore"`
	Before      DecisionOutcome `json:"before"`
	After       DecisionOutcome `json:"after"`
}

// WhatIf is the answer of a policy what-if.
type WhatIf struct {
	Action      string `json:"action"`
	Sensitivity string `json:"sensitivity"`
	// Principals were evaluated; Changed of them would be decided
	// otherwise (outcome, assurance level or reasons), and Tighter and
	// Looser count those whose outcome gets stricter or less strict.
	Principals int `json:"principals"`
	Changed    int `json:"changed"`
	Tighter    int `json:"tighter"`
	Looser     int `json:"looser"`
	// Changes lists the first changes by principal id, up to the limit.
	Changes   []DecisionChange `json:"changes"`
	Truncated bool             `json:"truncated"`
	// PolicyVersion is the version in force; LedgerIndex the index the
	// evaluation started at.
	PolicyVersion int64  `json:"policyVersion"`
	EvaluatedAt   string `json:"evaluatedAt"`
	LedgerIndex   uint64 `json:"ledgerIndex"`
}

// whatIfChunk is how many principals one hold of the read lock evaluates,
// so that a what-if over a large ledger does not hold off writes.
const whatIfChunk = 256

// ErrWhatIfCancelled: the caller went away before the what-if finished.
var ErrWhatIfCancelled = errors.New("the what-if was cancelled")

// PolicyWhatIf evaluates req (its PrincipalID ignored) for every principal
// at t under the policy in force and under pol, and reports the changes
// (at most limit of them listed). The principals are evaluated a chunk at a
// time: on a ledger being written, later chunks may see later entries. It
// stops between chunks once done is closed (ErrWhatIfCancelled).
func (l *Ledger) PolicyWhatIf(pol *Policy, req DecisionRequest, t int64, limit int, done <-chan struct{}) (WhatIf, error) {
	l.mu.RLock()
	cur := clonePolicy(l.policy)
	ids := l.principals.ids()
	index := l.index
	l.mu.RUnlock()
	sort.Strings(ids)
	out := WhatIf{Action: req.Action, Changes: []DecisionChange{}, PolicyVersion: cur.Version, EvaluatedAt: FormatTime(t), LedgerIndex: index}
	if _, _, err := cur.Decision.ResolveAction(req.Action, req.Sensitivity); err != nil {
		return WhatIf{}, err
	}
	sens, _, err := pol.Decision.ResolveAction(req.Action, req.Sensitivity)
	if err != nil {
		return WhatIf{}, err
	}
	out.Sensitivity = Sensitivities[sens]
	for start := 0; start < len(ids); start += whatIfChunk {
		select {
		case <-done:
			return WhatIf{}, ErrWhatIfCancelled
		default:
		}
		l.mu.RLock()
		for _, id := range ids[start:min(start+whatIfChunk, len(ids))] {
			p := l.principals.get(id)
			if p == nil {
				continue // removed meanwhile
			}
			r := l.record(p, t)
			proposed := *r
			proposed.Holds = pol.holdsOf(p) // the proposed policy's hold types
			out.add(r, &proposed, &cur, pol, req, t, limit)
		}
		l.mu.RUnlock()
	}
	return out, nil
}

// add counts one principal: r is its record under the current policy,
// proposed the same record with what the proposed policy derives
// differently (its holds).
func (w *WhatIf) add(r, proposed *Record, cur, pol *Policy, req DecisionRequest, t int64, limit int) {
	req.PrincipalID = r.PrincipalID
	before, after := decisionOutcome(DecidePolicy(r, cur, req, t)), decisionOutcome(DecidePolicy(proposed, pol, req, t))
	w.Principals++
	if sameOutcome(before, after) {
		return
	}
	w.Changed++
	switch b, a := decisionRank[before.Decision], decisionRank[after.Decision]; {
	case a > b:
		w.Tighter++
	case a < b:
		w.Looser++
	}
	if len(w.Changes) < limit {
		w.Changes = append(w.Changes, DecisionChange{PrincipalID: r.PrincipalID, TrustScore: r.TrustScore, Before: before, After: after})
	} else {
		w.Truncated = true
	}
}

func decisionOutcome(d Decision) DecisionOutcome {
	codes := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		codes[i] = r.Code
	}
	return DecisionOutcome{Decision: d.Decision, RequiredAuthentication: d.RequiredAuthentication, Reasons: codes}
}

func sameOutcome(a, b DecisionOutcome) bool {
	if a.Decision != b.Decision || a.RequiredAuthentication != b.RequiredAuthentication || len(a.Reasons) != len(b.Reasons) {
		return false
	}
	for i := range a.Reasons {
		if a.Reasons[i] != b.Reasons[i] {
			return false
		}
	}
	return true
}
