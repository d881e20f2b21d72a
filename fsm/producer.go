package fsm

import "strings"

// Producer idempotency (docs/scoring.md, "13. Bounded memory, idempotency"):
// a batch of signals may name its producer session and its sequence in it,
// as Kafka's idempotent producer does. The ledger keeps, per producer, the
// session's epoch, the highest sequence applied and which of the 64 before
// it were: a retried batch is recognized however late it comes, and the
// state is bounded by the number of producers, not by the ingest rate —
// the batch's event ids are not kept.

// Producer names the producer session a batch belongs to.
type Producer struct {
	// ID names the producer (an ingest process, a connector).
	ID string
	// Epoch is the session's start, Unix ms by the producer's clock; a
	// new session takes a larger one and fences the older.
	Epoch int64
	// Sequence numbers the session's batches from 1.
	Sequence uint64
}

// producerWindow is how many sequences below the highest a producer's
// state remembers: a batch that far behind is refused, never applied
// twice.
const producerWindow = 64

// producerState is what the ledger keeps of one producer session. A
// session belongs to the token that wrote it: the ledger keys sessions by
// token and producer id, so one writer cannot take, fence or answer for
// another's.
type producerState struct {
	ID     string // the token's id, NUL, the producer's id
	Epoch  int64
	High   uint64
	Window uint64 // bit i set: sequence High-i was applied
	// LastAt is when the session was last heard from: the ledger time of
	// its last batch, or its epoch when that is later (a producer's clock
	// may run ahead by futureSkew), so that a forgotten session's epoch
	// always lies before the horizon.
	LastAt int64
}

// maxProducersPerToken bounds the sessions one token keeps, so that one
// writer cannot use up maxProducers for every other.
const maxProducersPerToken = 1024

// producerKey is the key of producer id's session written by token actor.
func producerKey(actor, id string) string { return actor + "\x00" + id }

// producerSweepEvery is how often (ledger time) producers idle for longer
// than the policy's producerExpiry are dropped, by the next producer batch
// applied after it; lookups ignore them already, and the sweep's time is
// replicated state, so every node drops them at the same entry.
const producerSweepEvery = hourMS

// Producer verdicts.
const (
	producerApply = iota
	producerDuplicate
)

// liveProducer returns the actor's session of producer id unless it
// expired at ledger time now.
func (r *rules) liveProducer(id string) (producerState, bool) {
	s, ok := r.l.producers[producerKey(r.actor, id)]
	if !ok || s.LastAt <= r.now-r.l.policy.ProducerExpiry {
		return producerState{}, false
	}
	return s, true
}

// forgottenBefore is the horizon of forgotten sessions at ledger time now:
// a session the ledger does not know whose epoch is not after it may have
// been applied and forgotten. It never moves back, whatever producerExpiry
// becomes (producerHorizon keeps the furthest the sweeps went).
func (r *rules) forgottenBefore() int64 {
	return max(r.now-r.l.policy.ProducerExpiry, r.l.producerHorizon)
}

// producerVerdict says what the ledger does with a batch of producer p:
// apply it, or answer it as a duplicate; or the rejection that refuses it
// because the state cannot tell whether it was applied.
func (r *rules) producerVerdict(p *Producer) (int, error) {
	switch {
	case !validLedgerID(p.ID):
		return 0, reject("producer.id", "invalid", "must be 1-%d characters of letters, digits and - _ . : @", MaxIDLen)
	case p.Epoch < 1 || p.Sequence < 1:
		return 0, reject("producer", "invalid", "epoch and sequence must be positive")
	case p.Epoch > r.now+r.l.policy.FutureSkew:
		return 0, reject("producer.epoch", "invalid", "in the future")
	}
	s, ok := r.liveProducer(p.ID)
	switch {
	case !ok && p.Epoch <= r.forgottenBefore():
		// A forgotten producer's old session: its batches may have been
		// applied.
		return 0, reject("producer.epoch", "conflict", "the session began more than producerExpiry ago and the ledger no longer knows it: start a new session")
	case !ok && int64(len(r.l.producers)) >= r.l.policy.MaxProducers:
		return 0, reject("producer.id", "conflict", "the ledger keeps at most %d producers", r.l.policy.MaxProducers)
	case !ok && r.l.producerTokens[r.actor] >= maxProducersPerToken:
		return 0, reject("producer.id", "conflict", "a token keeps at most %d producer sessions", maxProducersPerToken)
	case !ok || p.Epoch > s.Epoch:
		return producerApply, nil
	case p.Epoch < s.Epoch:
		return 0, reject("producer.epoch", "conflict", "a newer session (epoch %d) of producer %s exists", s.Epoch, p.ID)
	case p.Sequence > s.High:
		return producerApply, nil
	case s.High-p.Sequence >= producerWindow:
		return 0, reject("producer.sequence", "conflict", "%d sequences behind the session's highest (%d): the ledger can no longer tell whether it was applied", s.High-p.Sequence, s.High)
	case s.Window&(1<<(s.High-p.Sequence)) != 0:
		return producerDuplicate, nil
	}
	return producerApply, nil
}

// takeProducer records that the batch of producer p was applied.
func (l *Ledger) takeProducer(r *rules, p *Producer) {
	key := producerKey(r.actor, p.ID)
	if _, kept := l.producers[key]; !kept {
		l.producerTokens[r.actor]++
	}
	s, ok := r.liveProducer(p.ID)
	switch {
	case !ok || p.Epoch > s.Epoch:
		s = producerState{ID: key, Epoch: p.Epoch, High: p.Sequence, Window: 1}
	case p.Sequence > s.High:
		shift := p.Sequence - s.High
		if shift >= producerWindow {
			s.Window = 1
		} else {
			s.Window = s.Window<<shift | 1
		}
		s.High = p.Sequence
	default:
		s.Window |= 1 << (s.High - p.Sequence)
	}
	s.LastAt = max(l.now, p.Epoch)
	l.producers[key] = s
}

// sweepProducers drops the producers idle for longer than producerExpiry,
// once per producerSweepEvery of ledger time.
func (l *Ledger) sweepProducers() {
	if l.now < l.nextProducerSweep {
		return
	}
	horizon := l.now - l.policy.ProducerExpiry
	for key, s := range l.producers {
		if s.LastAt <= horizon {
			delete(l.producers, key)
			token, _, _ := strings.Cut(key, "\x00")
			if l.producerTokens[token]--; l.producerTokens[token] <= 0 {
				delete(l.producerTokens, token)
			}
		}
	}
	l.producerHorizon = max(l.producerHorizon, horizon)
	l.nextProducerSweep = l.now + producerSweepEvery
}

// countProducerTokens derives, after a restore, the sessions each token
// keeps.
func (l *Ledger) countProducerTokens() {
	l.producerTokens = map[string]int64{}
	for key := range l.producers {
		token, _, _ := strings.Cut(key, "\x00")
		l.producerTokens[token]++
	}
}

// Producers returns how many producers the ledger keeps.
func (l *Ledger) Producers() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.producers)
}
