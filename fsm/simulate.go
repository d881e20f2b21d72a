package fsm

import "maps"

// Simulate applies hypothetical commands to a scratch copy of the ledger at
// ledger time max(now, t) and returns the principal's record evaluated at t
// afterwards, with each command's result. The ledger itself is unchanged.
// The copy shares unchanged principals copy-on-write; its cost is a copy of
// the small maps per call.
func (l *Ledger) Simulate(principalID string, cmds []Command, t int64) (*Record, []*Result, bool) {
	// The copy shares the principal table's shards and the dedup shards
	// with the ledger: the generation moves on, as for a snapshot, so that
	// neither changes a shard the other still reads.
	l.mu.Lock()
	l.gen++
	s := &Ledger{
		gen: l.gen + 1, index: l.index, seq: l.seq, now: l.now, digest: l.digest, policy: clonePolicy(l.policy),
		principals: l.principals, orgs: maps.Clone(l.orgs), endorse: maps.Clone(l.endorse),
		partners: maps.Clone(l.partners), tokens: maps.Clone(l.tokens), tokenHash: maps.Clone(l.tokenHash), alertIdx: maps.Clone(l.alertIdx),
		events: l.events[:len(l.events):len(l.events)], eventIdx: maps.Clone(l.eventIdx), dedup: l.dedup,
		nextSweep: 1<<63 - 1, counts: l.counts, model: ModelVersion,
		producers: maps.Clone(l.producers), nextProducerSweep: l.nextProducerSweep, producerHorizon: l.producerHorizon,
		producerTokens: maps.Clone(l.producerTokens),
	}
	l.mu.Unlock()
	stamp := max(s.now, t)
	results := make([]*Result, 0, len(cmds))
	for i, c := range cmds {
		data, err := EncodeEntry(c, stamp, "simulate")
		if err != nil {
			results = append(results, &Result{Kind: c.Kind(), Err: err})
			continue
		}
		results = append(results, s.Apply(s.index+uint64(i)+1, data))
	}
	r, ok := s.Record(principalID, t)
	return r, results, ok
}
