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

	"github.com/hashicorp/raft"
)

// sealedSnapshotStore is a raft.SnapshotStore whose snapshots are sealed
// on disk. A sealed snapshot stream is
//
//	snapshotMagic (8 bytes) | 32-byte random salt | chunk | chunk | ...
//
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
}

const (
	snapshotChunk  = 64 << 10
	snapshotMagic  = "TLSNAP\x00\x01"
	snapshotSalt   = 32
	snapshotHeader = len(snapshotMagic) + snapshotSalt
	snapshotInfo   = "trustledger snapshot chunk key v1"
)

// chunkKey returns the AEAD for one snapshot's chunks.
func (s *sealedSnapshotStore) chunkAEAD(salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, s.sealer.key, salt, snapshotInfo, EncryptionKeySize)
	if err != nil {
		return nil, err
	}
	ns, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	return ns.aead, nil
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

// Create starts a snapshot; what is written to the sink is sealed.
func (s *sealedSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.store.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, snapshotSalt)
	_, _ = rand.Read(salt) // never fails (Go 1.24+)
	aead, err := s.chunkAEAD(salt)
	if err == nil {
		_, err = sink.Write(append([]byte(snapshotMagic), salt...))
	}
	if err != nil {
		_ = sink.Cancel()
		return nil, fmt.Errorf("sealed snapshot: %w", err)
	}
	return &sealedSink{SnapshotSink: sink, aead: aead, aad: []byte(sink.ID()), buf: make([]byte, 0, snapshotChunk)}, nil
}

// List lists the snapshots, with their plaintext sizes.
func (s *sealedSnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	list, err := s.store.List()
	if err != nil {
		return nil, err
	}
	for _, m := range list {
		if size, err := plainSize(m.Size, s.sealer.aead.Overhead()); err == nil {
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
	size, err := plainSize(meta.Size, s.sealer.aead.Overhead())
	if err != nil {
		return fail(err)
	}
	head := make([]byte, snapshotHeader)
	if _, err := io.ReadFull(rc, head); err != nil {
		return fail(err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return fail(errors.New("not a sealed snapshot (was it written without an encryption key?)"))
	}
	aead, err := s.chunkAEAD(head[len(snapshotMagic):])
	if err != nil {
		return fail(err)
	}
	m := *meta
	m.Size = size
	return &m, &sealedReader{rc: rc, aead: aead, aad: []byte(id),
		sealed: make([]byte, snapshotChunk+aead.Overhead())}, nil
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
	return w.SnapshotSink.Cancel()
}

// sealedReader opens a sealed snapshot chunk by chunk.
type sealedReader struct {
	rc     io.ReadCloser
	aead   cipher.AEAD
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
	plain, err := r.aead.Open(r.sealed[:0:0], chunkNonce(r.aead, r.n, final), r.sealed[:k], r.aad)
	if err != nil {
		return fmt.Errorf("sealed snapshot chunk %d failed authentication (corrupted, truncated, reordered, or another key)", r.n)
	}
	r.n++
	r.plain = plain
	r.done = final
	return nil
}

func (r *sealedReader) Close() error { return r.rc.Close() }
