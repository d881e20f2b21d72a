package cluster

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Encryption at rest (Config.EncryptionKeys). With keys, the payloads of
// Raft log records, Raft snapshots, ledger archive records and the sealed
// files of the identity directory are sealed with AES-256-GCM before they
// reach disk; see sealedLogStore, sealedSnapshotStore and the archive. The
// keys are per node: data moving between nodes is plaintext inside the
// (TLS) Raft transport and is sealed again with the receiver's key.
//
// The node holds a keyring: the first key (the primary) seals everything
// written from now on; the others only open what they sealed before. A
// sealed record is
//
//	sealedFormat byte | 4-byte key id | 12-byte random nonce | AES-GCM ciphertext and tag
//
// sealed with a key derived from the ring's key (HKDF-SHA256), with
// additional authenticated data that is the format byte and key id, then
// what the record is (a label and its Raft index or ledger sequence), so
// that records cannot be swapped, moved or relabelled. Records written
// before keyrings existed are sealedFormatV1 | nonce | ciphertext, sealed
// with the key itself and only the label as additional data; they open
// with any key of the ring. A key's id is the first 4 bytes of its check
// value.
//
// <data>/encryption lists the check values (an HMAC-SHA256 of a fixed
// label under the key, which reveals nothing about the key) of every key
// the data directory may hold records under, the primary first. A node
// refuses to start, or to reload its keys, without every key listed there.
// When the primary changes (atrest_rewrap.go), the new key is listed
// before anything is sealed with it; the node then rewraps every record
// under it in the background, and only then lists it alone, so that the
// others may go.

// EncryptionKeySize is the length of an at-rest key (AES-256).
const EncryptionKeySize = 32

const (
	// sealedFormat is the first byte of every record sealed now.
	sealedFormat byte = 0xE2
	// sealedFormatV1 is the first byte of records sealed before keyrings:
	// no key id.
	sealedFormatV1 byte = 0xE1
)

// keyIDSize is the length of a key id in sealed records and snapshots.
const keyIDSize = 4

// keyCheckFile is the file in the data directory recording the key check.
const keyCheckFile = "encryption"

// Errors returned by Open (and Node.ReloadEncryptionKeys) when the keys do
// not fit the data directory.
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
	// ErrEncryptionKeyStillNeeded: a key the data directory still holds
	// records under is not in the keyring (the rewrap under the new
	// primary has not finished).
	ErrEncryptionKeyStillNeeded = errors.New("the data directory still holds records sealed with a key that is not in the keyring")
)

// atRestKey is one key of the ring.
type atRestKey struct {
	id    [keyIDSize]byte
	check string // the key check line, without the newline
	key   []byte
	// aead seals records (a key derived from key); legacy opens records
	// sealed before keyrings, with key itself.
	aead, legacy cipher.AEAD
}

// recordKeyInfo labels the derivation of the record key.
const recordKeyInfo = "trustledger at-rest record key v2"

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newAtRestKey(key []byte) (*atRestKey, error) {
	if len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("encryption key is %d bytes; want %d", len(key), EncryptionKeySize)
	}
	legacy, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	derived, err := hkdf.Key(sha256.New, key, nil, recordKeyInfo, EncryptionKeySize)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(derived)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("trustledger at-rest key check v1"))
	sum := m.Sum(nil)
	k := &atRestKey{check: "aes-256-gcm hmac-sha256:" + hex.EncodeToString(sum), key: bytes.Clone(key), aead: aead, legacy: legacy}
	copy(k.id[:], sum)
	return k, nil
}

// sealedAAD is the additional data of a record sealed now: its header
// (format byte and key id), then aad.
func sealedAAD(head, aad []byte) []byte {
	return append(append(make([]byte, 0, len(head)+len(aad)), head...), aad...)
}

// ID is the key's id as logs and metrics show it: 8 hex digits.
func (k *atRestKey) ID() string { return hex.EncodeToString(k.id[:]) }

// keySet is an immutable keyring; keys[0] is the primary.
type keySet struct{ keys []*atRestKey }

func (ks *keySet) primary() *atRestKey { return ks.keys[0] }

func (ks *keySet) byID(id []byte) *atRestKey {
	for _, k := range ks.keys {
		if bytes.Equal(k.id[:], id) {
			return k
		}
	}
	return nil
}

func (ks *keySet) byCheck(check string) *atRestKey {
	for _, k := range ks.keys {
		if k.check == check {
			return k
		}
	}
	return nil
}

func newKeySet(keys [][]byte) (*keySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key")
	}
	ks := &keySet{}
	for i, raw := range keys {
		k, err := newAtRestKey(raw)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i+1, err)
		}
		if o := ks.byID(k.id[:]); o != nil {
			if o.check == k.check {
				return nil, fmt.Errorf("encryption key %d (id %s) is given twice", i+1, k.ID())
			}
			return nil, fmt.Errorf("encryption key %d has the id %s of another key in the ring: make another key", i+1, k.ID())
		}
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// sealer seals and opens records with a keyring that may change while the
// node runs (rotate).
type sealer struct {
	set atomic.Pointer[keySet]
	// fileMu serialises the writes and rewraps of sealed files.
	fileMu sync.Mutex
	// ringMu serialises changes of the ring and of the key check file.
	ringMu sync.Mutex
	// inUse is how many keys the key check file lists; rewrapped counts
	// the records rewrapped under a new primary since start; rewrapping
	// is set while a rewrap runs.
	inUse      atomic.Int64
	rewrapped  atomic.Uint64
	rewrapping atomic.Bool
	kick       chan struct{}
}

func newSealer(keys ...[]byte) (*sealer, error) {
	ks, err := newKeySet(keys)
	if err != nil {
		return nil, err
	}
	s := &sealer{kick: make(chan struct{}, 1)}
	s.set.Store(ks)
	return s, nil
}

// keys is the current ring.
func (s *sealer) keys() *keySet { return s.set.Load() }

// seal returns plain sealed with the primary key and a random nonce, aad
// authenticated.
func (s *sealer) seal(plain, aad []byte) []byte { return sealWith(s.keys().primary(), plain, aad) }

func sealWith(k *atRestKey, plain, aad []byte) []byte {
	ns := k.aead.NonceSize()
	head := 1 + keyIDSize + ns
	out := make([]byte, head, head+len(plain)+k.aead.Overhead())
	out[0] = sealedFormat
	copy(out[1:], k.id[:])
	// crypto/rand.Read never returns an error: it crashes the program
	// rather than return short (Go 1.24+).
	_, _ = rand.Read(out[1+keyIDSize : head])
	return k.aead.Seal(out, out[1+keyIDSize:head], plain, sealedAAD(out[:1+keyIDSize], aad)) // #nosec G407 -- the nonce was just filled by crypto/rand
}

// open returns the plaintext of a record sealed with the same aad by any
// key of the ring.
func (s *sealer) open(sealed, aad []byte) ([]byte, error) { return openWith(s.keys(), sealed, aad) }

func openWith(ks *keySet, sealed, aad []byte) ([]byte, error) {
	const ns, tag = 12, 16
	switch {
	case len(sealed) >= 1+keyIDSize+ns+tag && sealed[0] == sealedFormat:
		k := ks.byID(sealed[1 : 1+keyIDSize])
		if k == nil {
			return nil, fmt.Errorf("the record is sealed with key %s, which is not in the keyring", hex.EncodeToString(sealed[1:1+keyIDSize]))
		}
		body := sealed[1+keyIDSize:]
		plain, err := k.aead.Open(nil, body[:ns], body[ns:], sealedAAD(sealed[:1+keyIDSize], aad))
		if err != nil {
			return nil, errors.New("sealed record failed authentication (corrupted or moved)")
		}
		return plain, nil
	case len(sealed) >= 1+ns+tag && sealed[0] == sealedFormatV1:
		for _, k := range ks.keys {
			if plain, err := k.legacy.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad); err == nil {
				return plain, nil
			}
		}
		return nil, errors.New("sealed record failed authentication (corrupted, moved, or another key)")
	}
	return nil, errors.New("not a sealed record (was it written without an encryption key?)")
}

// sealedWith reports whether sealed is a record sealed with k.
func sealedWith(k *atRestKey, sealed []byte) bool {
	return len(sealed) > keyIDSize && sealed[0] == sealedFormat && bytes.Equal(sealed[1:1+keyIDSize], k.id[:])
}

// reseal returns sealed sealed again with ks's primary, and whether that
// changed anything (it is already sealed with the primary).
func reseal(ks *keySet, sealed, aad []byte) ([]byte, bool, error) {
	if sealedWith(ks.primary(), sealed) {
		return sealed, false, nil
	}
	plain, err := openWith(ks, sealed, aad)
	if err != nil {
		return nil, false, err
	}
	return sealWith(ks.primary(), plain, aad), true, nil
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

// fileAAD is the additional data of a sealed file of the identity
// directory.
func fileAAD(name string) []byte { return recordAAD("identity/"+name, 0) }

// writeFile writes data to path (synced, renamed into place), sealed with
// the primary when s is not nil.
func (s *sealer) writeFile(path string, data []byte) error {
	if s == nil {
		return writeFileSync(path, data)
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	return writeFileSync(path, s.seal(data, fileAAD(filepath.Base(path))))
}

// readFile reads path, opening it when s is not nil.
func (s *sealer) readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a fixed name in the data directory
	if err != nil || s == nil {
		return b, err
	}
	return s.open(b, fileAAD(filepath.Base(path)))
}

// resealFile seals the file at path (if there is one) with ks's primary;
// it reports whether it changed the file.
func (s *sealer) resealFile(ks *keySet, path string) (bool, error) {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	b, err := os.ReadFile(path) // #nosec G304 -- a fixed name in the data directory
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	out, changed, err := reseal(ks, b, fileAAD(filepath.Base(path)))
	if err != nil || !changed {
		return false, err
	}
	return true, writeFileSync(path, out)
}

// checkLines is the content of the key check file listing checks.
func checkLines(checks []string) string { return strings.Join(checks, "\n") + "\n" }

// readKeyChecks reads the key check file: the checks it lists, "none"
// for a directory written without a key, and whether it exists.
func readKeyChecks(dataDir string) (checks []string, exists bool, err error) {
	path := filepath.Join(dataDir, keyCheckFile)
	got, err := os.ReadFile(path) // #nosec G304 -- a fixed name in the operator's data directory
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	checks = []string{}
	for _, l := range strings.Split(string(got), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			checks = append(checks, l)
		}
	}
	return checks, true, nil
}

// ringFor checks the ring ks against the checks the key check file lists
// and returns what the file must list with it: ks's primary first, then
// every other key the data directory may hold records under. checks is
// nil when there is no file yet, and empty for a file that lists nothing
// (refused).
func ringFor(path string, checks []string, ks *keySet) ([]string, error) {
	if len(checks) > 0 && strings.HasPrefix(checks[0], "none") {
		return nil, fmt.Errorf("%w (%s)", ErrEncryptionNotEnabled, path)
	}
	if checks != nil && len(checks) == 0 {
		return nil, fmt.Errorf("%w (%s lists no key: restore it from a backup)", ErrEncryptionKeyMismatch, path)
	}
	var missing []string
	found := 0
	for _, c := range checks {
		if ks.byCheck(c) == nil {
			id := strings.TrimPrefix(c, "aes-256-gcm hmac-sha256:")
			missing = append(missing, id[:min(len(id), 2*keyIDSize)])
		} else {
			found++
		}
	}
	switch {
	case found == 0 && len(checks) > 0:
		return nil, fmt.Errorf("%w (%s)", ErrEncryptionKeyMismatch, path)
	case len(missing) > 0:
		return nil, fmt.Errorf("%w (%s): keep key %s in --encryption-key-file until the node reports one key in use",
			ErrEncryptionKeyStillNeeded, path, strings.Join(missing, ", "))
	}
	out := []string{ks.primary().check}
	for _, c := range checks {
		if c != ks.primary().check {
			out = append(out, c)
		}
	}
	return out, nil
}

// checkDataKey compares the keyring (s, nil for none) with the keys dataDir
// was written with, recording the primary (first start, or a new primary).
// A data directory from before the check file existed, holding a Raft
// store or an archive, was written without a key.
func checkDataKey(dataDir string, s *sealer) error {
	if s != nil {
		s.ringMu.Lock()
		defer s.ringMu.Unlock()
	}
	path := filepath.Join(dataDir, keyCheckFile)
	checks, exists, err := readKeyChecks(dataDir)
	switch {
	case err != nil:
		return err
	case exists && s == nil:
		if len(checks) == 1 && checks[0] == "none" {
			return nil
		}
		return fmt.Errorf("%w (%s): give the node its key (--encryption-key-file)", ErrEncryptionKeyMissing, path)
	case exists:
		return s.adopt(dataDir, s.keys(), checks)
	}
	for _, f := range []string{filepath.Join(dataDir, "raft", "raft.db"), filepath.Join(dataDir, "ledger.db")} {
		if _, err := os.Stat(f); err == nil {
			if s != nil {
				return fmt.Errorf("%w (%s exists)", ErrEncryptionNotEnabled, f)
			}
			break
		}
	}
	if s == nil {
		return writeFileSync(path, []byte("none\n"))
	}
	return s.adopt(dataDir, s.keys(), nil)
}

// adopt makes ks the ring, given the checks the key check file lists now:
// the file is updated first (so that it lists the primary before anything
// is sealed with it), then the ring.
func (s *sealer) adopt(dataDir string, ks *keySet, checks []string) error {
	path := filepath.Join(dataDir, keyCheckFile)
	want, err := ringFor(path, checks, ks)
	if err != nil {
		return err
	}
	if !slices.Equal(want, checks) {
		if err := writeFileSync(path, []byte(checkLines(want))); err != nil {
			return err
		}
	}
	s.set.Store(ks)
	// Until a rewrap pass has found nothing but the primary, every key of
	// the ring may be in use, whatever the file says.
	inUse := len(want)
	for _, k := range ks.keys {
		if !slices.Contains(want, k.check) {
			inUse++
		}
	}
	s.inUse.Store(int64(inUse))
	if inUse > 1 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
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
