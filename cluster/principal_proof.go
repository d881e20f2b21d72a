package cluster

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/trustledger/trustledger/fsm"
)

// Principal proofs (docs/verification.md, "Verifying a principal"): a
// principal's record, a signed checkpoint, and every entry the record
// depends on with its inclusion proof, so that a client replays those
// entries with the fsm package (fsm.Replay) and compares.

// Limits of one proof bundle: a principal linked by endorsements to more
// principals, or whose record depends on more entries, is refused with
// ErrProofTooLarge rather than make the node hold an unbounded answer.
const (
	MaxProofEntries    = 20_000
	MaxProofPrincipals = 1_000
)

// Principal proof errors.
var (
	// ErrUnknownPrincipal: the principal is not in the ledger (at that
	// tree size).
	ErrUnknownPrincipal = errors.New("unknown principal")
	// ErrProofTooLarge: the record depends on more than MaxProofEntries
	// entries or MaxProofPrincipals principals.
	ErrProofTooLarge = errors.New("the record depends on too many entries to prove in one answer")
)

// proofArchiveWait bounds how long a proof waits for the archive to
// reach the state machine's position (it trails it by a flush).
const proofArchiveWait = 5 * time.Second

// ProvenEntry is a ledger entry with its inclusion proof in the tree of
// the bundle's checkpoint.
type ProvenEntry struct {
	LedgerEntry
	Proof [][]byte
}

// PrincipalProof is the bundle GET /v1/principals/{id}/proof answers.
type PrincipalProof struct {
	// Checkpoint is the signed checkpoint of the tree of Size entries.
	Checkpoint []byte
	Size       uint64
	// Record is the principal's record after Size entries, at the ledger
	// time of the entry at sequence Size.
	Record *fsm.Record
	// Head is the entry at sequence Size: its leaf gives the ledger time
	// the record is read at.
	Head ProvenEntry
	// Entries are the entries the record depends on, in sequence order.
	Entries []ProvenEntry
}

// PrincipalProof builds the proof bundle of principal id. With size 0 the
// record is the state machine's own, read at the newest entry (the
// strongest claim: the verifier checks what the node serves); with a size,
// it is the record the dependencies up to that size give when replayed.
func (n *Node) PrincipalProof(ctx context.Context, id string, size uint64) (*PrincipalProof, error) {
	if !fsm.ValidID(id) {
		return nil, fmt.Errorf("%w %q", ErrUnknownPrincipal, id)
	}
	var out PrincipalProof
	var head fsm.Head
	if size == 0 {
		rec, h, ok := n.ledger.RecordAtHead(id)
		if !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknownPrincipal, id)
		}
		out.Record, head = rec, h
		if err := n.waitArchive(ctx, head.Size); err != nil {
			return nil, err
		}
	} else if err := n.archive.checkSize(size); err != nil {
		return nil, err
	}
	if head.Size == 0 {
		head.Size = size
	}
	var err error
	if out.Head, err = n.provenEntry(head.Size, head.Size); err != nil {
		return nil, err
	}
	deps, err := n.archive.dependencies(id, head.Size)
	if err != nil {
		return nil, err
	}
	if out.Record == nil {
		if out.Record, err = replayRecord(id, deps, &out.Head.LedgerEntry); err != nil {
			return nil, err
		}
	}
	out.Size = head.Size
	if out.Checkpoint, err = n.Checkpoint(head.Size); err != nil {
		return nil, err
	}
	out.Entries = make([]ProvenEntry, len(deps))
	for i := range deps {
		p, err := n.archive.inclusionProof(deps[i].Sequence-1, head.Size)
		if err != nil {
			return nil, err
		}
		out.Entries[i] = ProvenEntry{LedgerEntry: deps[i], Proof: p}
	}
	return &out, nil
}

// replayRecord is id's record after replaying deps up to the head entry.
func replayRecord(id string, deps []LedgerEntry, head *LedgerEntry) (*fsm.Record, error) {
	lp, err := fsm.ParseLeaf(head.Leaf)
	if err != nil {
		return nil, err
	}
	l, err := fsm.Replay(ReplayEntries(deps), fsm.Head{Size: head.Sequence, Time: lp.Time, Index: head.Index})
	if err != nil {
		return nil, fmt.Errorf("replay the record's entries: %w", err)
	}
	rec, ok := l.Record(id, lp.Time)
	if !ok {
		return nil, fmt.Errorf("%w %q at tree size %d", ErrUnknownPrincipal, id, head.Sequence)
	}
	return rec, nil
}

// ReplayEntries turns archived entries into fsm.Replay's input.
func ReplayEntries(es []LedgerEntry) []fsm.ReplayEntry {
	out := make([]fsm.ReplayEntry, len(es))
	for i := range es {
		out[i] = fsm.ReplayEntry{Leaf: es[i].Leaf, Index: es[i].Index, Alerts: es[i].Alerts}
	}
	return out
}

// provenEntry is the entry at seq with its proof in the tree of size.
func (n *Node) provenEntry(seq, size uint64) (ProvenEntry, error) {
	es, err := n.archive.entries(seq-1, 1)
	if err != nil {
		return ProvenEntry{}, err
	}
	if len(es) == 0 || es[0].Sequence != seq {
		return ProvenEntry{}, fmt.Errorf("%w: entry %d is not in this node's archive", ErrProofUnavailable, seq)
	}
	p, err := n.archive.inclusionProof(seq-1, size)
	if err != nil {
		return ProvenEntry{}, err
	}
	return ProvenEntry{LedgerEntry: es[0], Proof: p}, nil
}

// waitArchive waits until the archive's tree holds size entries.
func (n *Node) waitArchive(ctx context.Context, size uint64) error {
	ctx, cancel := context.WithTimeout(ctx, proofArchiveWait)
	defer cancel()
	for {
		if h, ok := n.archive.treeHead(); ok && h.Size >= size {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the archive has not reached the ledger's %d entries", ErrProofUnavailable, size)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// dependencies returns, in sequence order, the entries up to size that
// principal id's record depends on: those of every principal endorsements
// link it to (transitively: endorsers' scores depend on their own
// endorsers), and the entries every record depends on.
func (a *archive) dependencies(id string, size uint64) ([]LedgerEntry, error) {
	bySeq := map[uint64]LedgerEntry{}
	add := func(es []LedgerEntry) error {
		for _, e := range es {
			bySeq[e.Sequence] = e
		}
		if len(bySeq) > MaxProofEntries {
			return fmt.Errorf("%w (more than %d)", ErrProofTooLarge, MaxProofEntries)
		}
		return nil
	}
	seen := map[string]bool{id: true}
	for queue := []string{id}; len(queue) > 0; queue = queue[1:] {
		es, err := a.allPrincipalEntries(queue[0], size)
		if err != nil {
			return nil, err
		}
		if err := add(es); err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Cmd == nil || !e.Cmd.Kind().Links() {
				continue
			}
			for _, s := range e.Subjects {
				if !seen[s] {
					seen[s] = true
					queue = append(queue, s)
				}
			}
		}
		if len(seen) > MaxProofPrincipals {
			return nil, fmt.Errorf("%w (linked to more than %d principals)", ErrProofTooLarge, MaxProofPrincipals)
		}
	}
	global, err := a.allPrincipalEntries(globalSubject, size)
	if err != nil {
		return nil, err
	}
	if err := add(global); err != nil {
		return nil, err
	}
	out := make([]LedgerEntry, 0, len(bySeq))
	for _, e := range bySeq {
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y LedgerEntry) int { return cmp.Compare(x.Sequence, y.Sequence) })
	return out, nil
}

// allPrincipalEntries pages through the entries indexed under id up to
// sequence size.
func (a *archive) allPrincipalEntries(id string, size uint64) ([]LedgerEntry, error) {
	var out []LedgerEntry
	var after uint64
	for {
		es, err := a.principalEntries(id, after, MaxEntriesLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Sequence > size {
				return out, nil
			}
			out = append(out, e)
			if len(out) > MaxProofEntries {
				return nil, fmt.Errorf("%w (more than %d)", ErrProofTooLarge, MaxProofEntries)
			}
		}
		if len(es) < MaxEntriesLimit {
			return out, nil
		}
		after = es[len(es)-1].Sequence
	}
}

// indexGlobal indexes under globalSubject the entries stored before the
// archive kept that index (once: meta "global" records it is done).
func (a *archive) indexGlobal(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyGlobal) != nil {
		return nil
	}
	pb := tx.Bucket(bucketPrincipals)
	c := tx.Bucket(bucketEntries).Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if seq > a.indexed {
			break // the tail beyond "indexed" is indexed from the records
		}
		r, err := a.decodeRecord(seq, v)
		if err != nil {
			return fmt.Errorf("sequence %d: %w", seq, err)
		}
		if slices.Contains(r.indexIDs(), globalSubject) {
			if err := pb.Put(principalKey(globalSubject, seq), []byte{}); err != nil {
				return err
			}
			n++
		}
	}
	if n > 0 {
		a.log.Info("indexed the ledger entries every record depends on", "entries", n)
	}
	return meta.Put(keyGlobal, []byte{1})
}
