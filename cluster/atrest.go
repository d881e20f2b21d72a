package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Encryption at rest (Config.EncryptionKey). With a key, the payloads of
// Raft log records, Raft snapshots and ledger archive records are sealed
// with AES-256-GCM before they reach disk; see sealedLogStore,
// sealedSnapshotStore and the archive. The key is per node: data moving
// between nodes is plaintext inside the (TLS) Raft transport and is sealed
// again with the receiver's key.
//
// A sealed record is
//
//	sealedFormat byte | 12-byte random nonce | AES-GCM ciphertext and tag
//
// with additional authenticated data that names what the record is (a
// label and its Raft index or ledger sequence), so that records cannot be
// swapped or moved.
//
// <data>/encryption records whether the data directory was written with a
// key, and which (an HMAC-SHA256 of a fixed label under the key, which
// reveals nothing about the key). A node refuses to start when its key does
// not match it, rather than misread the data.

// EncryptionKeySize is the length of Config.EncryptionKey (AES-256).
const EncryptionKeySize = 32

// sealedFormat is the first byte of every sealed record.
const sealedFormat byte = 0xE1

// keyCheckFile is the file in the data directory recording the key check.
const keyCheckFile = "encryption"

// Errors returned by Open when the key does not fit the data directory.
var (
	// ErrEncryptionKeyMismatch: the data directory was written with another
	// encryption key.
	ErrEncryptionKeyMismatch = errors.New("the data directory was written with another encryption key")
	// ErrEncryptionKeyMissing: the data directory was written with an
	// encryption key and none was given.
	ErrEncryptionKeyMissing = errors.New("the data directory was written with an encryption key and none was given")
	// ErrEncryptionNotEnabled: the data directory was written without an
	// encryption key and one was given.
	ErrEncryptionNotEnabled = errors.New("the data directory was written without an encryption key and one was given (encrypting an existing data directory is not supported)")
)

// sealer seals and opens records with one AES-256-GCM key.
type sealer struct {
	key  []byte
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key is %d bytes; want %d", len(key), EncryptionKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{key: append([]byte(nil), key...), aead: aead}, nil
}

// seal returns plain sealed with a random nonce, aad authenticated.
func (s *sealer) seal(plain, aad []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealedFormat
	// crypto/rand.Read never returns an error: it crashes the program
	// rather than return short (Go 1.24+).
	_, _ = rand.Read(out[1 : 1+ns])
	return s.aead.Seal(out, out[1:1+ns], plain, aad) // #nosec G407 -- the nonce was just filled by crypto/rand
}

// open returns the plaintext of a record sealed with the same aad.
func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealedFormat {
		return nil, errors.New("not a sealed record (was it written without an encryption key?)")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, errors.New("sealed record failed authentication (corrupted, moved, or another key)")
	}
	return plain, nil
}

// recordAAD is the additional data of a record: a label and a number.
func recordAAD(label string, n uint64, extra ...uint64) []byte {
	b := make([]byte, 0, len(label)+8*(1+len(extra)))
	b = append(b, label...)
	b = binary.BigEndian.AppendUint64(b, n)
	for _, x := range extra {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

// keyCheck is what the key check file holds for s (nil: no key).
func (s *sealer) keyCheck() string {
	if s == nil {
		return "none\n"
	}
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("trustledger at-rest key check v1"))
	return "aes-256-gcm hmac-sha256:" + hex.EncodeToString(m.Sum(nil)) + "\n"
}

// checkDataKey compares the key (s, nil for none) with the one dataDir was
// written with, recording it at first start. A data directory from before
// the check file existed, holding a Raft store or an archive, was written
// without a key.
func checkDataKey(dataDir string, s *sealer) error {
	path := filepath.Join(dataDir, keyCheckFile)
	want := s.keyCheck()
	got, err := os.ReadFile(path) // #nosec G304 -- a fixed name in the operator's data directory
	switch {
	case err == nil:
		have := string(got)
		switch {
		case have == want:
			return nil
		case strings.HasPrefix(have, "none"):
			return fmt.Errorf("%w (%s)", ErrEncryptionNotEnabled, path)
		case s == nil:
			return fmt.Errorf("%w (%s): give the node its key (--encryption-key-file)", ErrEncryptionKeyMissing, path)
		default:
			return fmt.Errorf("%w (%s)", ErrEncryptionKeyMismatch, path)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read %s: %w", path, err)
	}
	for _, f := range []string{filepath.Join(dataDir, "raft", "raft.db"), filepath.Join(dataDir, "ledger.db")} {
		if _, err := os.Stat(f); err == nil {
			if s != nil {
				return fmt.Errorf("%w (%s exists)", ErrEncryptionNotEnabled, f)
			}
			break
		}
	}
	return writeFileSync(path, []byte(want))
}

// writeFileSync writes data to path through a temporary file and a rename,
// synced, so that a crash leaves either nothing or the whole file.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // #nosec G304 -- a fixed name in the operator's data directory
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
