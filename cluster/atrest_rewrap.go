package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// Rotation of the at-rest keys (docs/operations.md, "Rotating the
// encryption key"). A new primary seals everything written from the
// moment the ring takes it; rewrap then seals again, with it, what the
// data directory holds under other keys — the sealed files of the
// identity directory, the ledger archive, the Raft log and the Raft
// snapshots — and when a pass over all of them finds nothing left, the key
// check file lists the primary alone: the other keys may go.
//
// Every write path seals with the ring's primary at the time of the write
// and holds what rewrap also takes until the record is stored (the
// archive's bolt write transaction, the log store's lock, the file lock;
// open snapshot sinks are waited for), so a pass that starts after the
// ring changed sees every record sealed with an older ring.

// errRewrapStopped ends a rewrap when the node closes.
var errRewrapStopped = errors.New("rewrap stopped: the node is closing")

// archiveRewrapBatch is how many archive records one transaction rewraps.
const archiveRewrapBatch = 512

// rewrap seals every archive record not sealed with ks's primary again with
// it, a batch per transaction; it returns how many it rewrote.
func (a *archive) rewrap(ks *keySet, stop <-chan struct{}) (uint64, error) {
	var n uint64
	for from := uint64(0); ; {
		select {
		case <-stop:
			return n, errRewrapStopped
		default:
		}
		var last uint64
		var done bool
		var changed int
		err := a.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketEntries)
			type kv struct{ k, v []byte }
			var out []kv
			c := b.Cursor()
			k, v := c.Seek(seqKey(from))
			for i := 0; k != nil && i < archiveRewrapBatch; k, v = c.Next() {
				i++
				last = binary.BigEndian.Uint64(k)
				nv, ch, err := reseal(ks, v, recordAAD(aadArchive, last))
				if err != nil {
					return fmt.Errorf("archive sequence %d: %w", last, err)
				}
				if ch {
					out = append(out, kv{bytes.Clone(k), nv})
				}
			}
			done = k == nil
			// Written after the cursor is done with the bucket: a Put
			// while iterating would move it.
			for _, e := range out {
				if err := b.Put(e.k, e.v); err != nil {
					return err
				}
			}
			changed = len(out)
			return nil
		})
		if err != nil {
			return n, err
		}
		n += uint64(changed) // #nosec G115 -- a count
		if done {
			return n, nil
		}
		from = last + 1
	}
}

// sealedFiles are the sealed files of the identity directory.
var sealedFiles = []string{nodeKeyFile, caKeyFile, gossipKeyFile, checkpointKeyFile, transmitterKeyFile}

// rewrapFiles seals the identity directory's sealed files again with ks's
// primary.
func (n *Node) rewrapFiles(ks *keySet, _ <-chan struct{}) (uint64, error) {
	var c uint64
	for _, f := range sealedFiles {
		changed, err := n.sealer.resealFile(ks, filepath.Join(n.ident.dir, f))
		if err != nil {
			return c, fmt.Errorf("%s: %w", f, err)
		}
		if changed {
			c++
		}
	}
	return c, nil
}

// rewrapLoop rewraps the data directory whenever the ring gets a new
// primary (at start, or ReloadEncryptionKeys), until the node closes; a
// rewrap that fails is retried.
func (n *Node) rewrapLoop() {
	for {
		select {
		case <-n.closed:
			return
		case <-n.sealer.kick:
		}
		for {
			err := n.rewrapAll()
			if err == nil {
				break
			}
			if errors.Is(err, errRewrapStopped) {
				return
			}
			n.log.Error("rewrapping the data directory under the new encryption key failed; retrying in 10s", "error", err)
			select {
			case <-n.closed:
				return
			case <-time.After(10 * time.Second):
			}
		}
	}
}

// rewrapAll makes passes over every sealed store until one finds nothing
// to rewrap with the primary of the ring it started with, then records
// that the primary is the only key in use — unless the ring changed
// meanwhile, in which case it goes on with the new one.
func (n *Node) rewrapAll() error {
	s := n.sealer
	s.rewrapping.Store(true)
	defer s.rewrapping.Store(false)
	steps := []struct {
		name string
		run  func(*keySet, <-chan struct{}) (uint64, error)
	}{{"identity files", n.rewrapFiles}, {"ledger archive", n.archive.rewrap},
		{"raft log", n.sealedLog.rewrap}, {"raft snapshots", func(ks *keySet, stop <-chan struct{}) (uint64, error) {
			return n.sealedSnaps.rewrap(ks, n.trans, stop)
		}}}
	for {
		ks := s.keys()
		start := time.Now()
		var total uint64
		for _, st := range steps {
			k, err := st.run(ks, n.closed)
			total += k
			s.rewrapped.Add(k)
			if err != nil {
				return fmt.Errorf("%s: %w", st.name, err)
			}
		}
		if total > 0 {
			n.log.Info("rewrapped records under the primary encryption key", "key", ks.primary().ID(),
				"records", total, "took", time.Since(start).Round(time.Millisecond))
			continue
		}
		finished, err := s.finish(n.cfg.DataDir, ks)
		if err != nil || !finished {
			if err != nil {
				return err
			}
			continue
		}
		n.log.Info("every record is sealed with the primary encryption key; the other keys are no longer needed",
			"key", ks.primary().ID())
		return nil
	}
}

// finish records in the key check file that ks's primary is the only key
// in use, unless the ring is no longer ks.
func (s *sealer) finish(dataDir string, ks *keySet) (bool, error) {
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	if s.keys() != ks {
		return false, nil
	}
	if s.inUse.Load() > 1 {
		if err := writeFileSync(filepath.Join(dataDir, keyCheckFile), []byte(checkLines([]string{ks.primary().check}))); err != nil {
			return false, err
		}
	}
	s.inUse.Store(1)
	return true, nil
}

// ReloadEncryptionKeys replaces the node's at-rest keyring while it runs.
// keys[0] becomes the primary: everything written from now on is sealed
// with it and what the data directory holds under other keys is rewrapped
// in the background (EncryptionStatus reports when only one key is in
// use). The ring must hold every key the data directory may still hold
// records under (ErrEncryptionKeyStillNeeded); otherwise nothing changes.
func (n *Node) ReloadEncryptionKeys(keys [][]byte) error {
	s := n.sealer
	if s == nil {
		return errors.New("the node runs without encryption at rest; it cannot be turned on while it runs")
	}
	ks, err := newKeySet(keys)
	if err != nil {
		return err
	}
	s.ringMu.Lock()
	defer s.ringMu.Unlock()
	cur := s.keys()
	if sameRing(cur, ks) {
		return nil
	}
	for _, k := range cur.keys {
		if ks.byCheck(k.check) == nil && s.inUse.Load() > 1 {
			return fmt.Errorf("%w: key %s is still in use (the rewrap under key %s has not finished)",
				ErrEncryptionKeyStillNeeded, k.ID(), cur.primary().ID())
		}
	}
	checks, _, err := readKeyChecks(n.cfg.DataDir)
	if err != nil {
		return err
	}
	before := cur.primary().ID()
	if err := s.adopt(n.cfg.DataDir, ks, checks); err != nil {
		return err
	}
	n.log.Info("reloaded the encryption keys", "primary", ks.primary().ID(), "previous_primary", before,
		"keys", len(ks.keys), "keys_in_use", s.inUse.Load())
	return nil
}

// sameRing reports whether two rings hold the same keys in the same order.
func sameRing(a, b *keySet) bool {
	if len(a.keys) != len(b.keys) {
		return false
	}
	for i := range a.keys {
		if a.keys[i].check != b.keys[i].check {
			return false
		}
	}
	return true
}

// EncryptionStatus is the state of a node's at-rest keys.
type EncryptionStatus struct {
	// Enabled: the node has at-rest keys.
	Enabled bool
	// PrimaryKey is the id of the key new records are sealed with.
	PrimaryKey string
	// Keys is how many keys the ring holds; KeysInUse how many the data
	// directory may hold records under (1 when no rewrap is pending).
	Keys, KeysInUse int
	// Rewrapping: a rewrap is running; Rewrapped counts the records it
	// rewrote since the node started.
	Rewrapping bool
	Rewrapped  uint64
}

// EncryptionStatus reports the node's at-rest keys.
func (n *Node) EncryptionStatus() EncryptionStatus {
	s := n.sealer
	if s == nil {
		return EncryptionStatus{}
	}
	ks := s.keys()
	return EncryptionStatus{Enabled: true, PrimaryKey: ks.primary().ID(), Keys: len(ks.keys),
		KeysInUse: int(s.inUse.Load()), Rewrapping: s.rewrapping.Load(), Rewrapped: s.rewrapped.Load()}
}
