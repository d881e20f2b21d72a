package cluster

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/trustledger/trustledger/fsm"
	"go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
)

// openedCheckpoint verifies a checkpoint note with the node's verifier key
// and returns its origin, size and root.
func openedCheckpoint(t *testing.T, n *Node, b []byte) (string, uint64, []byte) {
	t.Helper()
	vkey, err := n.CheckpointVerifierKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, b)
	}
	lines := strings.Split(nt.Text, "\n")
	if len(lines) < 3 || lines[0] != v.Name() {
		t.Fatalf("checkpoint text %q: want origin %s", nt.Text, v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return lines[0], size, root
}

// TestCheckpointsAndProofs runs a real node: its archive's tree matches
// the state machine's, a signed checkpoint verifies with the published
// key, inclusion and consistency proofs verify against checkpoints, and
// all of it survives a restart.
func TestCheckpointsAndProofs(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	n := openLeader(t, dir, addr)
	// Before anything is archived, the latest checkpoint is of the empty
	// tree, which every later one extends.
	empty, err := n.Checkpoint(0)
	if err != nil {
		t.Fatalf("checkpoint of an empty ledger: %v", err)
	}
	if _, size, root := openedCheckpoint(t, n, empty); size != 0 || !bytes.Equal(root, fsm.TreeHasher.EmptyRoot()) {
		t.Fatalf("empty ledger: checkpoint size %d root %x", size, root)
	}
	workload(t, n, "p", 5, 20)
	eventually(t, 5*time.Second, func() bool {
		head, _ := n.ledger.TreeHead()
		return n.TreeSize() == head.Size
	}, "archive tree catches up")
	fh, _ := n.ledger.TreeHead()
	ck, err := n.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	origin, size, root := openedCheckpoint(t, n, ck)
	if !strings.HasPrefix(origin, "trustledger/") || size != fh.Size || !bytes.Equal(root, fh.Root) {
		t.Fatalf("checkpoint %s size %d root %x; ledger size %d root %x", origin, size, root, fh.Size, fh.Root)
	}
	again, _ := n.Checkpoint(size)
	if !bytes.Equal(again, ck) {
		t.Fatal("two signatures of one tree head differ: Ed25519 checkpoints must be deterministic")
	}

	leaves := archiveLeaves(t, n)
	if uint64(len(leaves)) != size || !bytes.Equal(fsm.TreeRoot(leaves), root) {
		t.Fatalf("%d archived leaves do not give the checkpoint's root", len(leaves))
	}
	for _, seq := range []uint64{1, 2, size / 2, size} {
		p, err := n.InclusionProof(seq, size)
		if err != nil {
			t.Fatalf("inclusion %d: %v", seq, err)
		}
		if err := proof.VerifyInclusion(fsm.TreeHasher, seq-1, size, fsm.TreeHasher.HashLeaf(leaves[seq-1]), p, root); err != nil {
			t.Fatalf("inclusion proof of %d in %d: %v", seq, size, err)
		}
	}
	small := size / 3
	ck1, err := n.Checkpoint(small)
	if err != nil {
		t.Fatal(err)
	}
	_, s1, r1 := openedCheckpoint(t, n, ck1)
	cp, err := n.ConsistencyProof(s1, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(fsm.TreeHasher, s1, size, cp, r1, root); err != nil {
		t.Fatalf("consistency %d → %d: %v", s1, size, err)
	}
	if _, err := n.InclusionProof(1, size+1); err == nil {
		t.Fatal("a proof for a tree size the node has not reached")
	}

	// A restart keeps the key, the tree and therefore the checkpoint.
	vkey, _ := n.CheckpointVerifierKey()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	m := openNode(t, testConfig(t, "node1", dir, addr, true))
	waitLeader(t, m)
	eventually(t, 5*time.Second, func() bool { return m.TreeSize() >= size }, "tree reloaded")
	if vk, _ := m.CheckpointVerifierKey(); vk != vkey {
		t.Fatalf("verifier key changed across a restart: %s → %s", vkey, vk)
	}
	ck2, err := m.Checkpoint(size)
	if err != nil || !bytes.Equal(ck2, ck) {
		t.Fatalf("checkpoint at %d after restart differs (%v)", size, err)
	}
}

// archiveLeaves reads every archived entry's leaf.
func archiveLeaves(t *testing.T, n *Node) [][]byte {
	t.Helper()
	var out [][]byte
	for seq := uint64(1); ; seq++ {
		r, ok := archivedRecord(t, n.archive, seq)
		if !ok {
			return out
		}
		out = append(out, fsm.Leaf(seq, r.Time, !r.Rejected, r.Data))
	}
}

func archivedRecord(t *testing.T, a *archive, seq uint64) (archiveRecord, bool) {
	t.Helper()
	var r archiveRecord
	found := false
	err := a.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get(seqKey(seq))
		if v == nil {
			return nil
		}
		var err error
		r, err = a.decodeRecord(seq, v)
		found = err == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, found
}
