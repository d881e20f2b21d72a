package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The ledger is a Merkle tree (docs/verification.md): one leaf per ledger
// entry, leaf index = sequence − 1, tree size = number of entries, hashed
// as RFC 6962 specifies (leaf hash SHA-256(0x00 ‖ leaf), interior nodes
// SHA-256(0x01 ‖ left ‖ right)). The ledger keeps the tree's compact range
// — the roots of its perfect subtrees, at most 64 hashes — so every node,
// and every snapshot, holds the root of the tree it has applied; the node
// hashes proofs are built from are kept beside the archive, outside the
// state machine.

// LeafHeaderSize is the size of a leaf's header: sequence (8 bytes, big
// endian), ledger time after the entry (8 bytes, Unix ms, big endian) and
// the outcome (1 byte: 1 applied, 0 rejected).
const LeafHeaderSize = 17

// Leaf returns the bytes a ledger entry contributes to the tree: the
// header (LeafHeaderSize) followed by the entry exactly as Raft committed
// it. The same bytes feed the running digest.
func Leaf(seq uint64, time int64, applied bool, entry []byte) []byte {
	b := make([]byte, LeafHeaderSize, LeafHeaderSize+len(entry))
	binary.BigEndian.PutUint64(b[0:], seq)
	binary.BigEndian.PutUint64(b[8:], uint64(time)) // #nosec G115 -- bit pattern of ledger time, hashed
	if applied {
		b[16] = 1
	}
	return append(b, entry...)
}

// LeafParts is a leaf taken apart (ParseLeaf).
type LeafParts struct {
	Sequence uint64
	Time     int64
	Applied  bool
	Entry    []byte
}

// ParseLeaf splits a leaf into its header fields and the entry bytes.
func ParseLeaf(leaf []byte) (LeafParts, error) {
	if len(leaf) < LeafHeaderSize {
		return LeafParts{}, errors.New("leaf shorter than its header")
	}
	if leaf[16] > 1 {
		return LeafParts{}, fmt.Errorf("leaf outcome byte %d is neither 0 nor 1", leaf[16])
	}
	return LeafParts{
		Sequence: binary.BigEndian.Uint64(leaf[0:]),
		Time:     int64(binary.BigEndian.Uint64(leaf[8:])), // #nosec G115 -- bit pattern of ledger time
		Applied:  leaf[16] == 1,
		Entry:    leaf[LeafHeaderSize:],
	}, nil
}

// TreeHasher is the tree's hasher: RFC 6962 over SHA-256.
var TreeHasher = rfc6962.DefaultHasher

// treeFactory makes compact ranges hashed as the tree is.
var treeFactory = &compact.RangeFactory{Hash: TreeHasher.HashChildren}

// TreeHead is the size and root hash of the ledger's tree.
type TreeHead struct {
	Size uint64
	Root []byte
}

// newTree returns the compact range of an empty tree.
func newTree() *compact.Range { return treeFactory.NewEmptyRange(0) }

// restoreTree rebuilds the compact range of a tree of size leaves from
// its perfect subtrees' hashes; nil hashes for a non-empty tree mean a
// snapshot taken before the ledger kept its tree.
func restoreTree(size uint64, hashes [][]byte) (*compact.Range, error) {
	if size > 0 && len(hashes) == 0 {
		return nil, nil
	}
	r, err := treeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("snapshot tree of size %d: %w", size, err)
	}
	return r, nil
}

// appendLeaf adds a leaf to the tree, when the ledger keeps one.
func (l *Ledger) appendLeaf(leaf []byte) {
	if l.tree == nil {
		return
	}
	// Append fails only when the range is malformed, which this package
	// never builds.
	_ = l.tree.Append(TreeHasher.HashLeaf(leaf), nil)
}

// treeHashes copies the compact range's hashes, for a snapshot.
func (l *Ledger) treeHashes() [][]byte {
	if l.tree == nil {
		return nil
	}
	h := l.tree.Hashes()
	out := make([][]byte, len(h))
	for i := range h {
		out[i] = append([]byte(nil), h[i]...)
	}
	return out
}

// TreeHead returns the size and root of the ledger's tree; ok is false
// when the ledger was restored from a snapshot that did not carry its
// tree (written before the ledger kept one), until it is rebuilt.
func (l *Ledger) TreeHead() (head TreeHead, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.tree == nil {
		return TreeHead{Size: l.seq}, false
	}
	root, err := l.tree.GetRootHash(nil)
	if err != nil {
		return TreeHead{Size: l.seq}, false
	}
	return TreeHead{Size: l.tree.End(), Root: root}, true
}

// TreeRoot computes the root of the tree whose leaves are given, in order:
// what a verifier holding every entry compares with a checkpoint.
func TreeRoot(leaves [][]byte) []byte {
	r := newTree()
	for _, leaf := range leaves {
		_ = r.Append(TreeHasher.HashLeaf(leaf), nil)
	}
	root, _ := r.GetRootHash(nil)
	return root
}

// TreeFrontier returns the tree's size and compact range: the hashes of
// its perfect subtrees, left to right, from which the archive resumes its
// copy of the tree after a snapshot install. ok is false when the ledger
// holds no tree (see TreeHead).
func (l *Ledger) TreeFrontier() (size uint64, hashes [][]byte, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.tree == nil {
		return l.seq, nil, false
	}
	return l.tree.End(), l.treeHashes(), true
}
