package cluster

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// olderModel rewrites a snapshot header's model version, as the previous
// version of this program wrote its snapshots.
func olderModel(t *testing.T, snap []byte) []byte {
	t.Helper()
	out := bytes.Clone(snap)
	magic := len("TLSNAP\x00\x01")
	_, n := binary.Uvarint(out[magic:])
	h := out[magic+n:]
	if h[0] != 0xdc || h[3] != byte(fsm.ModelVersion) {
		t.Fatalf("unexpected snapshot header % x", h[:4])
	}
	h[3] = byte(fsm.ModelVersion - 1)
	return out
}

// A node upgraded to a new scoring model restores its own snapshot of the
// old model by replaying its ledger archive (a real bolt file) through the
// new one: the same digest and records as the node had; with an archive
// that does not reach the snapshot, the restore fails and says why.
func TestRestoreOlderModelSnapshotRebuildsFromArchive(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	a, err := openArchive(filepath.Join(dir, "ledger.db"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	f := &raftFSM{ledger: fsm.NewLedger(), archive: a, applied: &appliedIndex{}, log: log}
	fx := newArchiveFixture(t, 20, 30)
	for i, d := range fx.datas {
		f.Apply(&raft.Log{Index: fx.results[i].Index, Type: raft.LogCommand, Data: d})
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{m: &memSnapshots{}}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	old := olderModel(t, sink.Bytes())

	g := &raftFSM{ledger: fsm.NewLedger(), archive: a, applied: &appliedIndex{}, log: log}
	if err := g.Restore(io.NopCloser(bytes.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	at := int64(10_000_000)
	want, _ := f.ledger.RecordsDigest(at)
	got, _ := g.ledger.RecordsDigest(at)
	if g.ledger.Digest() != f.ledger.Digest() || got != want || g.applied.load() != f.applied.load() {
		t.Fatalf("rebuilt: digest %s records %s index %d; had %s %s %d", g.ledger.Digest(), got, g.applied.load(),
			f.ledger.Digest(), want, f.applied.load())
	}

	// A node whose archive lacks the entries cannot rebuild.
	b, err := openArchive(filepath.Join(dir, "empty.db"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := &raftFSM{ledger: fsm.NewLedger(), archive: b, applied: &appliedIndex{}, log: log}
	err = h.Restore(io.NopCloser(bytes.NewReader(old)))
	if err == nil || !strings.Contains(err.Error(), "cannot be rebuilt from the ledger archive") {
		t.Fatalf("restore without the entries: %v", err)
	}
	if h.ledger.Status().Sequence != 0 {
		t.Fatal("a failed rebuild changed the ledger")
	}
}
