package cluster

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"go.etcd.io/bbolt"
)

const (
	// flushInterval is the least time between two entry flushes: a few
	// milliseconds of coalescing put many entries in one commit and fsync.
	// Readers do not wait for it: Entries also serves the buffered tail.
	flushInterval = 10 * time.Millisecond
	// indexMergeKeys and indexMergeInterval decide when the in-memory index
	// tail is merged into the on-disk principal index: once it holds this
	// many keys, and at least this often when it is not empty. Merging in
	// large sorted batches visits each B+tree leaf once per batch; putting
	// each flush's keys at once would rewrite about one page per key
	// (measured: ~10x the CPU per entry with 20 subjects per entry).
	indexMergeKeys     = 1 << 16
	indexMergeInterval = 5 * time.Second
)

// indexTail maps principal ids to the ascending sequences of durable entries
// about them that the on-disk principal index does not hold yet.
type indexTail struct {
	m    map[string][]uint64
	keys int
}

// add records that entry seq touched subjects. Entries re-applied after a
// restart that the tail already holds are skipped.
func (t *indexTail) add(seq uint64, subjects []string) {
	for _, s := range subjects {
		if t.m == nil {
			t.m = map[string][]uint64{}
		}
		l := t.m[s]
		if len(l) > 0 && l[len(l)-1] >= seq {
			continue
		}
		t.m[s] = append(l, seq)
		t.keys++
	}
}

// after returns a copy of id's sequences greater than after.
func (t *indexTail) after(id string, after uint64) []uint64 {
	l := t.m[id]
	i, _ := slices.BinarySearch(l, after+1)
	return slices.Clone(l[i:])
}

// sortedKeys returns the tail as principal index keys in key order.
func (t *indexTail) sortedKeys() [][]byte {
	keys := make([][]byte, 0, t.keys)
	for id, seqs := range t.m {
		for _, seq := range seqs {
			keys = append(keys, principalKey(id, seq))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys
}

// run is the flusher goroutine; Close stops it after a final flush and
// index merge.
func (a *archive) run() {
	defer close(a.done)
	merge := time.NewTicker(indexMergeInterval)
	defer merge.Stop()
	var last time.Time
	for {
		select {
		case <-a.kick:
			if wait := flushInterval - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-a.stop:
					t.Stop()
					a.final()
					return
				}
			}
			last = time.Now()
			a.flush()
			a.mu.Lock()
			full := a.tail.keys >= indexMergeKeys
			a.mu.Unlock()
			if full {
				a.mergeIndex()
			}
		case <-merge.C:
			a.mergeIndex()
		case <-a.stop:
			a.final()
			return
		}
	}
}

func (a *archive) final() {
	a.flush()
	a.mergeIndex()
}

// fail puts the archive in its failed state; call with a.mu held.
func (a *archive) failLocked(what string, err error) {
	a.err = fmt.Errorf("ledger archive %s failed (restart the node to rebuild it from the Raft log): %w", what, err)
	a.pending, a.pendingBytes = nil, 0
	a.log.Error("ledger archive disabled", "error", a.err)
}

// flush writes the pending entries, then publishes them to subscribers.
func (a *archive) flush() {
	a.mu.Lock()
	batch := a.pending
	a.pending, a.pendingBytes, a.inflight = nil, 0, batch
	a.cond.Broadcast()
	a.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := a.writeEntries(batch)
	a.mu.Lock()
	a.inflight = nil
	if err != nil {
		a.failLocked("write", err)
	} else {
		for i := range batch {
			if batch[i].seq > a.indexed {
				a.tail.add(batch[i].seq, batch[i].rec.indexIDs())
			}
		}
		last := batch[len(batch)-1].seq
		a.durable = max(a.durable, last)
		a.tailThrough = max(a.tailThrough, last)
	}
	a.cond.Broadcast()
	a.mu.Unlock()
	if err != nil {
		a.hub.closeAll()
		return
	}
	a.hub.publish(batch)
}

// writeEntries stores a batch, and the tree nodes it completes, in one
// transaction; bbolt fsyncs it on commit.
func (a *archive) writeEntries(batch []archived) error {
	a.treeMu.Lock()
	defer a.treeMu.Unlock()
	var rng *compact.Range
	err := a.db.Update(func(tx *bbolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		eb.FillPercent = 0.95 // sequence keys only ever grow
		for i := range batch {
			v, err := a.encodeRecord(batch[i].seq, &batch[i].rec)
			if err != nil {
				return fmt.Errorf("encode sequence %d: %w", batch[i].seq, err)
			}
			if err := eb.Put(seqKey(batch[i].seq), v); err != nil {
				return fmt.Errorf("put sequence %d: %w", batch[i].seq, err)
			}
		}
		var err error
		rng, err = a.writeTree(tx, batch)
		return err
	})
	if err == nil {
		a.tree.rng = rng
		a.setHead()
	}
	return err
}

// mergeIndex writes the index tail into the principal index, in key order,
// and advances "indexed" in the same transaction. Readers keep seeing the
// tail being merged (a.merging) until the merge has committed.
func (a *archive) mergeIndex() {
	a.mergeMu.Lock()
	defer a.mergeMu.Unlock()
	a.mu.Lock()
	if a.err != nil || (a.tail.keys == 0 && a.tailThrough == a.indexed) {
		a.mu.Unlock()
		return
	}
	a.merging, a.tail = a.tail, indexTail{}
	through := a.tailThrough
	a.mu.Unlock()

	// Only a merge changes a.merging, so under mergeMu reading it unlocked
	// is safe.
	keys := a.merging.sortedKeys()
	err := a.db.Update(func(tx *bbolt.Tx) error {
		pb := tx.Bucket(bucketPrincipals)
		for _, k := range keys {
			if err := pb.Put(k, []byte{}); err != nil {
				return fmt.Errorf("put %q: %w", k, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keyIndexed, seqKey(through))
	})

	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failLocked("index merge", err)
		return
	}
	a.indexed = through
	a.merging = indexTail{}
}
