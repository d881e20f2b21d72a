package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// notSealedWith counts the records of a closed data directory that are not
// sealed with key: Raft log payloads, archive records, snapshots and the
// identity directory's sealed files; total counts all of them.
func notSealedWith(t *testing.T, dir string, key []byte) (stale, total int) {
	t.Helper()
	k, err := newAtRestKey(key)
	if err != nil {
		t.Fatal(err)
	}
	count := func(b []byte) {
		total++
		if !sealedWith(k, b) {
			stale++
		}
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft", "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	for i := first; i <= last && last > 0; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		count(l.Data)
	}
	_ = store.Close()
	db, err := bbolt.Open(filepath.Join(dir, "ledger.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketEntries).ForEach(func(_, v []byte) error { count(v); return nil })
	})
	_ = db.Close()
	snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	for _, f := range snaps {
		b, err := os.ReadFile(f) // #nosec G304 -- the test's own directory
		if err != nil {
			t.Fatal(err)
		}
		total++
		if len(b) < len(snapshotMagic)+keyIDSize || string(b[:len(snapshotMagic)]) != snapshotMagic ||
			!bytes.Equal(b[len(snapshotMagic):len(snapshotMagic)+keyIDSize], k.id[:]) {
			stale++
		}
	}
	for _, f := range sealedFiles {
		if b, err := os.ReadFile(filepath.Join(dir, identityDir, f)); err == nil { // #nosec G304 -- the test's own directory
			count(b)
		}
	}
	return stale, total
}

// The at-rest key of a running node is rotated: the new primary seals what
// is written from then on, everything sealed before is rewrapped in the
// background while writes go on, the old key may then go, and the data
// directory opens with the new key alone — not with the old one.
func TestEncryptionKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t), testKey(t)
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.EncryptionKeys = [][]byte{oldKey}
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	waitLeader(t, n)
	workload(t, n, "a", 3, 2)
	secretSignals(t, n, "a")
	snapshot(t, n)
	workload(t, n, "b", 2, 1)

	if err := n.ReloadEncryptionKeys([][]byte{newKey}); !errors.Is(err, ErrEncryptionKeyMismatch) {
		t.Fatalf("a ring without the key in use: %v, want %v", err, ErrEncryptionKeyMismatch)
	}
	if err := n.ReloadEncryptionKeys([][]byte{newKey, newKey}); err == nil {
		t.Fatal("a ring with one key twice was accepted")
	}
	// The rewrap starts with the identity files: holding their lock keeps
	// it from finishing, and meanwhile the old key cannot leave the ring.
	n.sealer.fileMu.Lock()
	if err := n.ReloadEncryptionKeys([][]byte{newKey, oldKey}); err != nil {
		n.sealer.fileMu.Unlock()
		t.Fatal(err)
	}
	err := n.ReloadEncryptionKeys([][]byte{newKey})
	n.sealer.fileMu.Unlock()
	if !errors.Is(err, ErrEncryptionKeyStillNeeded) {
		t.Fatalf("dropping the old key before the rewrap: %v, want %v", err, ErrEncryptionKeyStillNeeded)
	}
	nk, _ := newAtRestKey(newKey)
	if st := n.EncryptionStatus(); st.PrimaryKey != nk.ID() || st.Keys != 2 {
		t.Fatalf("status after reload: %+v", st)
	}
	workload(t, n, "c", 2, 1)
	last := secretSignals(t, n, "c")
	eventually(t, 20*time.Second, func() bool {
		st := n.EncryptionStatus()
		return st.KeysInUse == 1 && !st.Rewrapping
	}, "the rewrap to finish")
	if st := n.EncryptionStatus(); st.Rewrapped == 0 {
		t.Fatalf("nothing was rewrapped: %+v", st)
	}
	if err := n.ReloadEncryptionKeys([][]byte{newKey}); err != nil {
		t.Fatalf("dropping the old key after the rewrap: %v", err)
	}
	ids := []string{"ap0", "asecret", "bp1", "csecret"}
	before := capture(t, n, ids, last.Time+3_600_000)
	digest := n.Ledger().Digest()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if stale, total := notSealedWith(t, dir, newKey); stale != 0 || total < 20 {
		t.Fatalf("%d of %d records are not sealed with the new key", stale, total)
	}
	if stale, total := notSealedWith(t, dir, oldKey); stale != total {
		t.Fatalf("control: %d of %d records are sealed with the old key", total-stale, total)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, keyCheckFile)); strings.Count(string(b), "\n") != 1 { // #nosec G304 -- the test's own directory
		t.Fatalf("key check file lists %q; want the new key alone", b)
	}

	old := cfg
	old.EncryptionKeys = [][]byte{oldKey}
	if m, err := Open(old); !errors.Is(err, ErrEncryptionKeyMismatch) {
		if err == nil {
			_ = m.Close()
		}
		t.Fatalf("the old key alone: %v, want %v", err, ErrEncryptionKeyMismatch)
	}
	cfg.EncryptionKeys = [][]byte{newKey}
	n = openNode(t, cfg)
	waitLeader(t, n)
	before.check(t, n)
	if got := n.Ledger().Digest(); got != digest {
		t.Fatalf("digest after restart %s, want %s", got, digest)
	}
}

// A rotation interrupted before its rewrap finished resumes at the next
// start, and until it has finished the old key cannot be left out.
func TestEncryptionKeyStillNeededAfterInterruptedRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := testKey(t), testKey(t)
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.EncryptionKeys = [][]byte{oldKey}
	n := openNode(t, cfg)
	waitLeader(t, n)
	workload(t, n, "a", 2, 1)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// What the key check file holds between the reload and the end of the
	// rewrap: the new primary, then the key the data is sealed with.
	nk, _ := newAtRestKey(newKey)
	ok, _ := newAtRestKey(oldKey)
	if err := os.WriteFile(filepath.Join(dir, keyCheckFile), []byte(checkLines([]string{nk.check, ok.check})), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.EncryptionKeys = [][]byte{newKey}
	if m, err := Open(cfg); !errors.Is(err, ErrEncryptionKeyStillNeeded) || !strings.Contains(err.Error(), ok.ID()) {
		if err == nil {
			_ = m.Close()
		}
		t.Fatalf("without the old key: %v, want %v naming %s", err, ErrEncryptionKeyStillNeeded, ok.ID())
	}
	cfg.EncryptionKeys = [][]byte{newKey, oldKey}
	n = openNode(t, cfg)
	waitLeader(t, n)
	eventually(t, 20*time.Second, func() bool { return n.EncryptionStatus().KeysInUse == 1 }, "the resumed rewrap")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if stale, total := notSealedWith(t, dir, newKey); stale != 0 || total == 0 {
		t.Fatalf("%d of %d records are not sealed with the new key", stale, total)
	}
}

// Records and snapshots sealed before keyrings (no key id) open with the
// ring that holds their key, and reseal converts them.
func TestLegacySealedFormats(t *testing.T) {
	t.Parallel()
	key, other := testKey(t), testKey(t)
	k, _ := newAtRestKey(key)
	ring, err := newSealer(other, key)
	if err != nil {
		t.Fatal(err)
	}
	aad := recordAAD("label", 3)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	legacy := k.legacy.Seal(append([]byte{sealedFormatV1}, nonce...), nonce, []byte(secretMarker), aad) // #nosec G407 -- random nonce
	if got, err := ring.open(legacy, aad); err != nil || string(got) != secretMarker {
		t.Fatalf("legacy record: %q, %v", got, err)
	}
	out, changed, err := reseal(ring.keys(), legacy, aad)
	if err != nil || !changed || !sealedWith(ring.keys().primary(), out) {
		t.Fatalf("reseal: changed %v, %v", changed, err)
	}
	if got, err := ring.open(out, aad); err != nil || string(got) != secretMarker {
		t.Fatalf("resealed record: %q, %v", got, err)
	}
	if alone, _ := newSealer(other); alone != nil {
		if _, err := alone.open(legacy, aad); err == nil {
			t.Fatal("a legacy record opened without its key")
		}
	}

	mem := &memSnapshots{}
	sink, _ := mem.Create(raft.SnapshotVersionMax, 1, 1, raft.Configuration{}, 1, nil)
	salt := make([]byte, snapshotSalt)
	_, _ = rand.Read(salt)
	if _, err := sink.Write(append([]byte(snapshotMagicV1), salt...)); err != nil {
		t.Fatal(err)
	}
	aead, err := chunkAEAD(k, salt)
	if err != nil {
		t.Fatal(err)
	}
	data := snapshotData(2*snapshotChunk + 77)
	w := &sealedSink{SnapshotSink: sink, aead: aead, aad: []byte(sink.ID()), buf: make([]byte, 0, snapshotChunk), done: func() {}}
	if _, err := w.Write(data); err != nil || w.Close() != nil {
		t.Fatal("write the legacy snapshot")
	}
	if _, got, err := readSnapshot(&sealedSnapshotStore{store: mem, sealer: ring}, "snap-1"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("legacy snapshot: %d bytes, %v", len(got), err)
	}
	alone, _ := newSealer(other)
	if _, _, err := readSnapshot(&sealedSnapshotStore{store: mem, sealer: alone}, "snap-1"); err == nil {
		t.Fatal("a legacy snapshot opened without its key")
	}
}

// A second reload while a rewrap runs (another new primary) redirects it:
// it ends with the newest primary alone in use, and the node closes.
func TestEncryptionKeyReloadDuringRewrap(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := testKey(t), testKey(t), testKey(t)
	dir := t.TempDir()
	cfg := testConfig(t, "node1", dir, freeAddr(t), true)
	cfg.EncryptionKeys = [][]byte{k1}
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	waitLeader(t, n)
	workload(t, n, "a", 2, 2)
	snapshot(t, n)
	workload(t, n, "b", 1, 1)
	n.sealer.fileMu.Lock() // holds the first pass at its first step
	err1 := n.ReloadEncryptionKeys([][]byte{k2, k1})
	err2 := n.ReloadEncryptionKeys([][]byte{k3, k2, k1})
	err3 := n.ReloadEncryptionKeys([][]byte{k3, k2}) // k1 is still in use
	n.sealer.fileMu.Unlock()
	if err1 != nil || err2 != nil || !errors.Is(err3, ErrEncryptionKeyStillNeeded) {
		t.Fatalf("reloads: %v, %v, %v (want nil, nil, %v)", err1, err2, err3, ErrEncryptionKeyStillNeeded)
	}
	eventually(t, 20*time.Second, func() bool { return n.EncryptionStatus().KeysInUse == 1 }, "the redirected rewrap")
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if stale, total := notSealedWith(t, dir, k3); stale != 0 || total == 0 {
		t.Fatalf("%d of %d records are not sealed with the last primary", stale, total)
	}
}

// A snapshot being written when the ring changes, sealed with the old
// primary, is waited for and then rewrapped: the rewrap cannot finish
// while it is open.
func TestSnapshotRewrapWaitsForOpenSinks(t *testing.T) {
	t.Parallel()
	k1, k2 := testKey(t), testKey(t)
	dir := t.TempDir()
	files, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSealer(k1)
	st := &sealedSnapshotStore{store: files, sealer: s, dir: filepath.Join(dir, "snapshots")}
	_, trans := raft.NewInmemTransport("")
	sink, err := st.Create(raft.SnapshotVersionMax, 10, 2, raft.Configuration{}, 1, trans)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := newKeySet([][]byte{k2, k1})
	s.set.Store(ring)
	done := make(chan uint64, 1)
	go func() {
		n, err := st.rewrap(ring, trans, make(chan struct{}))
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("the rewrap returned (%d rewritten) while a snapshot sealed with the old key was open", n)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := sink.Write(snapshotData(snapshotChunk + 9)); err != nil || sink.Close() != nil {
		t.Fatal("write the snapshot")
	}
	if n := <-done; n != 1 {
		t.Fatalf("rewrote %d snapshots, want 1", n)
	}
	list, _ := st.List()
	for _, m := range list {
		if kid, ok, err := st.sealedBy(m.ID); err != nil || !ok || kid != ring.primary().id {
			t.Fatalf("snapshot %s: sealed by %x (%v, %v), want the new primary", m.ID, kid, ok, err)
		}
	}
	if len(list) != 1 {
		t.Fatalf("%d snapshots, want the copy alone", len(list))
	}
}

// A key check file that lists nothing is refused, not overwritten with
// whatever key is given.
func TestEmptyKeyCheckFileRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, keyCheckFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newSealer(testKey(t))
	if err := checkDataKey(dir, s); !errors.Is(err, ErrEncryptionKeyMismatch) {
		t.Fatalf("empty key check file: %v, want %v", err, ErrEncryptionKeyMismatch)
	}
}
