package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/trustledger/trustledger/fsm"
	"go.etcd.io/bbolt"
)

// Backfill (docs/verification.md, "Retention"). A node that installs a
// snapshot holds the tree's compact range at the snapshot's size k but not
// the entries 1..k: its archive has a gap. It copies them from a peer in
// chunks, and takes a chunk only once it is proven part of the tree whose
// root the node already holds (it came through Raft, in the snapshot):
// with the chunk's leaves the node computes the root of the tree of e
// entries, and the peer's consistency proof from e to k must lead from it
// to the node's own root at k. What the leaves do not cover — the Raft
// index, the subjects and the rejection text of each entry — is taken from
// the peer, an authenticated member.

// ErrBackfill: entries offered to fill the archive's gap do not fit it or
// do not prove out against the tree.
var ErrBackfill = errors.New("backfill refused")

// BackfillEntry is one ledger entry copied from a peer.
type BackfillEntry struct {
	Index    uint64
	Leaf     []byte
	Subjects []string
	Error    string
	Alerts   []fsm.RaisedAlert
}

// findGap scans the stored sequences for the first missing run below the
// last one: the entries an installed snapshot covered.
func findGap(tx *bbolt.Tx) (from, to uint64) {
	c := tx.Bucket(bucketEntries).Cursor()
	want := uint64(1)
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if seq != want {
			return want, seq - 1
		}
		want++
	}
	return 0, 0
}

// gap returns the run of sequences the archive lacks, (0, 0) for none.
func (a *archive) gap() (from, to uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gapFrom, a.gapTo
}

// ArchiveGap returns the first run of ledger entries this node's archive
// lacks (they came in an installed snapshot), (0, 0) when it has them all.
func (n *Node) ArchiveGap() (from, to uint64) { return n.archive.gap() }

// Backfill takes entries copied from a peer to fill the archive's gap:
// they must start at its first missing sequence and follow each other.
// consistency fetches the peer's consistency proof between two tree sizes.
// It returns how many entries it stored.
func (n *Node) Backfill(entries []BackfillEntry, consistency func(from, to uint64) ([][]byte, error)) (int, error) {
	return n.archive.backfill(entries, consistency)
}

func (a *archive) backfill(entries []BackfillEntry, consistency func(from, to uint64) ([][]byte, error)) (int, error) {
	a.backfillMu.Lock()
	defer a.backfillMu.Unlock()
	from, to := a.gap()
	if from == 0 || len(entries) == 0 {
		return 0, nil
	}
	if uint64(len(entries)) > to-from+1 {
		entries = entries[:to-from+1]
	}
	recs, hashes, err := backfillRecords(from, entries)
	if err != nil {
		return 0, err
	}
	end := from + uint64(len(recs)) - 1
	var rng *compact.Range
	var rootK []byte
	err = a.db.View(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTree)
		var err error
		if rng, err = rangeAt(tb, from-1); err != nil {
			return err
		}
		k, err := rangeAt(tb, to)
		if err != nil {
			return err
		}
		rootK, err = k.GetRootHash(nil)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%w: the tree around the gap: %w", ErrBackfill, err)
	}
	nodes := map[compact.NodeID][]byte{}
	visit := func(id compact.NodeID, h []byte) { nodes[id] = h }
	for _, h := range hashes {
		if err := rng.Append(h, visit); err != nil {
			return 0, err
		}
	}
	rootE, err := rng.GetRootHash(nil)
	if err != nil {
		return 0, err
	}
	if err := provePrefix(end, to, rootE, rootK, consistency); err != nil {
		return 0, err
	}
	if err := a.storeBackfill(from, recs, nodes); err != nil {
		return 0, err
	}
	a.mu.Lock()
	if end >= to {
		a.gapFrom, a.gapTo = 0, 0
		a.log.Info("ledger archive complete: backfilled the entries an installed snapshot covered", "through_sequence", to)
	} else {
		a.gapFrom = end + 1
	}
	a.mu.Unlock()
	return len(recs), nil
}

// backfillRecords turns leaves into archive records, checking that they
// number from from on, and returns them with their leaf hashes.
func backfillRecords(from uint64, entries []BackfillEntry) ([]archiveRecord, [][]byte, error) {
	recs := make([]archiveRecord, len(entries))
	hashes := make([][]byte, len(entries))
	for i, e := range entries {
		p, err := fsm.ParseLeaf(e.Leaf)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: entry %d: %w", ErrBackfill, from+uint64(i), err)
		}
		if p.Sequence != from+uint64(i) {
			return nil, nil, fmt.Errorf("%w: entry %d of the run is sequence %d", ErrBackfill, from+uint64(i), p.Sequence)
		}
		r := archiveRecord{Index: e.Index, Time: p.Time, Rejected: !p.Applied, Error: e.Error, Subjects: e.Subjects,
			Data: bytes.Clone(p.Entry), Alerts: e.Alerts}
		if env, err := fsm.DecodeEntry(p.Entry); err == nil {
			r.Kind = uint8(env.Kind)
		}
		recs[i], hashes[i] = r, fsm.TreeHasher.HashLeaf(e.Leaf)
	}
	return recs, hashes, nil
}

// provePrefix checks that the tree of end entries, whose root the copied
// leaves give, is a prefix of the tree of to entries whose root this node
// holds.
func provePrefix(end, to uint64, rootE, rootK []byte, consistency func(from, to uint64) ([][]byte, error)) error {
	if end == to {
		if !bytes.Equal(rootE, rootK) {
			return fmt.Errorf("%w: the copied entries do not hash to the snapshot's tree root", ErrBackfill)
		}
		return nil
	}
	p, err := consistency(end, to)
	if err != nil {
		return fmt.Errorf("%w: consistency proof %d → %d: %w", ErrBackfill, end, to, err)
	}
	if err := proof.VerifyConsistency(fsm.TreeHasher, end, to, p, rootE, rootK); err != nil {
		return fmt.Errorf("%w: the copied entries are not the snapshot's history: %w", ErrBackfill, err)
	}
	return nil
}

// storeBackfill writes verified entries, their principal index keys and
// their tree nodes in one transaction.
func (a *archive) storeBackfill(from uint64, recs []archiveRecord, nodes map[compact.NodeID][]byte) error {
	return a.db.Update(func(tx *bbolt.Tx) error {
		eb, pb, tb := tx.Bucket(bucketEntries), tx.Bucket(bucketPrincipals), tx.Bucket(bucketTree)
		for i := range recs {
			seq := from + uint64(i)
			v, err := a.encodeRecord(seq, &recs[i])
			if err != nil {
				return err
			}
			if err := eb.Put(seqKey(seq), v); err != nil {
				return err
			}
			for _, s := range recs[i].indexIDs() {
				if s == globalSubject || fsm.ValidID(s) {
					if err := pb.Put(principalKey(s, seq), []byte{}); err != nil {
						return err
					}
				}
			}
		}
		for id, h := range nodes {
			if err := tb.Put(nodeKey(id), h); err != nil {
				return err
			}
		}
		return nil
	})
}
