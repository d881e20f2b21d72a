package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// asModel rewrites a snapshot's header to say another scoring model wrote
// it, as a snapshot of the previous version of this program says.
func asModel(t *testing.T, snap []byte, model byte) []byte {
	t.Helper()
	out := bytes.Clone(snap)
	_, n := binary.Uvarint(out[len(snapshotMagic):])
	h := out[len(snapshotMagic)+n:]
	// The header is an array16 of its fields, the model version first.
	if h[0] != 0xdc || h[3] != byte(ModelVersion) {
		t.Fatalf("unexpected snapshot header % x", h[:4])
	}
	h[3] = model
	return out
}

// A snapshot of another model is refused with what a rebuild must reach;
// replaying the ledger's entries rebuilds exactly the state this model
// derives, and a replay that runs out of entries or disagrees leaves the
// ledger as it was.
func TestRebuildFromAnotherModelsSnapshot(t *testing.T) {
	w := newWorld(t, 42)
	w.run(400)
	var buf bytes.Buffer
	if _, err := w.l.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	old := asModel(t, buf.Bytes(), 1)
	entries := make([]ReplayedEntry, len(w.log))
	for i, d := range w.log {
		entries[i] = ReplayedEntry{Index: uint64(i + 1), Data: d}
	}
	next := func(es []ReplayedEntry) func(after uint64) ([]ReplayedEntry, error) {
		return func(after uint64) ([]ReplayedEntry, error) {
			if after >= uint64(len(es)) {
				return nil, nil
			}
			return es[after:min(len(es), int(after)+100)], nil
		}
	}
	l := NewLedger()
	err := l.Restore(bytes.NewReader(old))
	var mm *ModelMismatchError
	if !errors.As(err, &mm) || mm.Model != 1 || mm.Sequence != uint64(len(w.log)) {
		t.Fatalf("restore of a model-1 snapshot: %v", err)
	}
	// Too few entries, then a changed entry: refused, nothing installed.
	if err := l.Rebuild(mm, next(entries[:len(entries)-1])); err == nil {
		t.Fatal("rebuilt from too few entries")
	}
	bad := append([]ReplayedEntry(nil), entries...)
	bad[7] = ReplayedEntry{Index: 8, Data: []byte{FormatVersion, 0x93, 0x04, 0x01}}
	if err := l.Rebuild(mm, next(bad)); err == nil {
		t.Fatal("rebuilt from a changed entry")
	}
	if l.Status().Sequence != 0 {
		t.Fatal("a failed rebuild changed the ledger")
	}
	if err := l.Rebuild(mm, next(entries)); err != nil {
		t.Fatal(err)
	}
	at := w.now + 24*hourMS
	want, _ := w.l.RecordsDigest(at)
	got, _ := l.RecordsDigest(at)
	if l.Digest() != w.l.Digest() || got != want || l.AppliedIndex() != w.l.AppliedIndex() {
		t.Fatalf("rebuilt ledger differs: digest %s/%s records %s/%s", l.Digest(), w.l.Digest(), got, want)
	}
}
