package fsm

// The checks of a ledger entry: whether Apply would accept a command, asked
// by Apply itself before it changes anything, and by the API before it
// proposes (Ledger.Check, Ledger.CheckSignals).

// rules is what the checks of one entry read: the ledger's state, the
// ledger time the entry applies at, and the token that wrote it. The
// checks only read; Apply mutates once they have passed.
type rules struct {
	l     *Ledger
	now   int64 // ledger time of the entry: max(ledger time, entry stamp)
	actor string
	scope []string // the actor's organizations; nil: unlimited
}

// rulesAt returns the rules of an entry written by actor that applies at
// ledger time now. The caller holds the ledger's lock.
func (l *Ledger) rulesAt(actor string, now int64) *rules {
	return &rules{l: l, now: now, actor: actor, scope: l.scopeOf(actor)}
}

// entry runs the checks of a whole entry: the actor's token is not
// revoked, then the command's own rules (its organization scope among
// them).
func (r *rules) entry(spec *commandSpec, cmd Command) error {
	if t := r.l.tokens[r.actor]; t != nil && t.Revoked {
		// Revoked between authentication and commit: refuse on every node.
		return reject("authorization", "forbidden", "token %q was revoked", r.actor)
	}
	return spec.check(r, cmd)
}

// seen reports whether a dedup key is inside the dedup window at the
// entry's ledger time.
func (r *rules) seen(k dedupKey) bool { return r.l.seenAt(k, r.now) }

// Check reports whether Apply would accept cmd, written by the token actor
// in an entry stamped stamp (Unix ms, the leader's clock when it proposes):
// nil, or the error Apply would reject the entry with (a *RejectError for
// every refusal of the state). It runs exactly the checks Apply runs — the
// actor's token not revoked, its organization scope, the command's rules —
// against the current state at ledger time max(ledger time, stamp), and
// changes nothing. Entries applied in between may change the answer; Apply
// decides.
//
// A RecordSignals entry is accepted even when its signals are not: see
// CheckSignals for the fate of each signal.
func (l *Ledger) Check(cmd Command, actor string, stamp int64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	spec, err := specOf(cmd.Kind())
	if err != nil {
		return err
	}
	return l.rulesAt(actor, max(l.now, stamp)).entry(spec, cmd)
}

// SignalCheck is what Apply would do with one signal of a batch.
type SignalCheck struct {
	// Status is StatusAccepted, StatusDuplicate or StatusRejected.
	Status string
	// Err is why the signal would be rejected; its Error() is the reason
	// the signal's result would carry.
	Err *RejectError
}

// CheckSignals is Check for a batch of signals, signal by signal: it
// returns what Apply would do with each of them (with the same function
// Apply uses), or, as Check, the error the whole entry would be rejected
// with. A signal repeating the eventId of an earlier one of the batch is a
// duplicate.
func (l *Ledger) CheckSignals(c *RecordSignals, actor string, stamp int64) ([]SignalCheck, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r := l.rulesAt(actor, max(l.now, stamp))
	spec, err := specOf(KindRecordSignals)
	if err != nil {
		return nil, err
	}
	if err := r.entry(spec, c); err != nil {
		return nil, err
	}
	out := make([]SignalCheck, len(c.Signals))
	if c.Producer != nil {
		if v, _ := r.producerVerdict(c.Producer); v == producerDuplicate {
			for i := range out {
				out[i] = SignalCheck{Status: StatusDuplicate}
			}
			return out, nil
		}
	}
	pending := make(map[dedupKey]bool, len(c.Signals))
	for i := range c.Signals {
		_, k, status, rej := r.signalVerdict(&c.Signals[i], pending)
		if status == StatusAccepted {
			pending[k] = true
		}
		out[i] = SignalCheck{Status: status, Err: rej}
	}
	return out, nil
}

// scopeOf returns the organizations an actor's writes are limited to (nil:
// unlimited). Only writer tokens with orgs are scoped.
func (l *Ledger) scopeOf(actor string) []string {
	if t := l.tokens[actor]; t != nil && t.Role == RoleWriter && len(t.Orgs) > 0 {
		return t.Orgs
	}
	return nil
}

func inScope(scope []string, org string) bool {
	if scope == nil {
		return true
	}
	for _, o := range scope {
		if o == org {
			return true
		}
	}
	return false
}

// orgInScope refuses a write into an organization outside the actor's.
func (r *rules) orgInScope(field, org string) error {
	if !inScope(r.scope, org) {
		return reject(field, "scope", "organization %q is outside the token's organizations", org)
	}
	return nil
}

// principalInScope refuses a write about a principal of an organization
// outside the actor's. An unknown principal passes: the command's rules
// report it. Checking at apply time, not only in the API, closes the
// window in which a principal changes organization meanwhile.
func (r *rules) principalInScope(field, id string) error {
	if p := r.l.principals.get(id); p != nil && !inScope(r.scope, p.Org) {
		return reject(field, "scope", "principal %q is outside the token's organizations", id)
	}
	return nil
}

// principal returns the principal id names, or the not_found rejection.
func (r *rules) principal(field, id string) (*principal, error) {
	p := r.l.principals.get(id)
	if p == nil {
		return nil, reject(field, "not_found", "unknown principal %q", id)
	}
	return p, nil
}
