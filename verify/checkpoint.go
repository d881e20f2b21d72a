// Package verify checks what a trustledger node serves against the
// ledger's signed checkpoints (docs/verification.md): a checkpoint against
// a pinned verifier key, entries against a checkpoint by their inclusion
// proofs, a newer checkpoint against an older one by a consistency proof.
// It trusts nothing the server says about its own proofs: every check is
// computed here, from bytes the checkpoint commits to.
package verify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/trustledger/trustledger/fsm"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a verified checkpoint: the tree head a key signed.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	// Note is the signed note as served.
	Note []byte
}

// OpenCheckpoint verifies a checkpoint note with the verifier key
// (name+hash+keydata) and parses it. The origin must be the key's name.
func OpenCheckpoint(verifierKey string, msg []byte) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root lines")
	}
	if lines[0] != v.Name() {
		return Checkpoint{}, fmt.Errorf("checkpoint origin %q is not the key's name %q", lines[0], v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint size %q: %w", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	return Checkpoint{Origin: lines[0], Size: size, Root: root, Note: msg}, nil
}

// Inclusion checks that leaf is entry seq of the checkpoint's tree: the
// leaf's own header names seq, and the audit path leads from its hash to
// the checkpoint's root.
func Inclusion(cp Checkpoint, seq uint64, leaf []byte, path [][]byte) error {
	parts, err := fsm.ParseLeaf(leaf)
	if err != nil {
		return fmt.Errorf("entry %d: %w", seq, err)
	}
	if parts.Sequence != seq {
		return fmt.Errorf("entry %d: its leaf says it is entry %d (entries reordered or renumbered)", seq, parts.Sequence)
	}
	if seq == 0 || seq > cp.Size {
		return fmt.Errorf("entry %d is not in a tree of %d entries", seq, cp.Size)
	}
	if err := proof.VerifyInclusion(fsm.TreeHasher, seq-1, cp.Size, fsm.TreeHasher.HashLeaf(leaf), path, cp.Root); err != nil {
		return fmt.Errorf("entry %d is not in the ledger the checkpoint of size %d signs (changed, or not the ledger's): %w", seq, cp.Size, proofError(err))
	}
	return nil
}

// Consistency checks that the tree of newer extends the tree of older:
// no entry before older.Size was changed, dropped or reordered.
func Consistency(older, newer Checkpoint, path [][]byte) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("checkpoints of two logs: %q and %q", older.Origin, newer.Origin)
	}
	switch {
	case newer.Size < older.Size:
		return fmt.Errorf("the ledger shrank from %d to %d entries: history was rewritten", older.Size, newer.Size)
	case newer.Size == older.Size:
		if !bytes.Equal(older.Root, newer.Root) {
			return fmt.Errorf("two checkpoints of size %d with different roots: the ledger forked", older.Size)
		}
		return nil
	}
	if err := proof.VerifyConsistency(fsm.TreeHasher, older.Size, newer.Size, path, older.Root, newer.Root); err != nil {
		return fmt.Errorf("the ledger of %d entries does not extend the one of %d seen before (history rewritten or forked): %w",
			newer.Size, older.Size, proofError(err))
	}
	return nil
}

// Leaves checks a complete run of leaves, entries 1 to len(leaves),
// against a checkpoint of that size: each leaf names its own sequence, and
// together they hash to the checkpoint's root. It finds a changed,
// dropped, added or reordered entry anywhere in the ledger.
func Leaves(cp Checkpoint, leaves [][]byte) error {
	for i, leaf := range leaves {
		parts, err := fsm.ParseLeaf(leaf)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if parts.Sequence != uint64(i+1) {
			return fmt.Errorf("entry %d: its leaf says it is entry %d (entries dropped, added or reordered)", i+1, parts.Sequence)
		}
	}
	if uint64(len(leaves)) != cp.Size {
		return fmt.Errorf("%d entries served for a checkpoint of %d", len(leaves), cp.Size)
	}
	if got := fsm.TreeRoot(leaves); !bytes.Equal(got, cp.Root) {
		return fmt.Errorf("the %d entries served do not hash to the checkpoint's root: an entry was changed", len(leaves))
	}
	return nil
}

// proofError says a root mismatch in base64, the checkpoint's own form.
func proofError(err error) error {
	var m proof.RootMismatchError
	if errors.As(err, &m) {
		return fmt.Errorf("the proof leads to root %s, the checkpoint signs %s", base64.StdEncoding.EncodeToString(m.CalculatedRoot),
			base64.StdEncoding.EncodeToString(m.ExpectedRoot))
	}
	return err
}
