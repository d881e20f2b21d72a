package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trustledger/trustledger/api/client"
)

func snapshotSave(fs *flag.FlagSet, c *cli) prepare {
	stale := fs.Bool("stale", false, "take the snapshot on the node asked rather than the leader")
	return func(pos []string) (call, error) {
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			var opts *client.ReadOptions
			if *stale {
				opts = &client.ReadOptions{Consistency: client.ConsistencyStale}
			}
			if pos[0] == "-" {
				info, err := cl.Snapshot(ctx, c.stdout, opts)
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(c.stderr, "Saved a snapshot at index %d (%d bytes) from %s.\n", info.Index, info.Bytes, info.ServedBy)
				return nil, nil
			}
			path := pos[0]
			info, err := saveSnapshot(ctx, cl, path, opts)
			if err != nil {
				return nil, err
			}
			out := map[string]any{"file": path, "index": info.Index, "bytes": info.Bytes, "servedBy": info.ServedBy}
			return show(out, nil, func(w io.Writer) {
				fmt.Fprintf(w, "Saved a snapshot at index %d (%d bytes) from %s to %s.\n", info.Index, info.Bytes, info.ServedBy, path)
			})
		}, nil
	}
}

// saveSnapshot writes a snapshot beside path and renames it, so that path
// is either the old file or a complete snapshot.
func saveSnapshot(ctx context.Context, cl *client.Client, path string, opts *client.ReadOptions) (*client.SnapshotInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	info, err := cl.Snapshot(ctx, bw, opts)
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
		return nil, err
	}
	return info, os.Rename(tmp.Name(), path)
}

func snapshotRestore(_ *flag.FlagSet, c *cli) prepare {
	return func(pos []string) (call, error) {
		r, closeFn, err := c.open(pos[0])
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, usagef("%s: no such file", pos[0])
			}
			return nil, err
		}
		return func(ctx context.Context, _ *client.Client) (*output, error) {
			defer closeFn()
			cl, err := c.connect()
			if err != nil {
				return nil, err
			}
			res, err := cl.Restore(ctx, r)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Restored %s: %d ledger events, digest %s, now at index %d.\n", displayName(pos[0]), res.Sequence, res.Digest, res.Index)
			})
		}, nil
	}
}
