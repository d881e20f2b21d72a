package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden.ledger and print the new digests")

// bigWorld builds a ledger of n entries over many principals.
func bigWorld(t testing.TB, seed uint64, principals, n int) *world {
	tt, ok := t.(*testing.T)
	if !ok {
		tt = &testing.T{}
	}
	w := newWorld(tt, seed)
	w.slow = true
	for len(w.principals) < principals {
		w.register("q" + itoa(len(w.principals)))
	}
	for len(w.log) < n {
		w.step()
	}
	return w
}

func itoa(i int) string {
	return string(appendInt(nil, int64(i), 1))
}

// TestReplaySnapshotRestore: one random ledger of 100,000 entries applied to
// two fresh state machines — one straight through, one with Snapshot →
// Restore at a random point, while entries keep arriving after the snapshot
// was taken — gives equal digests and byte-identical JSON for every record.
func TestReplaySnapshotRestore(t *testing.T) {
	t.Parallel()
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d", seed)
	w := bigWorld(t, seed, 300, n)
	log := w.log[:n]

	straight := NewLedger()
	for i, e := range log {
		straight.Apply(uint64(i+1), e)
	}

	cut := 1 + rand.New(rand.NewPCG(seed, 1)).IntN(n-1)
	a := NewLedger()
	for i, e := range log[:cut] {
		a.Apply(uint64(i+1), e)
	}
	snap := a.Snapshot()
	// Keep applying to the source before persisting: copy-on-write must
	// keep the snapshot at the cut.
	for i, e := range log[cut:] {
		a.Apply(uint64(cut+i+1), e)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	snap.Release()
	b := NewLedger()
	if err := b.Restore(&buf); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if b.AppliedIndex() != uint64(cut) {
		t.Fatalf("restored index %d, want %d", b.AppliedIndex(), cut)
	}
	for i, e := range log[cut:] {
		b.Apply(uint64(cut+i+1), e)
	}
	if straight.Digest() != b.Digest() || straight.Digest() != a.Digest() {
		t.Fatalf("digests differ: straight %s restored %s source %s", straight.Digest(), b.Digest(), a.Digest())
	}
	at := w.now + 3*24*hourMS
	straight.mu.RLock()
	ids := straight.principals.ids()
	straight.mu.RUnlock()
	sortStrings(ids)
	for _, id := range ids {
		r1, _ := straight.Record(id, at)
		r2, ok := b.Record(id, at)
		if !ok {
			t.Fatalf("principal %s missing after restore", id)
		}
		j1, j2 := mustJSON(t, r1), mustJSON(t, r2)
		if j1 != j2 {
			k := 0
			for k < len(j1) && k < len(j2) && j1[k] == j2[k] {
				k++
			}
			lo := max(0, k-200)
			t.Fatalf("record %s differs after snapshot at %d at byte %d:\n%s\n%s", id, cut, k, j1[lo:min(len(j1), k+200)], j2[lo:min(len(j2), k+200)])
		}
	}
	d1, _ := straight.RecordsDigest(at)
	d2, _ := b.RecordsDigest(at)
	if d1 != d2 {
		t.Fatalf("records digest differs")
	}
	t.Logf("%d entries, %d principals, snapshot at %d (%d bytes), digest %s", n, len(ids), cut, buf.Cap(), straight.Digest())
}

// The golden ledger: a fixed sequence of entries whose chain digest and
// records digest are pinned. A change to scoring results changes the
// records digest: bump ModelVersion and update the pin (-update-golden).
const (
	// goldenModel1Entries is how many entries the golden ledger had under
	// model 1.
	goldenModel1Entries = 5015
	goldenLedger        = "testdata/golden.ledger"
	goldenAt            = int64(1_720_000_000_000) // 2024-07-03T09:46:40Z
)

var goldenDigests = map[int][2]string{
	// model version: {chain digest, records digest at goldenAt}
	2: {"e07585d20d2a2ad0f196950c4bd91a271a528d49774306ba3af9298617c54e08", "c67510154e457f447fe4feef19a4640d3e8b825fde1a39f915a5c2ae50bd8f11"},
}

// goldenModel1Chain is the chain digest of the golden ledger's model-1
// entries, as model 1 computed it: the chain folds in whether each entry
// was accepted, so a later model that gives it too accepts and refuses
// every entry of model 1 as model 1 did.
const goldenModel1Chain = "ef00e9f1303e62520ee37023d10dc4593a39c08c0a2031d50eacee13bef5f19f"

func readGolden(t *testing.T) [][]byte {
	t.Helper()
	data, err := os.ReadFile(goldenLedger)
	if err != nil {
		t.Fatalf("read golden ledger: %v", err)
	}
	var out [][]byte
	for len(data) >= 4 {
		n := int(data[0])<<24 | int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		data = data[4:]
		if n > len(data) {
			t.Fatalf("golden ledger truncated")
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

func writeGolden(t *testing.T, log [][]byte) {
	var buf bytes.Buffer
	for _, e := range log {
		n := len(e)
		buf.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		buf.Write(e)
	}
	if err := os.MkdirAll(filepath.Dir(goldenLedger), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenLedger, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenDigest pins the digests of the golden ledger. CI also runs it
// cross-compiled for arm64 under qemu: same ledger, same digests.
func TestGoldenDigest(t *testing.T) {
	if *updateGolden {
		// The first goldenModel1Entries entries are the ledger of model 1
		// (bigWorld as it was, then the two example records), kept as
		// they were so that their leaves stay pinned (tree_test.go); the
		// entries of model 2 follow.
		log := readGolden(t)[:goldenModel1Entries]
		writeGolden(t, append(log, encodeAll(t, detectionExample())...))
	}
	log := readGolden(t)
	l := NewLedger()
	for i, e := range log {
		l.Apply(uint64(i+1), e)
		if i+1 == goldenModel1Entries && l.Digest() != goldenModel1Chain {
			t.Fatalf("the model-1 entries chain to %s under model %d, %s under model 1: an entry's outcome changed", l.Digest(),
				ModelVersion, goldenModel1Chain)
		}
	}
	rd, err := l.RecordsDigest(goldenAt)
	if err != nil {
		t.Fatal(err)
	}
	got := [2]string{l.Digest(), rd}
	if *updateGolden {
		t.Logf("model %d: {%q, %q}", ModelVersion, got[0], got[1])
		return
	}
	want, ok := goldenDigests[ModelVersion]
	if !ok {
		t.Fatalf("no golden digests for model version %d: run with -update-golden and pin %v", ModelVersion, got)
	}
	if got != want {
		t.Fatalf("golden ledger (%d entries) gives %v, want %v: scoring results changed — bump ModelVersion and re-pin", len(log), got, want)
	}
	if s := l.Status(); s.Counters.SignalsAccepted == 0 || s.Counters.Rejected == 0 || s.Principals < 60 {
		t.Fatalf("golden ledger exercises too little: %+v", s)
	}
	// The model-2 entries exercise its detections.
	want2 := map[string]string{"user_insider/cumulative_drop": AlertOpen, "user_admin/privilege_burst": AlertOpen,
		"svc_ledger/partner_credential_compromise": AlertRemediated}
	for _, d := range l.Detections(DetectionFilter{}) {
		if st, ok := want2[d.PrincipalID+"/"+d.Type]; ok && st == d.State {
			delete(want2, d.PrincipalID+"/"+d.Type)
		}
	}
	if len(want2) > 0 {
		t.Fatalf("golden ledger lacks the model-2 detections %v", want2)
	}
}

func encodeAll(t *testing.T, cmds []timedCommand) [][]byte {
	var out [][]byte
	for _, c := range cmds {
		d, err := EncodeEntry(c.cmd, ts(t, c.at), "golden")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// The alerts model 1 raised for the golden ledger's model-1 entries, as
// model 1 computed them: every (sequence, alert id, principal) an entry
// raised, and every alert's final (id, principal, type, status).
const (
	goldenModel1Alerts     = "ec0a2e863d26dc7ec5941d8bc9edcd6d9a50e9649530b8fe4ea228c1f10020e5"
	goldenModel1AlertState = "67fc4e1e0769906eabbfb7af2928602401f854a05eb643e4641a53e05201c3a7"
)

// Entries written under model 1 are applied under model 1's detection
// rules and reviews (Entry.Model): they raise the alerts, with the ids,
// that model 1 gave them, so the reviews that name those ids review the
// alerts the operator saw, and the alerts end in the states model 1 left
// them in.
func TestModel1EntriesKeepTheirAlerts(t *testing.T) {
	log := readGolden(t)[:goldenModel1Entries]
	l := NewLedger()
	h := sha256.New()
	for i, e := range log {
		res := l.Apply(uint64(i+1), e)
		for _, a := range res.Alerts {
			fmt.Fprintf(h, "%d %s %s\n", res.Sequence, a.ID, a.PrincipalID)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenModel1Alerts {
		t.Errorf("the model-1 entries raise alerts hashing to %s, model 1 raised %s", got, goldenModel1Alerts)
	}
	h = sha256.New()
	for _, a := range l.Alerts("", "") {
		fmt.Fprintf(h, "%s %s %s %s\n", a.AlertID, a.PrincipalID, a.Type, a.Status)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != goldenModel1AlertState {
		t.Errorf("the model-1 entries leave alerts hashing to %s, model 1 left %s", got, goldenModel1AlertState)
	}
}
