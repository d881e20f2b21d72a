package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// newKeyLine is a fresh at-rest key as --encryption-key-file holds it.
func newKeyLine(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func writeKeyFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The at-rest key of every node of a three-process cluster is rotated
// (the new key put first in --encryption-key-file, SIGHUP) while clients
// write and read through every node: no request fails, each node seals
// with the new key and rewraps what it holds in the background until one
// key is in use, the old key then leaves the file (SIGHUP again), and a
// node restarted with the new key alone opens its data directory and
// catches up.
func TestEncryptionKeyRotationWithoutFailedRequests(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "at-rest.key")
	oldKey, newKey := newKeyLine(t), newKeyLine(t)
	writeKeyFile(t, keyFile, oldKey)
	// Snapshots and compaction during the test, so that the rewrap meets
	// snapshots and a compacted log as well.
	c := startProcCluster(t, 3, "--encryption-key-file", keyFile, "--snapshot-threshold", "64",
		"--trailing-logs", "32", "--snapshot-interval", "200ms", "--reload-interval", "0")
	ctx := ctxT(t, 120*time.Second)
	if _, err := c.client(c.procs[0]).RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, p := range c.procs {
		cl := c.client(p)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := cl.SendSignals(ctx, signals("alice", fmt.Sprintf("w%d-%d", w, i), 5, "0.1"))
				if err == nil {
					_, _, err = cl.GetPrincipal(ctx, "alice", nil)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				} else {
					ok.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	rounds := func(n int64) {
		t.Helper()
		target := ok.Load() + failed.Load() + n
		pollUntil(t, 30*time.Second, func() bool { return ok.Load()+failed.Load() >= target }, "request rounds")
	}
	primaries := func() map[string]string {
		out := map[string]string{}
		for id, fams := range c.scrapeAll(t) {
			if f := fams["trustledger_encryption_primary_key_info"]; f != nil && len(f.Metric) == 1 {
				out[id] = f.Metric[0].Label[0].GetValue()
			}
			if gauge(t, fams, "trustledger_encryption_keys_in_use") != 1 {
				out[id] += " (rewrapping)"
			}
		}
		return out
	}
	rounds(30)
	before := primaries()
	oldID := before["n1"]
	for _, p := range c.procs {
		if before[p.id] != oldID || oldID == "" {
			t.Fatalf("primary keys before the rotation: %v; want one key on every node", before)
		}
	}

	writeKeyFile(t, keyFile, newKey, oldKey)
	for _, p := range c.procs {
		p.proc.Notify(t, syscall.SIGHUP)
		rounds(10)
	}
	var after map[string]string
	pollUntil(t, 30*time.Second, func() bool {
		after = primaries()
		for _, p := range c.procs {
			if after[p.id] == oldID || strings.Contains(after[p.id], "rewrapping") || after[p.id] == "" {
				return false
			}
		}
		return true
	}, "every node on the new key, with one key in use")
	rewrapped := 0.0
	for _, fams := range c.scrapeAll(t) {
		rewrapped += counter(t, fams, "trustledger_encryption_rewrapped_records_total")
	}
	if rewrapped == 0 {
		t.Fatal("no node rewrapped a record")
	}
	rounds(10)

	// The old key leaves the file; the nodes keep running on the new one.
	writeKeyFile(t, keyFile, newKey)
	for _, p := range c.procs {
		p.proc.Notify(t, syscall.SIGHUP)
	}
	rounds(20)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d request rounds failed during the rotation; first: %v", failed.Load(), failed.Load()+ok.Load(), *firstErr.Load())
	}
	for _, p := range c.procs {
		if out := p.proc.Output(); strings.Contains(out, "were not reloaded") || strings.Count(out, "reloaded the encryption keys") != 2 {
			t.Fatalf("%s: want two reloads of the keys, none refused:\n%s", p.id, p.tail())
		}
	}

	// A node restarted with the new key alone opens what it holds.
	n3 := c.procs[2]
	if err := n3.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop %s: %v", n3.id, err)
	}
	if _, err := c.client(c.procs[0]).SendSignals(ctx, signals("alice", "after", 5, "0.1")); err != nil {
		t.Fatal(err)
	}
	n3.start(t, c.bin)
	pollUntil(t, 30*time.Second, func() bool {
		_, _, err := c.client(n3).GetPrincipal(context.Background(), "alice", nil)
		return err == nil
	}, n3.id+" back with the new key alone")
	t.Logf("%d request rounds (a write and a read each, through all three nodes), none failed; primary key %s -> %v; %.0f records rewrapped",
		ok.Load(), oldID, after, rewrapped)
}
