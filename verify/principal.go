package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

// PrincipalReport says what Principal verified.
type PrincipalReport struct {
	PrincipalID string `json:"principalId"`
	CheckpointReport
	// Entries counts the entries proven and replayed.
	Entries int `json:"entriesReplayed"`
	// Time is the ledger time the record was read at (the newest entry's).
	Time string `json:"time"`
	// Record is the served record, reproduced byte for byte.
	Record json.RawMessage `json:"record"`
}

// Principal fetches principal id's proof bundle (at treeSize entries, or
// the newest when 0), verifies its checkpoint with the settled key and its
// consistency with the checkpoint st remembers, and checks the bundle
// (CheckPrincipal). On success st remembers the checkpoint when it is
// newer than the one it held.
func Principal(ctx context.Context, cl *client.Client, st *State, pin, id string, treeSize uint64) (*PrincipalReport, error) {
	key, firstUse, err := Key(ctx, cl, st, pin)
	if err != nil {
		return nil, err
	}
	b, err := cl.PrincipalProof(ctx, id, treeSize)
	if err != nil {
		return nil, fmt.Errorf("fetch the proof of %s: %w", id, err)
	}
	if b.PrincipalID != id {
		return nil, fmt.Errorf("asked for the proof of %s, the server answered with %s's", id, b.PrincipalID)
	}
	if treeSize > 0 && b.TreeSize != treeSize {
		return nil, fmt.Errorf("asked for tree size %d, the server answered with %d", treeSize, b.TreeSize)
	}
	return bundle(ctx, cl, st, key, firstUse, b)
}

// PrincipalBundle verifies a proof bundle obtained some other way (saved
// to a file, handed over by a relying party) as Principal verifies the one
// it fetches: the checkpoint with the settled key, its consistency with
// the one st remembers (fetched from cl), and CheckPrincipal.
func PrincipalBundle(ctx context.Context, cl *client.Client, st *State, pin string, b *client.PrincipalProof) (*PrincipalReport, error) {
	key, firstUse, err := Key(ctx, cl, st, pin)
	if err != nil {
		return nil, err
	}
	return bundle(ctx, cl, st, key, firstUse, b)
}

func bundle(ctx context.Context, cl *client.Client, st *State, key string, firstUse bool, b *client.PrincipalProof) (*PrincipalReport, error) {
	id := b.PrincipalID
	cp, err := OpenCheckpoint(key, []byte(b.Checkpoint))
	if err != nil {
		return nil, err
	}
	rep := &PrincipalReport{PrincipalID: id, CheckpointReport: CheckpointReport{Origin: cp.Origin, VerifierKey: key, FirstUse: firstUse,
		TreeSize: cp.Size, Root: cp.Root}}
	if st.Checkpoint != "" {
		old, err := OpenCheckpoint(key, []byte(st.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("the remembered checkpoint: %w", err)
		}
		if old.Size <= cp.Size {
			err = extends(ctx, cl, old, cp)
		} else {
			err = extends(ctx, cl, cp, old) // an older tree size was asked for
		}
		if err != nil {
			return nil, err
		}
		rep.Previous = old.Size
	}
	if rep.Entries, rep.Time, err = CheckPrincipal(cp, b); err != nil {
		return nil, err
	}
	rep.Record = b.Record
	if st.Checkpoint == "" || rep.Previous < cp.Size {
		st.Checkpoint = string(cp.Note)
	}
	return rep, nil
}

// CheckPrincipal checks a proof bundle against its verified checkpoint cp:
// the head entry (sequence cp.Size) and every entry are in cp's tree by
// their inclusion proofs, and replaying the entries with the fsm package
// (fsm.Replay), up to the head's ledger time, reproduces the served record
// byte for byte. It returns how many entries were replayed and the ledger
// time the record was read at.
func CheckPrincipal(cp Checkpoint, b *client.PrincipalProof) (int, string, error) {
	if b.TreeSize != cp.Size {
		return 0, "", fmt.Errorf("the bundle says tree size %d, its checkpoint signs %d", b.TreeSize, cp.Size)
	}
	if cp.Size == 0 || b.Head.Sequence != cp.Size {
		return 0, "", fmt.Errorf("the bundle's head is entry %d, not the checkpoint's last entry %d", b.Head.Sequence, cp.Size)
	}
	if err := Inclusion(cp, b.Head.Sequence, b.Head.Leaf, b.Head.Proof); err != nil {
		return 0, "", fmt.Errorf("the head entry: %w", err)
	}
	head, err := fsm.ParseLeaf(b.Head.Leaf)
	if err != nil {
		return 0, "", err
	}
	entries := make([]fsm.ReplayEntry, len(b.Entries))
	for i, e := range b.Entries {
		if err := Inclusion(cp, e.Sequence, e.Leaf, e.Proof); err != nil {
			return 0, "", err
		}
		entries[i] = fsm.ReplayEntry{Leaf: e.Leaf, Index: e.Index, Alerts: e.Alerts}
	}
	l, err := fsm.Replay(entries, fsm.Head{Size: cp.Size, Time: head.Time, Index: b.Head.Index})
	if err != nil {
		return 0, "", fmt.Errorf("replaying the %d entries proven: %w (entries the record depends on are missing, or not the ledger's)", len(entries), err)
	}
	rec, ok := l.Record(b.PrincipalID, head.Time)
	if !ok {
		return 0, "", fmt.Errorf("the %d entries proven do not register %s: the entries of its registration are missing", len(entries), b.PrincipalID)
	}
	got, err := json.Marshal(rec)
	if err != nil {
		return 0, "", err
	}
	if !bytes.Equal(got, b.Record) {
		return 0, "", fmt.Errorf("the served record is not the one its %d proven entries give: %s", len(entries), recordDiff(b.Record, got))
	}
	return len(entries), fsm.FormatTime(head.Time), nil
}

// recordDiff names the first top-level field where the served record and
// the replayed one differ.
func recordDiff(served, replayed []byte) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(served, &a) != nil {
		return "the served record is not a JSON object"
	}
	if json.Unmarshal(replayed, &b) != nil {
		return "the replayed record is not a JSON object"
	}
	for _, k := range fieldOrder(replayed) {
		if !bytes.Equal(a[k], b[k]) {
			return fmt.Sprintf("%s is %s served, %s replayed", k, clip(a[k]), clip(b[k]))
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return fmt.Sprintf("the served record has a field %s the replayed one does not", k)
		}
	}
	return "the two differ in their encoding"
}

// fieldOrder lists the top-level keys of a JSON object in order.
func fieldOrder(obj []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

func clip(v json.RawMessage) string {
	if v == nil {
		return "absent"
	}
	if len(v) > 120 {
		return string(v[:117]) + "..."
	}
	return string(v)
}
