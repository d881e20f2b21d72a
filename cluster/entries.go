package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/trustledger/trustledger/fsm"
	"go.etcd.io/bbolt"
)

// Limits of one archive read.
const (
	// DefaultEntriesLimit is used when a read asks for limit ≤ 0.
	DefaultEntriesLimit = 100
	// MaxEntriesLimit caps the number of entries one read returns.
	MaxEntriesLimit = 1000
)

// Entry statuses in LedgerEntry.Status.
const (
	EntryApplied  = "applied"
	EntryRejected = "rejected"
)

// LedgerEntry is one entry of the ledger archive, decoded. Package api
// renders it for the wire, in the API's own language.
type LedgerEntry struct {
	// Sequence numbers applied ledger entries (not Raft's configuration or
	// no-op entries) from 1.
	Sequence uint64
	// Index is the Raft index the entry committed at.
	Index uint64
	// Time is the ledger time after the entry, RFC 3339.
	Time string
	// Kind is the command name, for example "record_signals".
	Kind string
	// Actor is the id of the token that wrote the entry.
	Actor string
	// Status is EntryApplied or EntryRejected.
	Status string
	// Error is the rejection reason.
	Error string
	// Subjects are the principal ids the entry touched.
	Subjects []string
	// Alerts are the alerts the entry raised (id and principal).
	Alerts []fsm.RaisedAlert
	// Cmd is the decoded command; nil when the entry could not be decoded.
	Cmd fsm.Command
	// Leaf is the exact bytes hashed into the ledger's Merkle tree
	// (fsm.Leaf).
	Leaf []byte
}

func toLedgerEntry(seq uint64, r *archiveRecord) LedgerEntry {
	e := LedgerEntry{Sequence: seq, Index: r.Index, Time: fsm.FormatTime(r.Time), Kind: fsm.Kind(r.Kind).String(),
		Status: EntryApplied, Error: r.Error, Subjects: r.Subjects, Alerts: r.Alerts,
		Leaf: fsm.Leaf(seq, r.Time, !r.Rejected, r.Data)}
	if r.Rejected {
		e.Status = EntryRejected
	}
	env, err := fsm.DecodeEntry(r.Data)
	if err != nil {
		return e
	}
	e.Actor = env.Actor
	if cmd, err := fsm.DecodeCommand(env); err == nil {
		e.Cmd = cmd
	}
	return e
}

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultEntriesLimit
	case limit > MaxEntriesLimit:
		return MaxEntriesLimit
	}
	return limit
}

// entries returns up to limit entries with sequence > after.
func (a *archive) entries(after uint64, limit int) ([]LedgerEntry, error) {
	if err := a.failure(); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	// Take the in-memory tail first: anything that leaves it for the disk
	// afterwards is then found by the disk read, so nothing falls between.
	mem := a.memEntries()
	out := make([]LedgerEntry, 0, min(limit, 64))
	last := after
	err := a.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			e, err := a.entryAt(seq, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			last = seq
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger archive: %w", err)
	}
	return appendMem(out, mem, last, limit), nil
}

// entryAt decodes the archived entry v stored at seq.
func (a *archive) entryAt(seq uint64, v []byte) (LedgerEntry, error) {
	r, err := a.decodeRecord(seq, v)
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("sequence %d: %w", seq, err)
	}
	return toLedgerEntry(seq, &r), nil
}

// appendMem appends to out, up to limit entries in all, the in-memory
// entries after the last one read from disk.
func appendMem(out []LedgerEntry, mem []archived, last uint64, limit int) []LedgerEntry {
	for i := range mem {
		if len(out) >= limit {
			break
		}
		if mem[i].seq > last {
			out = append(out, toLedgerEntry(mem[i].seq, &mem[i].rec))
			last = mem[i].seq
		}
	}
	return out
}

// memEntries returns a copy of the entries not yet committed to disk, in
// sequence order.
func (a *archive) memEntries() []archived {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]archived, 0, len(a.inflight)+len(a.pending))
	out = append(out, a.inflight...)
	return append(out, a.pending...)
}

// principalEntries returns up to limit entries about principal id with
// sequence > after. They come from three places, oldest first: the on-disk
// principal index, the index tail not merged yet (entries on disk), and the
// entries not yet on disk.
func (a *archive) principalEntries(id string, after uint64, limit int) ([]LedgerEntry, error) {
	if id != globalSubject && !fsm.ValidID(id) {
		return nil, errors.New("invalid principal id")
	}
	limit = clampLimit(limit)
	// Copy the in-memory parts first (see entries); whatever moves on to
	// the disk meanwhile is found there, and duplicates are skipped by
	// sequence.
	a.mu.Lock()
	if a.err != nil {
		a.mu.Unlock()
		return nil, a.err
	}
	tailSeqs := append(a.merging.after(id, after), a.tail.after(id, after)...)
	var mem []archived
	for _, part := range [][]archived{a.inflight, a.pending} {
		for i := range part {
			if part[i].seq > after && slices.Contains(part[i].rec.indexIDs(), id) {
				mem = append(mem, part[i])
			}
		}
	}
	a.mu.Unlock()

	out := make([]LedgerEntry, 0, min(limit, 64))
	last := after
	prefix := append([]byte(id), 0)
	err := a.db.View(func(tx *bbolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		add := func(seq uint64) error {
			v := eb.Get(seqKey(seq))
			if v == nil {
				return fmt.Errorf("%w (the principal index names entry %d, missing from the archive)", ErrProofUnavailable, seq)
			}
			e, err := a.entryAt(seq, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			last = seq
			return nil
		}
		c := tx.Bucket(bucketPrincipals).Cursor()
		for k, _ := c.Seek(principalKey(id, after+1)); k != nil && len(out) < limit; k, _ = c.Next() {
			if !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
				break
			}
			if err := add(binary.BigEndian.Uint64(k[len(prefix):])); err != nil {
				return err
			}
		}
		for _, seq := range tailSeqs {
			if len(out) >= limit {
				break
			}
			if seq > last {
				if err := add(seq); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger archive for %s: %w", id, err)
	}
	return appendMem(out, mem, last, limit), nil
}
