package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/raft"
	"github.com/trustledger/trustledger/fsm"
)

var (
	// ErrInvalidSnapshot: the data given to Restore is not a snapshot this
	// build can restore.
	ErrInvalidSnapshot = errors.New("invalid snapshot")
	// ErrSnapshotBehind: the snapshot holds fewer ledger events than the
	// cluster; restoring it would rewind an append-only ledger.
	ErrSnapshotBehind = errors.New("snapshot is behind the ledger")
)

// Backup is a consistent snapshot of the ledger state, for GET
// /v1/cluster/snapshot. It is cheap to take (copy-on-write) and does not
// block writes while it is written out.
type Backup struct {
	snap *fsm.Snapshot
}

// Backup takes a snapshot of the ledger as this node has applied it. The
// caller writes it with WriteTo and must Release it.
func (n *Node) Backup() *Backup { return &Backup{snap: n.ledger.Snapshot()} }

// Index is the Raft index of the last entry the snapshot reflects.
func (b *Backup) Index() uint64 { return b.snap.Index() }

// WriteTo streams the snapshot in the ledger's snapshot format (the same
// bytes Raft keeps in its snapshot store).
func (b *Backup) WriteTo(w io.Writer) (int64, error) { return b.snap.WriteTo(w) }

// Release drops the snapshot's references to ledger state.
func (b *Backup) Release() { b.snap.Release() }

// RestoreResult describes a completed restore.
type RestoreResult struct {
	// Index is the Raft index the restored state took effect at.
	Index uint64
	// Sequence, Digest and SnapshotIndex describe the restored ledger: its
	// event count, state digest and the index it had when saved.
	Sequence      uint64
	Digest        string
	SnapshotIndex uint64
	// Bytes is the size of the snapshot.
	Bytes int64
}

// Restore replaces the replicated state of the whole cluster with a
// snapshot (a backup from Backup, or a file from a node's Raft snapshot
// store). It runs on the leader. The snapshot is first spooled to the data
// directory and restored into a scratch ledger, so a corrupt or foreign
// file is refused (ErrInvalidSnapshot) before Raft sees it; a snapshot with
// fewer ledger events than the cluster has is refused with
// ErrSnapshotBehind (the ledger is append-only: restore an old backup into
// a new cluster instead). Raft then installs it as a new snapshot beyond
// its last index and every follower receives it by snapshot install.
// Writes in flight when it takes effect fail with ErrOutcomeUnknown.
//
// The ledger archive (Entries) is not rewritten: a restore leaves a gap in
// each node's archive for the entries the snapshot covers, as a snapshot
// install does.
func (n *Node) Restore(ctx context.Context, r io.Reader) (RestoreResult, error) {
	if n.isClosed() {
		return RestoreResult{}, ErrClosed
	}
	if !n.IsLeader() {
		return RestoreResult{}, n.notLeader()
	}
	f, err := os.CreateTemp(n.cfg.DataDir, "restore-*.snap")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: spool the snapshot: %w", err)
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	size, err := io.Copy(f, r)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore: receive the snapshot: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	// From the check to the install no proposal may commit: it would be
	// rewound by the snapshot.
	n.writesMu.Lock()
	defer n.writesMu.Unlock()
	scratch := fsm.NewLedger()
	if err := scratch.Restore(f); err != nil {
		return RestoreResult{}, fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	st, cur := scratch.Status(), n.ledger.Status()
	scratch = nil
	if st.Sequence < cur.Sequence {
		return RestoreResult{}, fmt.Errorf("%w: the snapshot holds %d ledger events, the cluster %d", ErrSnapshotBehind, st.Sequence, cur.Sequence)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return RestoreResult{}, fmt.Errorf("restore: %w", err)
	}
	ctx, cancel := membershipContext(ctx)
	defer cancel()
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: size}
	if err := n.raft.Restore(meta, f, timeoutOf(ctx)); err != nil {
		return RestoreResult{}, n.membershipError("restore", err)
	}
	res := RestoreResult{Index: n.raft.LastIndex(), Sequence: st.Sequence, Digest: st.Digest, SnapshotIndex: st.AppliedIndex, Bytes: size}
	n.log.Warn("replicated state restored from a snapshot", "index", res.Index, "sequence", res.Sequence,
		"digest", res.Digest, "bytes", size)
	return res, nil
}
