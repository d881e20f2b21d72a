package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trustledger/trustledger/api/client"
)

func snapshotCommand() *command {
	return &command{name: "snapshot", subs: []*command{
		{name: "save", args: "FILE|- [--stale]",
			summary: "save a snapshot of the replicated state (a backup) to FILE", run: snapshotSave},
		{name: "restore", args: "FILE|-",
			summary: "replace the whole cluster's state with a snapshot (refused if older than the ledger)", run: snapshotRestore},
	}}
}

func snapshotSave(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl snapshot save")
	stale := fs.Bool("stale", false, "take the snapshot on the node asked rather than the leader")
	pos, err := c.parseArgs(fs, args, snapshotCommand().subs[0].args, 1, "FILE (or - for standard output)")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	var opts *client.ReadOptions
	if *stale {
		opts = &client.ReadOptions{Consistency: client.ConsistencyStale}
	}
	var info *client.SnapshotInfo
	if pos[0] == "-" {
		info, err = cl.Snapshot(ctx, c.stdout, opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Saved a snapshot at index %d (%d bytes) from %s.\n", info.Index, info.Bytes, info.ServedBy)
		return nil
	}
	// Write beside the target and rename, so FILE is either the old file
	// or a complete snapshot.
	path := pos[0]
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	info, err = cl.Snapshot(ctx, bw, opts)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	out := map[string]any{"file": path, "index": info.Index, "bytes": info.Bytes, "servedBy": info.ServedBy}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "Saved a snapshot at index %d (%d bytes) from %s to %s.\n", info.Index, info.Bytes, info.ServedBy, path)
	})
}

func snapshotRestore(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl snapshot restore")
	pos, err := c.parseArgs(fs, args, snapshotCommand().subs[1].args, 1, "FILE (or - for standard input)")
	if err != nil {
		return err
	}
	r, closeFn, err := c.open(pos[0])
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usagef("%s: no such file", pos[0])
		}
		return err
	}
	defer closeFn()
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.Restore(ctx, r)
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Restored %s: %d ledger events, digest %s, now at index %d.\n", displayName(pos[0]), res.Sequence, res.Digest, res.Index)
	})
}
