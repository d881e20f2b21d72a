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

// The archive keeps the ledger's Merkle tree (fsm/tree.go,
// docs/verification.md) beside the entries: the hash of every perfect
// subtree, leaves included, written in the same transaction as the
// entries they cover, so any inclusion or consistency proof for a tree
// size the archive has reached is O(log n) reads.
//
// Layout in <data>/ledger.db:
//
//	tree: level byte + big-endian index → 32-byte node hash
//	meta: "tree" → big-endian size the tree bucket is complete to
//
// The archive's copy of the tree is built from the entries it stores; the
// state machine keeps its own compact range (fsm.Ledger.TreeHead), and the
// two must agree (checked before a checkpoint is signed). After a snapshot
// install the archive starts again from the snapshot's compact range: the
// nodes that cover only entries before it are missing until those entries
// are backfilled, and proofs that need them answer ErrProofUnavailable.

var (
	bucketTree = []byte("tree")
	keyTree    = []byte("tree")
)

// Proof errors.
var (
	// ErrTreeSize: a proof or checkpoint was asked for a tree size this
	// node's archive has not reached (or that is not a size at all).
	ErrTreeSize = errors.New("tree size out of range")
	// ErrProofUnavailable: the archive lacks nodes the proof needs (entries
	// before an installed snapshot that are not backfilled yet).
	ErrProofUnavailable = errors.New("this node's archive lacks the entries or tree nodes that proof needs")
)

func nodeKey(id compact.NodeID) []byte {
	var k [9]byte
	k[0] = byte(id.Level) // #nosec G115 -- a tree of at most 2^64 leaves has levels 0..64
	binary.BigEndian.PutUint64(k[1:], id.Index)
	return k[:]
}

// archiveTree is the archive's copy of the tree: the compact range of the
// leaves written so far. The flusher (and restored) change it under
// archive.treeMu; readers take the head under archive.mu.
type archiveTree struct {
	rng *compact.Range // nil: unknown (a snapshot without a tree)
}

// clone copies the range, so a failed transaction leaves the original.
func (t *archiveTree) clone() *compact.Range {
	if t.rng == nil {
		return nil
	}
	h := t.rng.Hashes()
	c := make([][]byte, len(h))
	copy(c, h)
	r, _ := treeFactory.NewRange(0, t.rng.End(), c)
	return r
}

var treeFactory = &compact.RangeFactory{Hash: fsm.TreeHasher.HashChildren}

// loadTree reads the tree size and rebuilds the compact range from the
// stored nodes.
func (a *archive) loadTree(tx *bbolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketTree); err != nil {
		return err
	}
	v := tx.Bucket(bucketMeta).Get(keyTree)
	if len(v) != 8 {
		if a.durable > 0 {
			// An archive written before it kept a tree: rebuild it from the
			// entries on the first flush that finds the tree behind.
			a.tree.rng = treeFactory.NewEmptyRange(0)
			return a.rebuildTree(tx)
		}
		a.tree.rng = treeFactory.NewEmptyRange(0)
		return nil
	}
	var err error
	a.tree.rng, err = rangeAt(tx.Bucket(bucketTree), binary.BigEndian.Uint64(v))
	return err
}

// rebuildTree hashes the stored entries from the first into the tree,
// stopping at the first gap.
func (a *archive) rebuildTree(tx *bbolt.Tx) error {
	tb := tx.Bucket(bucketTree)
	c := tx.Bucket(bucketEntries).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if seq != a.tree.rng.End()+1 {
			break
		}
		r, err := a.decodeRecord(seq, v)
		if err != nil {
			return fmt.Errorf("sequence %d: %w", seq, err)
		}
		if err := appendTree(a.tree.rng, tb, seq, &r); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyTree, seqKey(a.tree.rng.End()))
}

func readNodes(b *bbolt.Bucket, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		v := b.Get(nodeKey(id))
		if len(v) != 32 {
			return nil, fmt.Errorf("%w: node %d/%d", ErrProofUnavailable, id.Level, id.Index)
		}
		out[i] = append([]byte(nil), v...)
	}
	return out, nil
}

// appendTree adds entry seq's leaf to rng and stores every node it
// completes.
func appendTree(rng *compact.Range, tb *bbolt.Bucket, seq uint64, r *archiveRecord) error {
	var putErr error
	visit := func(id compact.NodeID, h []byte) {
		if putErr == nil {
			putErr = tb.Put(nodeKey(id), h)
		}
	}
	leaf := fsm.Leaf(seq, r.Time, !r.Rejected, r.Data)
	if err := rng.Append(fsm.TreeHasher.HashLeaf(leaf), visit); err != nil {
		return fmt.Errorf("tree append %d: %w", seq, err)
	}
	return putErr
}

// writeTree extends the tree with the batch's entries inside the flush
// transaction; it returns the extended range, installed by the caller
// once the transaction commits. An entry the tree already holds with the
// same leaf (re-applied after a restart) is skipped; one whose leaf
// differs (the state was restored behind the archive, and history goes on
// differently) cuts the tree back to before it. An entry beyond a gap
// stops the tree, which resumes when a snapshot install hands it a
// frontier.
func (a *archive) writeTree(tx *bbolt.Tx, batch []archived) (*compact.Range, error) {
	rng := a.tree.clone()
	if rng == nil {
		return nil, nil
	}
	tb := tx.Bucket(bucketTree)
	start := rng.End()
	for i := range batch {
		seq, r := batch[i].seq, &batch[i].rec
		if seq <= rng.End() {
			leaf := fsm.TreeHasher.HashLeaf(fsm.Leaf(seq, r.Time, !r.Rejected, r.Data))
			if bytes.Equal(tb.Get(nodeKey(compact.NewNodeID(0, seq-1))), leaf) {
				continue
			}
			cut, err := rangeAt(tb, seq-1)
			if err != nil {
				return nil, err
			}
			rng, start = cut, 0
		}
		if seq != rng.End()+1 {
			break
		}
		if err := appendTree(rng, tb, seq, r); err != nil {
			return nil, err
		}
	}
	if rng.End() == start {
		return rng, nil
	}
	return rng, tx.Bucket(bucketMeta).Put(keyTree, seqKey(rng.End()))
}

// rangeAt rebuilds the compact range of the tree of size leaves from the
// stored nodes.
func rangeAt(tb *bbolt.Bucket, size uint64) (*compact.Range, error) {
	hashes, err := readNodes(tb, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, fmt.Errorf("tree of size %d: %w", size, err)
	}
	return treeFactory.NewRange(0, size, hashes)
}

// resetTree restarts the archive's tree from the compact range of a
// restored state at size (the state's sequence): its perfect subtrees'
// hashes are stored as nodes, and later entries extend it. hashes nil
// means the state holds no tree, and the archive's copy stops.
func (a *archive) resetTree(size uint64, hashes [][]byte, ok bool) {
	a.treeMu.Lock()
	defer a.treeMu.Unlock()
	if !ok {
		a.tree.rng = nil
		a.setHead()
		return
	}
	if a.tree.rng != nil && a.tree.rng.End() >= size && a.agrees(size, hashes) {
		// A restart: the archive's tree already holds the snapshot's
		// entries, and the re-applied entries after it are checked leaf by
		// leaf as they are written again (writeTree).
		return
	}
	rng, err := treeFactory.NewRange(0, size, hashes)
	if err != nil {
		a.log.Error("ledger archive: restored state's tree is malformed", "error", err)
		a.tree.rng = nil
		a.setHead()
		return
	}
	err = a.db.Update(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTree)
		for i, id := range compact.RangeNodes(0, size, nil) {
			if err := tb.Put(nodeKey(id), hashes[i]); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyTree, seqKey(size))
	})
	if err != nil {
		a.mu.Lock()
		a.failLocked("tree reset", err)
		a.mu.Unlock()
		return
	}
	a.tree.rng = rng
	a.setHead()
}

// agrees reports whether the stored tree of size leaves has the given
// compact range.
func (a *archive) agrees(size uint64, hashes [][]byte) bool {
	var stored [][]byte
	err := a.db.View(func(tx *bbolt.Tx) error {
		var err error
		stored, err = readNodes(tx.Bucket(bucketTree), compact.RangeNodes(0, size, nil))
		return err
	})
	return err == nil && equalHashes(stored, hashes)
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// setHead publishes the tree's size and root to readers; call with treeMu
// held.
func (a *archive) setHead() {
	var head fsm.TreeHead
	if a.tree.rng != nil {
		head.Size = a.tree.rng.End()
		head.Root, _ = a.tree.rng.GetRootHash(nil)
	}
	a.mu.Lock()
	a.head = head
	a.headOK = a.tree.rng != nil
	a.mu.Unlock()
}

// treeHead returns the size and root of the archive's tree; ok is false
// when the archive holds no tree.
func (a *archive) treeHead() (fsm.TreeHead, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.head, a.headOK
}

// checkSize checks that size is a tree size the archive has reached.
func (a *archive) checkSize(size uint64) error {
	head, ok := a.treeHead()
	if !ok {
		return ErrProofUnavailable
	}
	if size == 0 || size > head.Size {
		return fmt.Errorf("%w: tree size %d; this node's tree has %d entries", ErrTreeSize, size, head.Size)
	}
	return nil
}

// proofHashes fetches the nodes a proof names and folds its ephemeral
// node.
func (a *archive) proofHashes(nodes proof.Nodes) ([][]byte, error) {
	var hashes [][]byte
	err := a.db.View(func(tx *bbolt.Tx) error {
		var err error
		hashes, err = readNodes(tx.Bucket(bucketTree), nodes.IDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nodes.Rehash(hashes, fsm.TreeHasher.HashChildren)
}

// inclusionProof returns the proof that leaf index is in the tree of
// size leaves.
func (a *archive) inclusionProof(index, size uint64) ([][]byte, error) {
	if err := a.checkSize(size); err != nil {
		return nil, err
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTreeSize, err)
	}
	return a.proofHashes(nodes)
}

// consistencyProof returns the proof that the tree of size from is a
// prefix of the tree of size to.
func (a *archive) consistencyProof(from, to uint64) ([][]byte, error) {
	if err := a.checkSize(to); err != nil {
		return nil, err
	}
	if from == 0 || from > to {
		return nil, fmt.Errorf("%w: from %d must be in [1, to=%d]", ErrTreeSize, from, to)
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTreeSize, err)
	}
	return a.proofHashes(nodes)
}

// rootAt returns the root of the tree of size leaves, from the stored
// perfect subtrees that compose it.
func (a *archive) rootAt(size uint64) ([]byte, error) {
	if err := a.checkSize(size); err != nil {
		return nil, err
	}
	var hashes [][]byte
	err := a.db.View(func(tx *bbolt.Tx) error {
		var err error
		hashes, err = readNodes(tx.Bucket(bucketTree), compact.RangeNodes(0, size, nil))
		return err
	})
	if err != nil {
		return nil, err
	}
	rng, err := treeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}
