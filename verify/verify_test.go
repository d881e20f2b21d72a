package verify

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/trustledger/trustledger/fsm"
	"golang.org/x/mod/sumdb/note"
)

// signedLog is a ledger of n leaves with a checkpoint key.
type signedLog struct {
	skey, vkey string
	leaves     [][]byte
}

func newSignedLog(t *testing.T, name string, n int) *signedLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	l := &signedLog{skey: skey, vkey: vkey}
	for i := 1; i <= n; i++ {
		l.leaves = append(l.leaves, fsm.Leaf(uint64(i), int64(1000*i), i%7 != 0, []byte(fmt.Sprintf("entry %d", i))))
	}
	return l
}

func (l *signedLog) checkpoint(t *testing.T, size int) []byte {
	t.Helper()
	s, err := note.NewSigner(l.skey)
	if err != nil {
		t.Fatal(err)
	}
	root := fsm.TreeRoot(l.leaves[:size])
	b, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", s.Name(), size, base64.StdEncoding.EncodeToString(root))}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nodes computes the hashes a proof names from the leaves.
func (l *signedLog) nodes(t *testing.T, n proof.Nodes) [][]byte {
	t.Helper()
	hashes := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		lo, hi := id.Coverage()
		hashes[i] = fsm.TreeRoot(l.leaves[lo:hi])
	}
	out, err := n.Rehash(hashes, fsm.TreeHasher.HashChildren)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheckpointAndProofs(t *testing.T) {
	l := newSignedLog(t, "trustledger/test", 100)
	cp, err := OpenCheckpoint(l.vkey, l.checkpoint(t, 100))
	if err != nil || cp.Size != 100 || cp.Origin != "trustledger/test" {
		t.Fatalf("OpenCheckpoint = %+v, %v", cp, err)
	}
	other := newSignedLog(t, "trustledger/test", 100)
	if _, err := OpenCheckpoint(l.vkey, other.checkpoint(t, 100)); err == nil {
		t.Fatal("a checkpoint signed by another key verified")
	}

	incl, _ := proof.Inclusion(41, 100)
	path := l.nodes(t, incl)
	if err := Inclusion(cp, 42, l.leaves[41], path); err != nil {
		t.Fatalf("genuine entry: %v", err)
	}
	changed := append([]byte(nil), l.leaves[41]...)
	changed[len(changed)-1] ^= 1
	if err := Inclusion(cp, 42, changed, path); err == nil || !strings.Contains(err.Error(), "not in the ledger") {
		t.Fatalf("changed entry: %v", err)
	}
	if err := Inclusion(cp, 42, l.leaves[42], path); err == nil || !strings.Contains(err.Error(), "reordered") {
		t.Fatalf("another entry in its place: %v", err)
	}

	old, _ := OpenCheckpoint(l.vkey, l.checkpoint(t, 60))
	cons, _ := proof.Consistency(60, 100)
	if err := Consistency(old, cp, l.nodes(t, cons)); err != nil {
		t.Fatalf("genuine growth: %v", err)
	}
	// A history rewritten after entry 30, signed with the same key.
	forked := &signedLog{skey: l.skey, vkey: l.vkey, leaves: append([][]byte(nil), l.leaves...)}
	forked.leaves[30] = fsm.Leaf(31, 31_000, true, []byte("rewritten"))
	fcp, _ := OpenCheckpoint(l.vkey, forked.checkpoint(t, 100))
	if err := Consistency(old, fcp, forked.nodes(t, cons)); err == nil || !strings.Contains(err.Error(), "rewritten or forked") {
		t.Fatalf("rewritten history: %v", err)
	}
	same, _ := OpenCheckpoint(l.vkey, forked.checkpoint(t, 100))
	if err := Consistency(cp, same, nil); err == nil || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("two roots for one size: %v", err)
	}
	if err := Consistency(cp, old, nil); err == nil || !strings.Contains(err.Error(), "shrank") {
		t.Fatalf("shrunk ledger: %v", err)
	}
}

func TestLeaves(t *testing.T) {
	l := newSignedLog(t, "trustledger/test", 50)
	cp, _ := OpenCheckpoint(l.vkey, l.checkpoint(t, 50))
	if err := Leaves(cp, l.leaves); err != nil {
		t.Fatalf("genuine ledger: %v", err)
	}
	tampered := append([][]byte(nil), l.leaves...)
	tampered[10] = append([]byte(nil), tampered[10]...)
	tampered[10][20] ^= 1
	reordered := append([][]byte(nil), l.leaves...)
	reordered[3], reordered[4] = reordered[4], reordered[3]
	dropped := append(append([][]byte(nil), l.leaves[:20]...), l.leaves[21:]...)
	for name, c := range map[string]struct {
		leaves [][]byte
		want   string
	}{
		"a changed entry":  {tampered, "an entry was changed"},
		"a reordered pair": {reordered, "reordered"},
		"a dropped entry":  {dropped, "dropped"},
	} {
		if err := Leaves(cp, c.leaves); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}
