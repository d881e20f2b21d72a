package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

// raftFSM adapts *fsm.Ledger to raft.FSM and feeds the archive. Raft calls
// Apply, Snapshot and Restore from its single FSM goroutine.
type raftFSM struct {
	ledger  *fsm.Ledger
	archive *archive
	applied *appliedIndex
	log     *slog.Logger
	// snapshotIndex returns the index of the newest snapshot in the
	// snapshot store, the one Raft restores (0 when unknown).
	snapshotIndex func() uint64
	// stats counts snapshots persisted and restored (RaftMetrics).
	stats *snapshotStats
}

var _ raft.FSM = (*raftFSM)(nil)

// Apply applies a committed command entry and returns its *fsm.Result (the
// ApplyFuture's Response). Raft hands only command entries to Apply; any
// other type is ignored. The ledger never panics and records a malformed
// entry as rejected, identically on every node.
func (f *raftFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	res := f.ledger.Apply(l.Index, l.Data)
	// Archive before publishing the index: whoever waited for the index
	// finds the entry in Entries.
	f.archive.append(res, l.Data)
	f.applied.set(l.Index)
	return res
}

// Snapshot captures the ledger (cheap: copy-on-write) and the archive
// sequence it corresponds to.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &ledgerSnapshot{snap: f.ledger.Snapshot(), seq: f.archive.appendedSeq(), archive: f.archive, stats: f.stats}, nil
}

// Restore replaces the ledger with a snapshot: at start from the node's own
// latest snapshot, later when a leader sends one or an operator restores.
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	cr := &countingReader{r: rc}
	if err := f.ledger.Restore(cr); err != nil {
		var mm *fsm.ModelMismatchError
		if !errors.As(err, &mm) {
			return fmt.Errorf("restore ledger snapshot: %w", err)
		}
		if err := f.rebuild(mm); err != nil {
			return fmt.Errorf("restore ledger snapshot: %w", err)
		}
	}
	if f.stats != nil {
		f.stats.restored.Add(1)
		f.stats.restoredBytes.Store(cr.n)
	}
	st := f.ledger.Status()
	f.archive.restored(st.Sequence)
	f.archive.resetTree(f.ledger.TreeFrontier())
	// The state now stands for every entry up to the Raft snapshot's index.
	// That is the ledger's own applied index for snapshots this cluster
	// took, but not for a backup an operator restored (Node.Restore): it
	// may come from another cluster or an older index.
	idx := st.AppliedIndex
	if f.snapshotIndex != nil {
		if si := f.snapshotIndex(); si > 0 {
			idx = si
		}
	}
	f.applied.set(idx)
	f.log.Info("ledger restored from snapshot", "index", st.AppliedIndex, "sequence", st.Sequence, "digest", st.Digest)
	return nil
}

// ledgerSnapshot is a point-in-time ledger snapshot being persisted.
type ledgerSnapshot struct {
	snap    *fsm.Snapshot
	seq     uint64 // ledger sequence at the snapshot
	archive *archive
	stats   *snapshotStats
}

// Persist makes the archive durable up to the snapshot, then streams the
// snapshot to the sink. Raft compacts its log only after Persist succeeds,
// so no entry leaves the log before it is on disk in the archive.
func (s *ledgerSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.archive.waitDurable(s.seq); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: archive not durable to sequence %d: %w", s.seq, err)
	}
	size, err := s.snap.WriteTo(sink)
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: write: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: close sink: %w", err)
	}
	if s.stats != nil {
		s.stats.persisted.Add(1)
		s.stats.persistedBytes.Store(uint64(size)) // #nosec G115 -- a byte count
	}
	return nil
}

// Release drops the snapshot's references to ledger state.
func (s *ledgerSnapshot) Release() { s.snap.Release() }

// rebuild derives, from the ledger archive, the state a snapshot of another
// scoring model stands for (an upgrade: the node's own snapshots were
// written by the previous version): the entries up to the snapshot's
// sequence are replayed through this model, and must give the snapshot's
// chain digest. An archive that does not reach the snapshot (a node that
// caught up by snapshot install and has not copied the entries before it)
// cannot rebuild it: the node then needs a snapshot of this model from an
// upgraded leader (docs/operations.md, "Upgrading").
func (f *raftFSM) rebuild(mm *fsm.ModelMismatchError) error {
	f.log.Warn("snapshot of another scoring model: rebuilding the state from the ledger archive",
		"snapshot_model", mm.Model, "model", fsm.ModelVersion, "sequence", mm.Sequence)
	start := time.Now()
	next := func(after uint64) ([]fsm.ReplayedEntry, error) {
		es, err := f.archive.entries(after, MaxEntriesLimit)
		if err != nil {
			return nil, err
		}
		out := make([]fsm.ReplayedEntry, 0, len(es))
		for _, e := range es {
			if e.Sequence != after+1 {
				return nil, fmt.Errorf("the ledger archive lacks sequences %d to %d", after+1, e.Sequence-1)
			}
			p, err := fsm.ParseLeaf(e.Leaf)
			if err != nil {
				return nil, fmt.Errorf("sequence %d: %w", e.Sequence, err)
			}
			out = append(out, fsm.ReplayedEntry{Index: e.Index, Data: p.Entry})
			after = e.Sequence
		}
		return out, nil
	}
	if err := f.ledger.Rebuild(mm, next); err != nil {
		return fmt.Errorf("snapshot of scoring model %d, this build runs model %d, and the state cannot be rebuilt from the ledger archive: %w",
			mm.Model, fsm.ModelVersion, err)
	}
	f.log.Info("state rebuilt from the ledger archive", "sequence", mm.Sequence, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
