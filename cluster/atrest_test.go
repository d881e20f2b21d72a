package cluster

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/trustledger/trustledger/fsm"
)

// secretMarker is written in signals; with a key it must not reach disk.
const secretMarker = "zz-secret-marker-zz"

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, EncryptionKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func testSealer(t *testing.T) *sealer {
	t.Helper()
	s, err := newSealer(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// filesContaining returns the files under dir whose bytes contain marker.
func filesContaining(t *testing.T, dir, marker string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path) // #nosec G304 -- test data directory
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func secretSignals(t *testing.T, n *Node, prefix string) *fsm.Result {
	t.Helper()
	mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: prefix + "secret", PrincipalType: "user"})
	return mustApply(t, n, &fsm.RecordSignals{Signals: []fsm.Signal{{EventID: prefix + "s1", PrincipalID: prefix + "secret",
		Event: secretMarker, Impact: fsm.Point, Attributes: []byte(`{"note":"` + secretMarker + `"}`)}}})
}

func TestSealerRejectsTampering(t *testing.T) {
	t.Parallel()
	s := testSealer(t)
	aad := recordAAD("label", 7)
	sealed := s.seal([]byte(secretMarker), aad)
	if bytes.Contains(sealed, []byte(secretMarker)) {
		t.Fatal("sealed record holds the plaintext")
	}
	if got, err := s.open(sealed, aad); err != nil || string(got) != secretMarker {
		t.Fatalf("open: %q, %v", got, err)
	}
	if again := s.seal([]byte(secretMarker), aad); bytes.Equal(again[5:17], sealed[5:17]) {
		t.Fatal("two seals used the same nonce")
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-20] ^= 1
	other := testSealer(t)
	relabelled := bytes.Clone(sealed)
	copy(relabelled[1:5], other.keys().primary().id[:])
	for name, tc := range map[string]struct {
		s    *sealer
		v    []byte
		aad  []byte
		want string
	}{
		"flipped byte": {s, flipped, aad, "failed authentication"},
		"other index":  {s, sealed, recordAAD("label", 8), "failed authentication"},
		"other label":  {s, sealed, recordAAD("other", 7), "failed authentication"},
		"other key":    {other, sealed, aad, "not in the keyring"},
		"other key id": {other, relabelled, aad, "failed authentication"},
		"plaintext":    {s, []byte(secretMarker + secretMarker), aad, "not a sealed record"},
		"short":        {s, sealed[:20], aad, "not a sealed record"},
	} {
		if _, err := tc.s.open(tc.v, tc.aad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestSealedLogStore(t *testing.T) {
	t.Parallel()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bolt.Close() })
	s := &sealedLogStore{store: bolt, sealer: testSealer(t)}
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("one " + secretMarker), Extensions: []byte("ext " + secretMarker)},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("two " + secretMarker)},
		{Index: 3, Term: 2, Type: raft.LogNoop},
	}
	if err := s.StoreLogs(logs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(logs[2]); err != nil {
		t.Fatal(err)
	}
	if string(logs[0].Data) != "one "+secretMarker {
		t.Fatal("StoreLogs changed the caller's record")
	}
	for _, want := range logs {
		var got, raw raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog %d: %v", want.Index, err)
		}
		if !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) || got.Term != want.Term || got.Type != want.Type {
			t.Fatalf("GetLog %d = %+v, want %+v", want.Index, got, want)
		}
		if err := bolt.GetLog(want.Index, &raw); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw.Data, []byte(secretMarker)) || bytes.Contains(raw.Extensions, []byte(secretMarker)) {
			t.Fatalf("record %d is stored in plaintext", want.Index)
		}
	}
	if err := s.GetLog(9, new(raft.Log)); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("missing record: %v", err)
	}

	// A flipped byte, and a record moved to another index, are detected.
	var raw1, raw2 raft.Log
	if err := bolt.GetLog(1, &raw1); err != nil {
		t.Fatal(err)
	}
	if err := bolt.GetLog(2, &raw2); err != nil {
		t.Fatal(err)
	}
	raw1.Data[len(raw1.Data)-1] ^= 0x40
	moved := raw2
	moved.Index = 1
	for name, rec := range map[string]*raft.Log{"flipped byte": &raw1, "moved record": &moved} {
		if err := bolt.StoreLog(rec); err != nil {
			t.Fatal(err)
		}
		if err := s.GetLog(1, new(raft.Log)); err == nil || !strings.Contains(err.Error(), "raft log record 1") {
			t.Errorf("%s: GetLog = %v, want an authentication error", name, err)
		}
	}
}

// memSnapshots is a SnapshotStore keeping one snapshot's bytes in memory,
// for tampering with them.
type memSnapshots struct {
	data []byte
}

type memSink struct {
	bytes.Buffer
	m *memSnapshots
}

func (s *memSink) ID() string    { return "snap-1" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { s.m.data = s.Bytes(); return nil }

func (m *memSnapshots) Create(raft.SnapshotVersion, uint64, uint64, raft.Configuration, uint64, raft.Transport) (raft.SnapshotSink, error) {
	return &memSink{m: m}, nil
}

func (m *memSnapshots) List() ([]*raft.SnapshotMeta, error) {
	return []*raft.SnapshotMeta{{ID: "snap-1", Size: int64(len(m.data))}}, nil
}

func (m *memSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	return &raft.SnapshotMeta{ID: id, Size: int64(len(m.data))}, io.NopCloser(bytes.NewReader(m.data)), nil
}

func writeSnapshot(t *testing.T, store raft.SnapshotStore, data []byte) string {
	t.Helper()
	sink, err := store.Create(raft.SnapshotVersionMax, 10, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes cross chunk boundaries.
	for rest := data; len(rest) > 0; {
		k := min(len(rest), 10007)
		if n, err := sink.Write(rest[:k]); err != nil || n != k {
			t.Fatalf("write: %d, %v", n, err)
		}
		rest = rest[k:]
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func readSnapshot(store raft.SnapshotStore, id string) (*raft.SnapshotMeta, []byte, error) {
	meta, rc, err := store.Open(id)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	return meta, b, err
}

func snapshotData(n int) []byte {
	b := bytes.Repeat([]byte(secretMarker+" "), n/len(secretMarker)+1)
	return b[:n]
}

func TestSealedSnapshotStore(t *testing.T) {
	t.Parallel()
	seal := testSealer(t)
	for _, size := range []int{0, 1, snapshotChunk - 1, snapshotChunk, snapshotChunk + 1, 3*snapshotChunk + 123, 4 * snapshotChunk} {
		files, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		store := &sealedSnapshotStore{store: files, sealer: seal}
		data := snapshotData(size)
		id := writeSnapshot(t, store, data)
		list, err := store.List()
		if err != nil || len(list) != 1 || list[0].Size != int64(size) {
			t.Fatalf("size %d: List = %v, %v", size, list, err)
		}
		meta, got, err := readSnapshot(store, id)
		if err != nil || meta.Size != int64(size) || !bytes.Equal(got, data) {
			t.Fatalf("size %d: Open: meta size %v, %d bytes back, %v", size, meta, len(got), err)
		}
		_, raw, err := readSnapshot(files, id)
		if err != nil {
			t.Fatal(err)
		}
		if size > 0 && bytes.Contains(raw, []byte(secretMarker)) {
			t.Fatalf("size %d: the snapshot is stored in plaintext", size)
		}
	}
}

func TestSealedSnapshotDetectsTampering(t *testing.T) {
	t.Parallel()
	seal := testSealer(t)
	mem := &memSnapshots{}
	store := &sealedSnapshotStore{store: mem, sealer: seal}
	writeSnapshot(t, store, snapshotData(3*snapshotChunk+500))
	good := bytes.Clone(mem.data)
	if _, _, err := readSnapshot(store, "snap-1"); err != nil {
		t.Fatalf("untouched: %v", err)
	}
	full := snapshotChunk + snapshotChunkTag
	chunk := func(i int) []byte { return good[snapshotHeader+i*full : snapshotHeader+(i+1)*full] }
	flipped := bytes.Clone(good)
	flipped[snapshotHeader+full+5] ^= 1
	swapped := bytes.Clone(good[:snapshotHeader])
	swapped = append(append(append(swapped, chunk(1)...), chunk(0)...), good[snapshotHeader+2*full:]...)
	for name, tc := range map[string]struct {
		data []byte
		id   string
	}{
		"flipped byte":    {flipped, "snap-1"},
		"chunks swapped":  {swapped, "snap-1"},
		"final dropped":   {good[:snapshotHeader+3*full], "snap-1"},
		"truncated":       {good[:len(good)-7], "snap-1"},
		"chunk dropped":   {append(bytes.Clone(good[:snapshotHeader+full]), good[snapshotHeader+2*full:]...), "snap-1"},
		"data appended":   {append(bytes.Clone(good), 0), "snap-1"},
		"other id":        {good, "snap-2"},
		"not sealed":      {snapshotData(3 * snapshotChunk), "snap-1"},
		"header only":     {good[:snapshotHeader], "snap-1"},
		"salt changed":    {append(append(bytes.Clone(good[:snapshotHeader-1]), good[snapshotHeader-1]^1), good[snapshotHeader:]...), "snap-1"},
		"another key":     {good, "snap-1"},
		"appended chunk":  {append(bytes.Clone(good), chunk(0)...), "snap-1"},
		"empty":           {nil, "snap-1"},
		"short by header": {good[snapshotHeader:], "snap-1"},
	} {
		mem.data = tc.data
		s := store
		if name == "another key" {
			s = &sealedSnapshotStore{store: mem, sealer: testSealer(t)}
		}
		if _, _, err := readSnapshot(s, tc.id); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

func TestEncryptionAtRest(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := testConfig(t, "node1", dir, addr, true)
	cfg.EncryptionKeys = [][]byte{key}
	cfg.TrailingLogs = 2
	cfg.SnapshotInterval = time.Hour
	n := openNode(t, cfg)
	waitLeader(t, n)
	workload(t, n, "a", 3, 2)
	secretSignals(t, n, "a")
	snapshot(t, n)
	workload(t, n, "b", 2, 1)
	last := secretSignals(t, n, "b")
	ids := []string{"ap0", "asecret", "bp1", "bsecret"}
	before := capture(t, n, ids, last.Time+3_600_000)
	checkSequences(t, before.entries, last.Sequence)
	digest := n.Ledger().Digest()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if found := filesContaining(t, dir, secretMarker); len(found) > 0 {
		t.Fatalf("plaintext on disk with a key, in %v", found)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot on disk")
	}

	// The control: without a key the marker is on disk, in each store.
	plainDir := t.TempDir()
	p := openLeader(t, plainDir, "127.0.0.1:0")
	secretSignals(t, p, "p")
	snapshot(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	found := strings.Join(filesContaining(t, plainDir, secretMarker), " ")
	for _, f := range []string{"raft.db", "state.bin", "ledger.db"} {
		if !strings.Contains(found, f) {
			t.Fatalf("control: marker not found in %s without a key (found in %q)", f, found)
		}
	}

	// The wrong key, no key, or a key on a plaintext data directory: refused.
	for name, tc := range map[string]struct {
		dir  string
		key  []byte
		want error
	}{
		"no key":           {dir, nil, ErrEncryptionKeyMissing},
		"another key":      {dir, testKey(t), ErrEncryptionKeyMismatch},
		"key on plaintext": {plainDir, key, ErrEncryptionNotEnabled},
	} {
		c := testConfig(t, "node1", tc.dir, "127.0.0.1:0", true)
		if tc.key != nil {
			c.EncryptionKeys = [][]byte{tc.key}
		}
		if m, err := Open(c); !errors.Is(err, tc.want) {
			if err == nil {
				_ = m.Close()
			}
			t.Errorf("%s: Open = %v, want %v", name, err, tc.want)
		}
	}
	// A data directory from before the key check file, written without a
	// key, is recognised as such.
	if err := os.Remove(filepath.Join(plainDir, keyCheckFile)); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t, "node1", plainDir, "127.0.0.1:0", true)
	c.EncryptionKeys = [][]byte{key}
	if _, err := Open(c); !errors.Is(err, ErrEncryptionNotEnabled) {
		t.Errorf("key on a plaintext data directory without a check file: %v", err)
	}

	// The same key restores everything.
	n = openNode(t, cfg)
	waitLeader(t, n)
	before.check(t, n)
	if got := n.Ledger().Digest(); got != digest {
		t.Fatalf("digest after restart %s, want %s", got, digest)
	}
	if s := n.Raft().Stats()["last_snapshot_index"]; s == "0" || s == "" {
		t.Fatalf("last_snapshot_index = %q after restart; want the snapshot restored", s)
	}
}

// A follower far behind installs the leader's snapshot; each node seals
// with its own key (the transfer itself is plaintext inside the transport,
// TLS in production).
func TestEncryptedSnapshotInstall(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "node1", t.TempDir(), "127.0.0.1:0", true)
	cfg.EncryptionKeys = [][]byte{testKey(t)}
	cfg.TrailingLogs = 2
	cfg.SnapshotInterval = time.Hour
	n1 := openNode(t, cfg)
	waitLeader(t, n1)
	workload(t, n1, "a", 3, 3)
	secretSignals(t, n1, "a")
	snapshot(t, n1)
	if first, err := n1.store.FirstIndex(); err != nil || first <= 2 {
		t.Fatalf("leader log starts at %d (%v); want it compacted", first, err)
	}

	dir2 := t.TempDir()
	cfg2 := testConfig(t, "node2", dir2, "127.0.0.1:0", false)
	cfg2.EncryptionKeys = [][]byte{testKey(t)}
	n2 := openNode(t, cfg2)
	addVoter(t, n1, n2)
	last := secretSignals(t, n1, "b")
	converged(t, []*Node{n1, n2}, last.Index)
	if s := n2.Raft().Stats()["last_snapshot_index"]; s == "0" || s == "" {
		t.Fatalf("follower last_snapshot_index = %q; want an installed snapshot", s)
	}
	at := last.Time + 3_600_000
	if got, want := recordJSON(t, n2, "asecret", at), recordJSON(t, n1, "asecret", at); got != want {
		t.Fatalf("follower record differs:\n%s\n%s", got, want)
	}
	digest := n2.Ledger().Digest()
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	if found := filesContaining(t, dir2, secretMarker); len(found) > 0 {
		t.Fatalf("plaintext on the follower's disk, in %v", found)
	}
	// The follower restarts from its own sealed snapshot and log.
	n2 = openNode(t, cfg2)
	eventually(t, 10*time.Second, func() bool { return n2.Ledger().Digest() == digest }, "node2 restores its state")
}

// An operator restore goes through the sealed snapshot store.
func TestEncryptedBackupRestore(t *testing.T) {
	t.Parallel()
	a := openLeader(t, t.TempDir(), "127.0.0.1:0")
	last := secretSignals(t, a, "r")
	var backup bytes.Buffer
	b := a.Backup()
	if _, err := b.WriteTo(&backup); err != nil {
		t.Fatal(err)
	}
	b.Release()
	want := a.Ledger().Digest()

	dir := t.TempDir()
	cfg := testConfig(t, "b1", dir, "127.0.0.1:0", true)
	cfg.EncryptionKeys = [][]byte{testKey(t)}
	n := openNode(t, cfg)
	waitLeader(t, n)
	if err := n.Raft().Barrier(10 * time.Second).Error(); err != nil { // the configuration entry is applied
		t.Fatal(err)
	}
	res, err := n.Restore(ctxT(t, 30*time.Second), bytes.NewReader(backup.Bytes()))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Digest != want || res.Sequence != last.Sequence {
		t.Fatalf("restore result %+v, want digest %s sequence %d", res, want, last.Sequence)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if found := filesContaining(t, dir, secretMarker); len(found) > 0 {
		t.Fatalf("plaintext on disk after a restore, in %v", found)
	}
	n = openNode(t, cfg)
	eventually(t, 10*time.Second, func() bool { return n.Ledger().Digest() == want }, "the restored state after restart")
}
