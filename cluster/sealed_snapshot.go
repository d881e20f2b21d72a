package cluster

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// sealedSnapshotStore is a raft.SnapshotStore whose snapshots are sealed
// on disk. A sealed snapshot stream is
//
//	snapshotMagic (8 bytes) | 4-byte key id | 28-byte random salt | chunk | chunk | ...
//
// (snapshots written before keyrings have snapshotMagicV1 and a 32-byte
// salt, and open with whichever key of the ring opens their first chunk).
// Each chunk is snapshotChunk bytes of the snapshot sealed with AES-256-GCM
// (so snapshotChunk+16 bytes), except the last, which is shorter (possibly
// empty plaintext) and flagged final. The chunk key is derived from the node
// key and the salt (HKDF-SHA256), so every snapshot has a key of its own and
// a chunk's nonce can be its counter and the final flag; the snapshot id is
// the additional data. Reordered, dropped, truncated or appended chunks and
// a snapshot renamed to another id fail to open.
//
// Raft uses SnapshotMeta.Size as the length of what Open's reader yields
// (it streams exactly that many bytes to a follower, and the follower checks
// it). Open and List report the plaintext size, which follows from the
// sealed size because every chunk but the last is full.
type sealedSnapshotStore struct {
	store  raft.SnapshotStore
	sealer *sealer
	// dir is the file store's snapshots directory (rewrap removes a
	// snapshot it copied from there: raft.FileSnapshotStore has no delete).
	dir string

	mu sync.Mutex
	// sinks counts the snapshots being written, by key id.
	sinks map[[keyIDSize]byte]int
}

const (
	snapshotChunk    = 64 << 10
	snapshotMagic    = "TLSNAP\x00\x02"
	snapshotMagicV1  = "TLSNAP\x00\x01"
	snapshotSalt     = 32 // salt, or key id and salt
	snapshotHeader   = len(snapshotMagic) + snapshotSalt
	snapshotInfo     = "trustledger snapshot chunk key v1"
	snapshotChunkTag = 16
)

// chunkAEAD returns the AEAD for the chunks of one snapshot sealed with k.
func chunkAEAD(k *atRestKey, salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.key, salt, snapshotInfo, EncryptionKeySize)
	if err != nil {
		return nil, err
	}
	ck, err := newAtRestKey(key)
	if err != nil {
		return nil, err
	}
	return ck.aead, nil
}

func chunkNonce(aead cipher.AEAD, n uint64, final bool) []byte {
	nonce := make([]byte, aead.NonceSize())
	binary.BigEndian.PutUint64(nonce[len(nonce)-9:], n)
	if final {
		nonce[len(nonce)-1] = 1
	}
	return nonce
}

// plainSize returns the plaintext size of a sealed snapshot of size sealed.
func plainSize(sealed int64, overhead int) (int64, error) {
	body := sealed - int64(snapshotHeader)
	full := int64(snapshotChunk + overhead)
	if body < int64(overhead) {
		return 0, errors.New("sealed snapshot is too short")
	}
	rem := body % full
	if rem < int64(overhead) {
		return 0, errors.New("sealed snapshot has no final chunk")
	}
	return body/full*snapshotChunk + rem - int64(overhead), nil
}

// Create starts a snapshot; what is written to the sink is sealed with
// the primary key.
func (s *sealedSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	return s.create(nil, version, index, term, configuration, configurationIndex, trans)
}

// create starts a snapshot sealed with k (nil: the primary). The key is
// chosen and the sink counted under one lock, so that a rewrap waiting for
// sinks of other keys (waitSinks) sees every sink of an older ring.
func (s *sealedSnapshotStore) create(k *atRestKey, version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	s.mu.Lock()
	if k == nil {
		k = s.sealer.keys().primary()
	}
	if s.sinks == nil {
		s.sinks = map[[keyIDSize]byte]int{}
	}
	s.sinks[k.id]++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		s.sinks[k.id]--
		s.mu.Unlock()
	}
	sink, err := s.store.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		done()
		return nil, err
	}
	head := make([]byte, snapshotHeader)
	copy(head, snapshotMagic)
	copy(head[len(snapshotMagic):], k.id[:])
	salt := head[len(snapshotMagic)+keyIDSize:]
	_, _ = rand.Read(salt) // never fails (Go 1.24+)
	aead, err := chunkAEAD(k, salt)
	if err == nil {
		_, err = sink.Write(head)
	}
	if err != nil {
		_ = sink.Cancel()
		done()
		return nil, fmt.Errorf("sealed snapshot: %w", err)
	}
	return &sealedSink{SnapshotSink: sink, aead: aead, aad: []byte(sink.ID()), buf: make([]byte, 0, snapshotChunk), done: done}, nil
}

// List lists the snapshots, with their plaintext sizes.
func (s *sealedSnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	list, err := s.store.List()
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if size, err := plainSize(m.Size, snapshotChunkTag); err == nil {
			m.Size = size
		}
	}
	return list, nil
}

// Open opens snapshot id for reading its plaintext.
func (s *sealedSnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, rc, err := s.store.Open(id)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*raft.SnapshotMeta, io.ReadCloser, error) {
		_ = rc.Close()
		return nil, nil, fmt.Errorf("open sealed snapshot %s: %w", id, err)
	}
	size, err := plainSize(meta.Size, snapshotChunkTag)
	if err != nil {
		return fail(err)
	}
	head := make([]byte, snapshotHeader)
	if _, err := io.ReadFull(rc, head); err != nil {
		return fail(err)
	}
	aeads, err := s.headerAEADs(s.sealer.keys(), head)
	if err != nil {
		return fail(err)
	}
	m := *meta
	m.Size = size
	return &m, &sealedReader{rc: rc, aeads: aeads, aad: []byte(id),
		sealed: make([]byte, snapshotChunk+snapshotChunkTag)}, nil
}

// headerAEADs returns the chunk AEAD a snapshot header names, or for a
// snapshot from before keyrings one for each key of the ring.
func (s *sealedSnapshotStore) headerAEADs(ks *keySet, head []byte) ([]cipher.AEAD, error) {
	magic, rest := string(head[:len(snapshotMagic)]), head[len(snapshotMagic):]
	var keys []*atRestKey
	switch magic {
	case snapshotMagic:
		k := ks.byID(rest[:keyIDSize])
		if k == nil {
			return nil, fmt.Errorf("the snapshot is sealed with key %x, which is not in the keyring", rest[:keyIDSize])
		}
		keys = []*atRestKey{k}
	case snapshotMagicV1:
		keys = ks.keys
	default:
		return nil, errors.New("not a sealed snapshot (was it written without an encryption key?)")
	}
	out := make([]cipher.AEAD, len(keys))
	for i, k := range keys {
		salt := rest
		if magic == snapshotMagic {
			salt = rest[keyIDSize:]
		}
		aead, err := chunkAEAD(k, salt)
		if err != nil {
			return nil, err
		}
		out[i] = aead
	}
	return out, nil
}

// sealedSink seals what is written to it in chunks.
type sealedSink struct {
	raft.SnapshotSink
	aead cipher.AEAD
	aad  []byte
	buf  []byte // plaintext not yet sealed, < snapshotChunk bytes
	n    uint64 // chunks written
	err  error  // set when a write failed or the sink is done

	closed   bool
	closeErr error
	done     func() // called once, when the sink is closed or cancelled
	doneOnce sync.Once
}

func (w *sealedSink) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), snapshotChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		written += k
		if len(w.buf) == snapshotChunk {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *sealedSink) flush(final bool) error {
	// The nonce is the chunk counter and final flag under a key used for
	// this one snapshot only (derived from a random salt), so it never
	// repeats for a key.
	out := w.aead.Seal(nil, chunkNonce(w.aead, w.n, final), w.buf, w.aad) // #nosec G407 -- unique per key, see above
	w.n++
	w.buf = w.buf[:0]
	if _, err := w.SnapshotSink.Write(out); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close seals the final chunk and completes the snapshot. Raft may call it
// again after the FSM did: later calls return the first one's result.
func (w *sealedSink) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	defer w.doneOnce.Do(w.done)
	if w.err == nil {
		w.err = w.flush(true)
	}
	if w.err != nil {
		_ = w.SnapshotSink.Cancel()
		w.closeErr = w.err
		return w.err
	}
	w.err = errors.New("snapshot sink closed")
	w.closeErr = w.SnapshotSink.Close()
	return w.closeErr
}

// Cancel abandons the snapshot.
func (w *sealedSink) Cancel() error {
	w.err = errors.New("snapshot sink cancelled")
	defer w.doneOnce.Do(w.done)
	return w.SnapshotSink.Cancel()
}

// sealedReader opens a sealed snapshot chunk by chunk.
type sealedReader struct {
	rc io.ReadCloser
	// aeads are the candidates for the chunk key until the first chunk
	// opened: one, or for a snapshot from before keyrings one per key.
	aeads  []cipher.AEAD
	aad    []byte
	sealed []byte // a chunk's worth of buffer
	plain  []byte // opened, not yet read
	n      uint64
	done   bool // the final chunk was opened
	err    error
}

func (r *sealedReader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			var one [1]byte
			if k, _ := io.ReadFull(r.rc, one[:]); k > 0 {
				r.err = errors.New("sealed snapshot: data after the final chunk")
			} else {
				r.err = io.EOF
			}
			continue
		}
		r.err = r.next()
	}
	k := copy(p, r.plain)
	r.plain = r.plain[k:]
	return k, nil
}

// next reads and opens one chunk.
func (r *sealedReader) next() error {
	k, err := io.ReadFull(r.rc, r.sealed)
	final := false
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		final = true
	case errors.Is(err, io.EOF):
		return errors.New("sealed snapshot is truncated (no final chunk)")
	case err != nil:
		return err
	}
	var plain []byte
	for i, aead := range r.aeads {
		if plain, err = aead.Open(r.sealed[:0:0], chunkNonce(aead, r.n, final), r.sealed[:k], r.aad); err == nil {
			r.aeads = r.aeads[i : i+1]
			break
		}
	}
	if err != nil {
		return fmt.Errorf("sealed snapshot chunk %d failed authentication (corrupted, truncated, reordered, or another key)", r.n)
	}
	r.n++
	r.plain = plain
	r.done = final
	return nil
}

func (r *sealedReader) Close() error { return r.rc.Close() }

// sealedBy returns the key id a snapshot's header names (false for a
// snapshot from before keyrings), reading the header of its state file
// (raft.FileSnapshotStore keeps it as <dir>/<id>/state.bin; its Open would
// check the whole file's CRC first).
func (s *sealedSnapshotStore) sealedBy(id string) ([keyIDSize]byte, bool, error) {
	var kid [keyIDSize]byte
	if !safeSnapshotID(id) {
		return kid, false, fmt.Errorf("snapshot id %q", id)
	}
	f, err := os.Open(filepath.Join(s.dir, id, "state.bin")) // #nosec G304 -- a snapshot of the node's own store
	if err != nil {
		return kid, false, err
	}
	defer func() { _ = f.Close() }()
	head := make([]byte, len(snapshotMagic)+keyIDSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return kid, false, err
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return kid, false, nil
	}
	copy(kid[:], head[len(snapshotMagic):])
	return kid, true, nil
}

func safeSnapshotID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

// rewrap makes every snapshot sealed with ks's primary: it removes the
// older snapshots sealed with another key (Raft restores and sends the
// newest; the others are only kept in reserve) and copies the newest, if
// it is one of them, into a new snapshot sealed with the primary (same
// index, term and configuration; a later id) before removing it. It first
// waits for snapshots being written with another key to finish, and stops
// when the ring changes (the caller starts again with the new one). It
// returns how many snapshots it rewrote or removed.
func (s *sealedSnapshotStore) rewrap(ks *keySet, trans raft.Transport, stop <-chan struct{}) (uint64, error) {
	if err := s.waitSinks(ks.primary(), stop); err != nil {
		return 0, err
	}
	list, err := s.store.List()
	if err != nil {
		return 0, err
	}
	var n uint64
	for i, m := range list { // newest first
		select {
		case <-stop:
			return n, errRewrapStopped
		default:
		}
		if s.sealer.keys() != ks {
			return n, nil
		}
		kid, ok, err := s.sealedBy(m.ID)
		if errors.Is(err, fs.ErrNotExist) {
			continue // reaped meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("snapshot %s: %w", m.ID, err)
		}
		if ok && kid == ks.primary().id {
			continue
		}
		if i == 0 {
			err = s.copySnapshot(ks.primary(), m, trans)
		} else {
			err = os.RemoveAll(filepath.Join(s.dir, m.ID))
		}
		if err != nil {
			return n, fmt.Errorf("rewrap snapshot %s: %w", m.ID, err)
		}
		n++
	}
	return n, nil
}

// waitSinks waits until no snapshot is being written with a key other
// than k.
func (s *sealedSnapshotStore) waitSinks(k *atRestKey, stop <-chan struct{}) error {
	for {
		s.mu.Lock()
		busy := false
		for id, c := range s.sinks {
			busy = busy || (c > 0 && id != k.id)
		}
		s.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-stop:
			return errRewrapStopped
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// copySnapshot writes old again, sealed with k, and removes it; trans is
// the node's (Create encodes the configuration's peers with it).
func (s *sealedSnapshotStore) copySnapshot(k *atRestKey, old *raft.SnapshotMeta, trans raft.Transport) error {
	if s.dir == "" || !safeSnapshotID(old.ID) {
		return fmt.Errorf("cannot rewrap snapshot %q", old.ID)
	}
	meta, rc, err := s.Open(old.ID)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	sink, err := s.create(k, meta.Version, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, trans)
	if err != nil {
		return err
	}
	if _, err := io.Copy(sink, rc); err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	if sink.ID() == old.ID {
		return fmt.Errorf("the copy of snapshot %s got the same id", old.ID)
	}
	return os.RemoveAll(filepath.Join(s.dir, old.ID))
}
