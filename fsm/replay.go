package fsm

import (
	"fmt"
	"strconv"
)

// Replaying part of a ledger (docs/verification.md, "Verifying a
// principal"). A principal's record depends on the entries that touched
// it, on those of the principals endorsements link it to, and on the
// entries every record depends on (Kind.Global). Applied alone, in
// sequence order, each at its own sequence and ledger time, those entries
// give the principal the record the whole ledger gives it: that is what a
// verifier replays, from entries it proved are in the signed tree.

// Global reports whether entries of kind k can change any principal's
// record, so that every record depends on them: the policy, organizations
// (baselines), federation partners and API tokens (an entry's actor may be
// refused as revoked or out of its organizations).
func (k Kind) Global() bool {
	switch k {
	case KindSetPolicy, KindSetOrg, KindUpsertPartner, KindRemovePartner, KindCreateToken, KindRevokeToken:
		return true
	}
	return false
}

// Links reports whether an applied entry of kind k makes the records of
// the principals it touched depend on each other (an endorsement: the
// endorsee's bonus depends on the endorser's own score).
func (k Kind) Links() bool {
	return k == KindAddEndorsement || k == KindRevokeEndorsement
}

// ReplayEntry is one entry of a partial replay.
type ReplayEntry struct {
	// Leaf is the entry's leaf (Leaf): sequence, ledger time, outcome and
	// the entry's bytes, as proven against the tree.
	Leaf []byte
	// Index is the Raft index the entry committed at (not in the leaf:
	// it only labels the record's ledgerIndex).
	Index uint64
	// Alerts are the alerts the entry raised in the ledger. Alert ids
	// count the ledger's alerts, which a partial replay cannot: an alert
	// the replay raises takes the id of the entry's next alert about the
	// same principal, and the replay fails when there is none. They label
	// alerts and nothing else.
	Alerts []RaisedAlert
}

// Head is the position a record is read at: the tree size, ledger time
// and Raft index after the newest entry.
type Head struct {
	Size  uint64
	Time  int64
	Index uint64
}

// alertLabels hands out the ledger's alert ids during a partial replay.
type alertLabels struct {
	ids  []RaisedAlert
	used []bool
	// extra names a principal the replay raised an alert about that the
	// ledger did not.
	extra string
}

// alertID is the id of the next alert the ledger raises about principal
// pid.
func (l *Ledger) alertID(pid string) string {
	if l.labels == nil {
		return "alt-" + strconv.FormatUint(l.counts.Alerts+1, 10)
	}
	for i, a := range l.labels.ids {
		if !l.labels.used[i] && a.PrincipalID == pid {
			l.labels.used[i] = true
			return a.ID
		}
	}
	if l.labels.extra == "" {
		l.labels.extra = pid
	}
	return "alt-unlabelled"
}

// Replay applies entries, in strictly increasing sequence order, to an
// empty ledger, each at its own sequence and ledger time, then moves the
// ledger to head. It fails when an entry does not end as its leaf says
// (applied or rejected) or raises an alert the ledger did not: the entries
// given are then not all the record depends on, or not the ledger's.
func Replay(entries []ReplayEntry, head Head) (*Ledger, error) {
	l := NewLedger()
	l.tree = nil // the replayed entries are not a tree
	defer func() { l.labels = nil }()
	var last uint64
	for i := range entries {
		e := &entries[i]
		p, err := ParseLeaf(e.Leaf)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if p.Sequence <= last || p.Sequence > head.Size || p.Time < l.now || p.Time > head.Time {
			return nil, fmt.Errorf("sequence %d: entries must be in increasing sequence and time order, up to the head (size %d)", p.Sequence, head.Size)
		}
		last = p.Sequence
		l.seq, l.now = p.Sequence-1, p.Time
		l.labels = &alertLabels{ids: e.Alerts, used: make([]bool, len(e.Alerts))}
		res := l.Apply(e.Index, p.Entry)
		switch {
		case res.Time != p.Time:
			return nil, fmt.Errorf("sequence %d: the entry's stamp is later than its leaf's ledger time", p.Sequence)
		case (res.Err == nil) != p.Applied:
			return nil, fmt.Errorf("sequence %d: the ledger %s the entry, the replay %s", p.Sequence, outcome(p.Applied), outcome(res.Err == nil)+replayReason(res.Err))
		case l.labels.extra != "":
			return nil, fmt.Errorf("sequence %d: the replay raised an alert about %s that the ledger did not", p.Sequence, l.labels.extra)
		}
	}
	l.seq, l.now, l.index = head.Size, head.Time, head.Index
	return l, nil
}

func outcome(applied bool) string {
	if applied {
		return "applied"
	}
	return "rejected"
}

func replayReason(err error) string {
	if err == nil {
		return ""
	}
	return " it (" + err.Error() + ")"
}

// Head returns the position the ledger has reached.
func (l *Ledger) Head() Head {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Head{Size: l.seq, Time: l.now, Index: l.index}
}

// RecordAtHead returns id's record at the ledger's own time, and the head
// it was read at, in one step.
func (l *Ledger) RecordAtHead(id string) (*Record, Head, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	head := Head{Size: l.seq, Time: l.now, Index: l.index}
	p := l.principals.get(id)
	if p == nil {
		return nil, head, false
	}
	return l.record(p, l.now), head, true
}
