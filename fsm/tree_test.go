package fsm

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/transparency-dev/merkle/proof"
)

// goldenTreeRoot pins the Merkle root of the golden ledger: the leaf
// format (tree.go) is part of what verifiers rely on, so a change to it
// must be deliberate.
// goldenModel1TreeRoot is the root over the model-1 entries' leaves.
const (
	goldenTreeRoot       = "d4106c143a757ad22ec0ebf73459addfc87620900a6f5dc695973faf9575badd"
	goldenModel1TreeRoot = "d8b2bbfe9b6e4f43e64df99fffbdbfce2ec1003ac2d770867bcd1ea406ad3f3c"
)

// TestTreeOverGoldenLedger checks that the ledger's tree is the RFC 6962
// tree of its leaves: the root the ledger keeps equals the root computed
// from the leaves alone, a leaf proves its inclusion against it, the
// root survives a snapshot, and the golden root is pinned.
func TestTreeOverGoldenLedger(t *testing.T) {
	log := readGolden(t)
	l := NewLedger()
	leaves := make([][]byte, 0, len(log))
	for i, e := range log {
		res := l.Apply(uint64(i+1), e)
		leaves = append(leaves, Leaf(res.Sequence, res.Time, res.Err == nil, e))
	}
	head, ok := l.TreeHead()
	if !ok || head.Size != uint64(len(log)) {
		t.Fatalf("tree head %+v ok=%v, want size %d", head, ok, len(log))
	}
	if want := TreeRoot(leaves); !bytes.Equal(head.Root, want) {
		t.Fatalf("ledger root %x, leaves give %x", head.Root, want)
	}
	if got := hex.EncodeToString(TreeRoot(leaves[:goldenModel1Entries])); got != goldenModel1TreeRoot {
		t.Fatalf("the model-1 entries' tree root %s, pinned %s: the leaf format changed", got, goldenModel1TreeRoot)
	}
	if got := hex.EncodeToString(head.Root); got != goldenTreeRoot {
		t.Fatalf("golden ledger tree root %s, pinned %s: the leaf format changed", got, goldenTreeRoot)
	}

	// An inclusion proof for one leaf, built by recomputing the subtrees
	// it names, verifies against the root; a changed leaf does not.
	idx := uint64(len(leaves) / 3)
	nodes, err := proof.Inclusion(idx, head.Size)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		lo, hi := id.Coverage()
		hashes[i] = TreeRoot(leaves[lo:hi])
	}
	p, err := nodes.Rehash(hashes, TreeHasher.HashChildren)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(TreeHasher, idx, head.Size, TreeHasher.HashLeaf(leaves[idx]), p, head.Root); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	bad := append([]byte(nil), leaves[idx]...)
	bad[len(bad)-1] ^= 1
	if proof.VerifyInclusion(TreeHasher, idx, head.Size, TreeHasher.HashLeaf(bad), p, head.Root) == nil {
		t.Fatal("a changed leaf verified")
	}

	var buf bytes.Buffer
	if _, err := l.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewLedger()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	rh, ok := r.TreeHead()
	if !ok || rh.Size != head.Size || !bytes.Equal(rh.Root, head.Root) {
		t.Fatalf("restored tree head %+v ok=%v, want %+v", rh, ok, head)
	}
	// The restored ledger keeps growing the same tree.
	extra := log[len(log)-1]
	res := l.Apply(uint64(len(log)+1), extra)
	r.Apply(uint64(len(log)+1), extra)
	a, _ := l.TreeHead()
	b, _ := r.TreeHead()
	if !bytes.Equal(a.Root, b.Root) || a.Size != res.Sequence {
		t.Fatalf("after one more entry: %x (size %d) vs restored %x", a.Root, a.Size, b.Root)
	}
}

func TestParseLeaf(t *testing.T) {
	leaf := Leaf(7, 1_720_000_000_000, true, []byte{1, 2, 3})
	p, err := ParseLeaf(leaf)
	if err != nil || p.Sequence != 7 || p.Time != 1_720_000_000_000 || !p.Applied || !bytes.Equal(p.Entry, []byte{1, 2, 3}) {
		t.Fatalf("ParseLeaf = %+v, %v", p, err)
	}
	if _, err := ParseLeaf(leaf[:5]); err == nil {
		t.Fatal("short leaf parsed")
	}
	leaf[16] = 2
	if _, err := ParseLeaf(leaf); err == nil {
		t.Fatal("outcome byte 2 parsed")
	}
}
