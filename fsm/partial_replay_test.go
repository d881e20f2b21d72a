package fsm

import (
	"slices"
	"strings"
	"testing"
)

// replayed is one applied entry as an archive keeps it.
type replayed struct {
	entry ReplayEntry
	kind  Kind
	subj  []string
}

// For random ledgers — every kind of entry, client retries of earlier
// entries, unique event ids otherwise — replaying only the entries a
// principal's record depends on (its own, those of every principal
// endorsements link it to, and the global ones) gives the record the
// whole ledger gives it, byte for byte, at the head.
func TestPartialReplayGivesTheRecord(t *testing.T) {
	t.Parallel()
	// Each sequence replays every principal's dependencies: a quarter of
	// -sequences (250 by default) of them.
	forSomeSequences(t, max(1, *seqFlag/4), func(t *testing.T, w *world) {
		w.unique = true
		for i := 0; i < 80; i++ {
			if len(w.log) > 0 && w.rng.IntN(15) == 0 {
				// a client retry: the same entry again, later
				w.advance()
				w.idx++
				e := w.log[w.rng.IntN(len(w.log))]
				w.log = append(w.log, e)
				w.l.Apply(w.idx, e)
				continue
			}
			w.step()
		}
		l := NewLedger()
		var es []replayed
		for i, data := range w.log {
			res := l.Apply(uint64(i+1), data)
			es = append(es, replayed{kind: res.Kind, subj: res.Subjects,
				entry: ReplayEntry{Leaf: Leaf(res.Sequence, res.Time, res.Err == nil, data), Index: res.Index, Alerts: res.Alerts}})
		}
		head := l.Head()
		for _, id := range w.principals {
			want, ok := l.Record(id, head.Time)
			if !ok {
				continue
			}
			deps := dependencies(id, es)
			p, err := Replay(deps, head)
			if err != nil {
				t.Fatalf("%s: replay of %d of %d entries: %v", id, len(deps), len(es), err)
			}
			got, ok := p.Record(id, head.Time)
			if !ok {
				t.Fatalf("%s: not in the replay", id)
			}
			if a, b := mustJSON(t, want), mustJSON(t, got); a != b {
				t.Fatalf("%s: replay of %d of %d entries gives\n%s\nthe ledger\n%s", id, len(deps), len(es), b, a)
			}
		}
	})
}

// dependencies picks the entries id's record depends on (the walk
// cluster's archive does over its principal index).
func dependencies(id string, es []replayed) []ReplayEntry {
	linked := map[string]bool{id: true}
	for queue := []string{id}; len(queue) > 0; queue = queue[1:] {
		for _, e := range es {
			if e.kind.Links() && slices.Contains(e.subj, queue[0]) {
				for _, s := range e.subj {
					if !linked[s] {
						linked[s] = true
						queue = append(queue, s)
					}
				}
			}
		}
	}
	var out []ReplayEntry
	for _, e := range es {
		p, _ := ParseLeaf(e.entry.Leaf)
		global := p.Applied && e.kind.Global()
		if global || slices.ContainsFunc(e.subj, func(s string) bool { return linked[s] }) {
			out = append(out, e.entry)
		}
	}
	return out
}

// Replay refuses entries that are not the ledger's: out of order, an
// outcome other than the leaf's, alerts other than the entry raised.
func TestReplayRefusesWhatTheLedgerDidNot(t *testing.T) {
	w := newWorld(t, 7)
	w.run(200)
	l := NewLedger()
	var es []ReplayEntry
	for i, data := range w.log {
		res := l.Apply(uint64(i+1), data)
		es = append(es, ReplayEntry{Leaf: Leaf(res.Sequence, res.Time, res.Err == nil, data), Index: res.Index, Alerts: res.Alerts})
	}
	head := l.Head()
	if _, err := Replay(es, head); err != nil {
		t.Fatalf("replay of the whole ledger: %v", err)
	}
	swapped := slices.Clone(es)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	flipped := slices.Clone(es)
	flipped[0].Leaf = slices.Clone(flipped[0].Leaf)
	flipped[0].Leaf[16] = 0
	alerted := slices.Clone(es)
	k := slices.IndexFunc(es, func(e ReplayEntry) bool { return len(e.Alerts) > 0 })
	if k < 0 {
		t.Fatal("no entry raised an alert")
	}
	alerted[k].Alerts = nil
	for name, c := range map[string]struct {
		es   []ReplayEntry
		want string
	}{
		"reordered": {swapped, "increasing sequence"},
		"outcome":   {flipped, "the ledger rejected the entry, the replay applied"},
		"alerts":    {alerted, "the replay raised an alert about"},
	} {
		if _, err := Replay(c.es, head); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: replay says %v, want %q", name, err, c.want)
		}
	}
}
