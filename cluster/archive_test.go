package cluster

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"go.etcd.io/bbolt"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func TestArchiveEntries(t *testing.T) {
	t.Parallel()
	n := openLeader(t, t.TempDir(), "127.0.0.1:0")
	mustApply(t, n, &fsm.SetOrg{OrgID: "acme", Name: "Acme", Base: 60 * fsm.Point})
	mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: "alice", PrincipalType: "user", OrgID: "acme",
		Max: fsm.Some(90 * fsm.Point), Metadata: []byte(`{"dept": "sales"}`)})
	mustApply(t, n, &fsm.RegisterPrincipal{PrincipalID: "bob", PrincipalType: "service"})
	mustApply(t, n, &fsm.RecordSignals{Signals: []fsm.Signal{
		{EventID: "s1", PrincipalID: "alice", Event: "login", Impact: fsm.Point},
		{EventID: "s2", PrincipalID: "bob", Event: "login", Impact: -fsm.Point},
	}})
	rejected := propose(t, n, &fsm.RegisterPrincipal{PrincipalID: "bob", PrincipalType: "service"})
	secret := []byte("0123456789abcdef0123456789abcdef")
	mustApply(t, n, &fsm.CreateToken{TokenID: "t1", Hash: secret, Role: "reader"})
	mustApply(t, n, &fsm.RecordSignals{Signals: []fsm.Signal{{EventID: "s3", PrincipalID: "alice", Event: "logout", Impact: 1}}})

	all, err := n.Entries(0, 0)
	if err != nil {
		t.Fatalf("entries: %v", err)
	}
	checkSequences(t, all, 7)
	want := []struct{ kind, status, subjects string }{
		{"set_org", EntryApplied, ""},
		{"register_principal", EntryApplied, "alice"},
		{"register_principal", EntryApplied, "bob"},
		{"record_signals", EntryApplied, "alice,bob"},
		{"register_principal", EntryRejected, ""},
		{"create_token", EntryApplied, ""},
		{"record_signals", EntryApplied, "alice"},
	}
	for i, w := range want {
		e := all[i]
		if e.Kind != w.kind || e.Status != w.status || strings.Join(e.Subjects, ",") != w.subjects || e.Actor != "tok-test" {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
		if _, err := time.Parse(time.RFC3339, e.Time); err != nil {
			t.Errorf("entry %d time %q: %v", i, e.Time, err)
		}
		if e.Cmd == nil || e.Cmd.Kind().String() != w.kind {
			t.Errorf("entry %d command %#v, want a decoded %s", i, e.Cmd, w.kind)
		}
	}
	if all[4].Error != rejected.Err.Error() || all[4].Index != rejected.Index {
		t.Errorf("rejected entry %+v, want error %q at %d", all[4], rejected.Err, rejected.Index)
	}
	if reg, ok := all[1].Cmd.(*fsm.RegisterPrincipal); !ok || reg.PrincipalID != "alice" || reg.Max != fsm.Some(90*fsm.Point) {
		t.Errorf("register command decoded as %#v", all[1].Cmd)
	}

	// Paging.
	page, err := n.Entries(2, 3)
	if err != nil || len(page) != 3 || page[0].Sequence != 3 || page[2].Sequence != 5 {
		t.Fatalf("Entries(2, 3) = %+v, %v", page, err)
	}
	if page, err := n.Entries(7, 10); err != nil || len(page) != 0 {
		t.Fatalf("Entries past the end = %+v, %v", page, err)
	}

	// Per principal.
	seqs := func(es []LedgerEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, fmt.Sprint(e.Sequence))
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		id    string
		after uint64
		limit int
		want  string
	}{
		{"alice", 0, 0, "2,4,7"},
		{"alice", 2, 1, "4"},
		{"bob", 0, 0, "3,4"},
		{"al", 0, 0, ""}, // a prefix of alice is another principal
		{"nobody", 0, 0, ""},
	} {
		got, err := n.PrincipalEntries(tc.id, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("PrincipalEntries(%s): %v", tc.id, err)
		}
		if seqs(got) != tc.want {
			t.Errorf("PrincipalEntries(%q, %d, %d) = %s, want %s", tc.id, tc.after, tc.limit, seqs(got), tc.want)
		}
	}
	if _, err := n.PrincipalEntries("bad id", 0, 0); err == nil {
		t.Error("PrincipalEntries accepted an invalid id")
	}
}

func TestSubscribe(t *testing.T) {
	t.Parallel()
	n := openLeader(t, t.TempDir(), "127.0.0.1:0")
	ch, cancel := n.Subscribe()
	defer cancel()
	res := mustApply(t, n, &fsm.SetOrg{OrgID: "acme", Base: 50 * fsm.Point})
	select {
	case e := <-ch:
		if e.Sequence != res.Sequence || e.Kind != "set_org" {
			t.Fatalf("streamed %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no entry streamed")
	}
	cancel()
	cancel() // idempotent
	if _, ok := <-ch; ok {
		t.Fatal("channel open after unsubscribe")
	}

	ch2, cancel2 := n.Subscribe()
	defer cancel2()
	n.CloseSubscribers()
	if _, ok := <-ch2; ok {
		t.Fatal("channel open after CloseSubscribers")
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := newHub()
	slow, _ := h.subscribe()
	fast, cancelFast := h.subscribe()
	defer cancelFast()
	data, err := fsm.EncodeEntry(&fsm.SetOrg{OrgID: "o", Base: 1}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]archived, SubscriptionBuffer/2+1)
	for i := range batch {
		batch[i] = archived{seq: uint64(i + 1), rec: archiveRecord{Kind: uint8(fsm.KindSetOrg), Data: data}}
	}
	h.publish(batch)
	for range batch {
		<-fast // the fast subscriber keeps up
	}
	h.publish(batch) // the slow one overflows
	n := 0
	for range slow {
		n++
	}
	if n != SubscriptionBuffer {
		t.Fatalf("slow subscriber got %d entries before being dropped, want %d", n, SubscriptionBuffer)
	}
	if len(fast) != len(batch) {
		t.Fatalf("fast subscriber has %d entries queued, want %d", len(fast), len(batch))
	}
}

// archiveFixture is a ledger history applied outside Raft, for archive
// tests: register principals, then signal batches touching several each.
type archiveFixture struct {
	results []*fsm.Result
	datas   [][]byte
}

func newArchiveFixture(t *testing.T, principals, batches int) archiveFixture {
	t.Helper()
	l := fsm.NewLedger()
	var f archiveFixture
	apply := func(cmd fsm.Command) {
		data, err := fsm.EncodeEntry(cmd, int64(1000+len(f.results)), "writer")
		if err != nil {
			t.Fatal(err)
		}
		res := l.Apply(uint64(10+2*len(f.results)), data)
		f.results = append(f.results, res)
		f.datas = append(f.datas, data)
	}
	for i := range principals {
		apply(&fsm.RegisterPrincipal{PrincipalID: fmt.Sprintf("p%d", i), PrincipalType: "user"})
	}
	for b := range batches {
		var sigs []fsm.Signal
		for i := 0; i < principals; i += 1 + b%3 {
			sigs = append(sigs, fsm.Signal{EventID: fmt.Sprintf("e%d-%d", b, i), PrincipalID: fmt.Sprintf("p%d", i), Event: "x", Impact: 1})
		}
		apply(&fsm.RecordSignals{Signals: sigs})
	}
	return f
}

// check compares every read of the archive with the fixture's first n
// entries.
func (f archiveFixture) check(t *testing.T, a *archive, n int, principals int) {
	t.Helper()
	all, err := a.entries(0, MaxEntriesLimit)
	if err != nil {
		t.Fatal(err)
	}
	checkSequences(t, all, uint64(n))
	for i, e := range all {
		if e.Index != f.results[i].Index || e.Actor != "writer" || strings.Join(e.Subjects, ",") != strings.Join(f.results[i].Subjects, ",") {
			t.Fatalf("entry %d = %+v, want result %+v", i, e, f.results[i])
		}
	}
	for p := range principals {
		id := fmt.Sprintf("p%d", p)
		var want []uint64
		for _, r := range f.results[:n] {
			if slices.Contains(r.Subjects, id) {
				want = append(want, r.Sequence)
			}
		}
		// Read in pages of 2 to cross the boundaries between the index,
		// the tail and memory.
		var got []uint64
		var after uint64
		for {
			page, err := a.principalEntries(id, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				got = append(got, e.Sequence)
			}
			after = page[len(page)-1].Sequence
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: sequences %v, want %v", id, got, want)
		}
	}
}

// TestArchiveIndexAcrossRestarts exercises the principal index in each of
// its states (merged on disk, tail in memory, not yet durable), a crash
// between an entry flush and the index merge, and re-applied entries after
// a restart, which must change nothing.
func TestArchiveIndexAcrossRestarts(t *testing.T) {
	t.Parallel()
	const principals = 6
	f := newArchiveFixture(t, principals, 20)
	total := len(f.results)
	path := filepath.Join(t.TempDir(), "ledger.db")
	open := func() *archive {
		a, err := openArchive(path, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return a
	}
	appendRange := func(a *archive, from, to int) {
		for i := from; i < to; i++ {
			a.append(f.results[i], f.datas[i])
		}
	}

	a := open()
	appendRange(a, 0, 10)
	f.check(t, a, 10, principals) // mostly not yet durable
	if err := a.waitDurable(10); err != nil {
		t.Fatal(err)
	}
	a.mergeIndex()
	appendRange(a, 10, 20)
	if err := a.waitDurable(20); err != nil {
		t.Fatal(err)
	}
	f.check(t, a, 20, principals) // on disk: 1-10 indexed, 11-20 in the tail
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// Simulate a crash after entries 11-20 were flushed but before the
	// index merge that Close did.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keyIndexed, seqKey(10)); err != nil {
			return err
		}
		c := tx.Bucket(bucketPrincipals).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if binary.BigEndian.Uint64(k[len(k)-8:]) > 10 {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil || db.Close() != nil {
		t.Fatalf("tamper: %v", err)
	}

	// Restart: the tail is rebuilt from the entries, then Raft re-applies
	// from a snapshot at sequence 7 and carries on.
	a = open()
	f.check(t, a, 20, principals)
	appendRange(a, 7, total)
	f.check(t, a, total, principals)
	if err := a.waitDurable(uint64(total)); err != nil {
		t.Fatal(err)
	}
	a.mergeIndex()
	f.check(t, a, total, principals)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	a = open()
	defer a.Close()
	if a.tail.keys != 0 || a.indexed != uint64(total) {
		t.Fatalf("after a clean close: %d tail keys, indexed to %d; want 0 and %d", a.tail.keys, a.indexed, total)
	}
	f.check(t, a, total, principals)
}
