package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trustledger/trustledger/fsm"
	"github.com/vmihailenco/msgpack/v5"
	"go.etcd.io/bbolt"
)

// An archive written before records carried their alerts (format 1) and
// before the entries every record depends on were indexed: it still
// reads, and opening it indexes those entries (an organization, the
// policy) under the global id, once.
func TestArchiveReadsFormat1AndIndexesGlobalEntries(t *testing.T) {
	t.Parallel()
	l := fsm.NewLedger()
	var results []*fsm.Result
	var datas [][]byte
	apply := func(cmd fsm.Command) {
		data, err := fsm.EncodeEntry(cmd, int64(1000+len(results)), "writer")
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, l.Apply(uint64(10+len(results)), data))
		datas = append(datas, data)
	}
	apply(&fsm.SetOrg{OrgID: "eng", Name: "Engineering", Base: 70 * fsm.Point})
	for i := range 3 {
		apply(&fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("p%d", i), PrincipalType: "user", OrgID: "eng"})
	}
	apply(&fsm.SetPolicy{Policy: fsm.DefaultPolicy()})
	apply(&fsm.SetOrg{OrgID: "", Base: 1}) // rejected: not indexed
	for i := range 4 {
		apply(&fsm.RecordSignals{Signals: []fsm.Signal{{EventID: fmt.Sprintf("e%d", i), PrincipalID: "p0", Event: "x", Impact: -40 * fsm.Point}}})
	}
	var global []uint64
	for _, r := range results {
		if r.Err == nil && r.Kind.Global() {
			global = append(global, r.Sequence)
		}
	}
	if len(global) != 2 || results[5].Err == nil {
		t.Fatalf("fixture: global entries %v, the empty org %v", global, results[5].Err)
	}

	path := filepath.Join(t.TempDir(), "ledger.db")
	open := func() *archive {
		a, err := openArchive(path, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return a
	}
	a := open()
	for i := range results {
		a.append(results[i], datas[i])
	}
	if err := a.waitDurable(uint64(len(results))); err != nil {
		t.Fatal(err)
	}
	a.mergeIndex()
	if got := globalSeqs(t, a); !slices.Equal(got, global) {
		t.Fatalf("global entries %v, want %v", got, global)
	}
	alerted := alertedEntries(t, a)
	if len(alerted) == 0 {
		t.Fatal("no archived entry carries an alert")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the archive as the previous format left it.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		eb := tx.Bucket(bucketEntries)
		c := eb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			b.WriteByte(recordFormatV1)
			enc := msgpack.NewEncoder(&b)
			enc.UseArrayEncodedStructs(true)
			if err := enc.Encode(&archiveRecordV1{Index: r.Index, Time: r.Time, Kind: r.Kind, Rejected: r.Rejected, Error: r.Error,
				Subjects: r.Subjects, Data: r.Data}); err != nil {
				return err
			}
			if err := eb.Put(bytes.Clone(k), b.Bytes()); err != nil {
				return err
			}
		}
		pc := tx.Bucket(bucketPrincipals).Cursor()
		for k, _ := pc.Seek([]byte{0}); k != nil && k[0] == 0; k, _ = pc.Seek([]byte{0}) {
			if err := tx.Bucket(bucketPrincipals).Delete(k); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Delete(keyGlobal)
	})
	if err != nil || db.Close() != nil {
		t.Fatalf("rewrite: %v", err)
	}

	a = open()
	defer a.Close()
	if got := globalSeqs(t, a); !slices.Equal(got, global) {
		t.Fatalf("after the migration: global entries %v, want %v", got, global)
	}
	if got := alertedEntries(t, a); len(got) != 0 {
		t.Fatalf("format-1 records have no alerts, read %v", got)
	}
	es, err := a.entries(0, MaxEntriesLimit)
	if err != nil || len(es) != len(results) {
		t.Fatalf("entries: %d, %v", len(es), err)
	}
	for i, e := range es {
		if !bytes.Equal(e.Leaf, fsm.Leaf(results[i].Sequence, results[i].Time, results[i].Err == nil, datas[i])) {
			t.Fatalf("entry %d: its leaf changed with the format", e.Sequence)
		}
	}
}

func globalSeqs(t *testing.T, a *archive) []uint64 {
	t.Helper()
	es, err := a.principalEntries(globalSubject, 0, MaxEntriesLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range es {
		out = append(out, e.Sequence)
	}
	return out
}

func alertedEntries(t *testing.T, a *archive) []uint64 {
	t.Helper()
	es, err := a.entries(0, MaxEntriesLimit)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, e := range es {
		if len(e.Alerts) > 0 {
			out = append(out, e.Sequence)
		}
	}
	return out
}
