package fsm

// Evidence bookkeeping shared by signals and factor reports: decay folded
// in at activity, recovery allowance, degradation, history.

// touch records activity on p at ledger time now: the decay accrued so far
// is folded into the components (so the score does not move), and the decay
// clock restarts. Expired modifiers, endorsements and failure marks go.
func (l *Ledger) touch(p *principal) {
	if d := l.decayAt(p, l.now); d > 0 {
		l.spreadLoss(p, d)
	}
	p.LastActive = l.now
	l.prune(p)
}

func (l *Ledger) prune(p *principal) {
	if len(p.Modifiers) > 0 {
		n := 0
		for _, m := range p.Modifiers {
			if modifierInForce(m, l.now) {
				p.Modifiers[n] = m
				n++
			}
		}
		p.Modifiers = p.Modifiers[:n]
	}
	n := 0
	for _, t := range p.Failures {
		if t > l.now-l.policy.BurstWindow {
			p.Failures[n] = t
			n++
		}
	}
	p.Failures = p.Failures[:n]
}

// spreadLoss takes d µpt from the positive components in proportion to
// their size, exactly.
func (l *Ledger) spreadLoss(p *principal, d int64) {
	var sum int64
	for _, v := range p.V {
		if v > 0 {
			sum += v
		}
	}
	if sum <= 0 {
		p.V[0] -= d
		return
	}
	if d > sum {
		d = sum
	}
	var taken int64
	for i, v := range p.V {
		if v > 0 {
			x := mulDiv(d, v, sum, d)
			p.V[i] -= x
			taken += x
		}
	}
	for i := 0; taken < d && i < NumComponents; i++ {
		if p.V[i] > 0 {
			x := min(p.V[i], d-taken)
			p.V[i] -= x
			taken += x
		}
	}
}

// raise adds up to gain µpt to component c, limited by the recovery
// allowance (refilled at RecoveryRate per hour up to RecoveryBurst) and the
// component's cap. It returns what was applied.
func (l *Ledger) raise(p *principal, c int, gain int64) int64 {
	if gain <= 0 {
		return 0
	}
	if el := l.now - p.AllowanceAt; el > 0 {
		p.Allowance = min(l.policy.RecoveryBurst, p.Allowance+mulDiv(p.RecoveryRate, el, hourMS, pts(100)))
	}
	p.AllowanceAt = l.now
	// Evidence never accumulates above maxTrustScore: a surplus there would
	// absorb later violations without lowering the score.
	g := min(gain, p.Allowance, max(0, l.policy.Caps[c]-p.V[c]), max(0, p.Max-p.evidence()))
	p.V[c] += g
	p.Allowance -= g
	return g
}

// maxDebt is how far below zero a component can fall: deep enough that a
// principal at it sits at its floor whatever modifiers, endorsements and
// federation add, so every repeated violation lowers the score until then.
const maxDebt = 1000 * Point

// lower takes loss µpt from component c at once. A violation (a negative
// signal) also stops recovery: the allowance restarts from zero. A worse
// factor report lowers the component without resetting the allowance.
func (l *Ledger) lower(p *principal, c int, loss int64, violation bool) {
	if loss <= 0 {
		return
	}
	p.V[c] = max(p.V[c]-loss, -maxDebt)
	if p.V[c] > l.policy.Caps[c] {
		p.V[c] = l.policy.Caps[c]
	}
	if violation {
		p.Allowance, p.AllowanceAt = 0, l.now
	}
}
