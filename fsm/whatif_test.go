package fsm

import (
	"testing"
	"time"
)

// whatIfWorld is a ledger of n principals with signals, and a proposed
// policy that moves the high-sensitivity thresholds and adds a rule.
func whatIfWorld(tb testing.TB, n int) (*world, Policy) {
	w := bigWorld(tb, 4242, n, n+3*n/2)
	pol := w.l.Policy()
	pol.Decision.Allow[2], pol.Decision.StepUp[2] = pts(75), pts(60)
	pol.Decision.ContextRules = append(pol.Decision.ContextRules, ContextRule{Name: "outside", Code: "network_zone",
		When: []Condition{{Field: "context.network.ip", Op: "notCidr", Values: []string{"10.0.0.0/8"}}}, Decision: 1})
	if err := pol.Validate(); err != nil {
		tb.Fatal(err)
	}
	return w, pol
}

// The what-if over 10,000 principals matches, for every principal, what
// applying the policy and then deciding gives; it lists changes up to
// its limit and counts them all.
func TestPolicyWhatIfTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 principals")
	}
	w, pol := whatIfWorld(t, 10_000)
	ctx, _ := ParseContext([]byte(`{"network": {"ip": "192.0.2.1"}}`))
	req := DecisionRequest{Action: "delete", Context: ctx}
	at := w.now + hourMS
	start := time.Now()
	wi, err := w.l.PolicyWhatIf(&pol, req, at, 20_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("what-if over %d principals in %v: %d changed (%d tighter, %d looser)", wi.Principals, time.Since(start), wi.Changed, wi.Tighter, wi.Looser)
	if wi.Principals != len(w.principals) || wi.Principals < 10_000 || wi.Changed == 0 || wi.Truncated || len(wi.Changes) != wi.Changed ||
		wi.Sensitivity != "high" {
		t.Fatalf("what-if: %d principals (of %d), %d changed, %d listed, truncated %v, sensitivity %s",
			wi.Principals, len(w.principals), wi.Changed, len(wi.Changes), wi.Truncated, wi.Sensitivity)
	}
	small, _ := w.l.PolicyWhatIf(&pol, req, at, 10, nil)
	if len(small.Changes) != 10 || !small.Truncated {
		t.Fatalf("limit 10: %d listed, truncated %v", len(small.Changes), small.Truncated)
	}
	before := map[string]Decision{}
	for _, id := range w.principals {
		d, err := w.l.Decide(DecisionRequest{PrincipalID: id, Action: "delete", Context: ctx}, at)
		if err != nil {
			t.Fatal(err)
		}
		before[id] = d
	}
	w.apply(&SetPolicy{Policy: pol})
	listed := map[string]DecisionChange{}
	for _, c := range wi.Changes {
		listed[c.PrincipalID] = c
	}
	for _, id := range w.principals {
		d, err := w.l.Decide(DecisionRequest{PrincipalID: id, Action: "delete", Context: ctx}, at)
		if err != nil {
			t.Fatal(err)
		}
		b, a := decisionOutcome(before[id]), decisionOutcome(d)
		c, ok := listed[id]
		if ok != !sameOutcome(b, a) || ok && (!sameOutcome(c.Before, b) || !sameOutcome(c.After, a)) {
			t.Fatalf("%s: what-if %v %+v; deciding before and after applying gives %+v → %+v", id, ok, c, b, a)
		}
	}
	if _, err := w.l.PolicyWhatIf(&pol, DecisionRequest{Action: "fly"}, at, 10, nil); err == nil {
		t.Fatal("an unmapped action without sensitivity was evaluated")
	}
}

// BenchmarkPolicyWhatIf: the what-if over 10,000 principals (ns/op is the
// answer time on one core).
func BenchmarkPolicyWhatIf(b *testing.B) {
	w, pol := whatIfWorld(b, 10_000)
	ctx, _ := ParseContext([]byte(`{"network": {"ip": "192.0.2.1"}}`))
	req := DecisionRequest{Action: "delete", Context: ctx}
	b.ResetTimer()
	var changed int
	for i := 0; i < b.N; i++ {
		wi, err := w.l.PolicyWhatIf(&pol, req, w.now+hourMS, 100, nil)
		if err != nil {
			b.Fatal(err)
		}
		changed = wi.Changed
	}
	b.ReportMetric(float64(changed), "changed")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/whatif")
}
