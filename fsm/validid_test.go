package fsm

import (
	"strings"
	"testing"
)

// ValidID, the rule for new input, refuses dot-only ids and anything
// outside the ASCII identifier set (control characters, bidi controls,
// non-ASCII, invalid UTF-8).
func TestValidID(t *testing.T) {
	t.Parallel()
	good := []string{"alice", "a.b", ".a", "a.", "..a", "a..", "x:y@z", "A-Z_0-9", strings.Repeat("x", MaxIDLen), "-", "@"}
	for _, s := range good {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false, want true", s)
		}
	}
	bad := []string{"", ".", "..", "...", strings.Repeat(".", MaxIDLen), strings.Repeat("x", MaxIDLen+1),
		"a b", "a\x1b[2J", "a\tb", "a\nb", "\x00", "a\x7f", "a\u0085", "a\u202e", "a\u2066", "a\u200f", "zoë", "a\xff", "a/b", "a\\b"}
	for _, s := range bad {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true, want false", s)
		}
	}
}

// Apply keeps the rule ledgers were written under: an entry with a
// dot-only id, written before ValidID refused them, still applies on
// replay, so every node and version derives the same state from it.
func TestApplyKeepsLedgerIDRule(t *testing.T) {
	t.Parallel()
	l := NewLedger()
	for i, id := range []string{"..", "..."} {
		d, err := EncodeEntry(&RegisterPrincipal{PrincipalID: id, PrincipalType: "user"}, t0, "test")
		if err != nil {
			t.Fatal(err)
		}
		if r := l.Apply(uint64(i+1), d); r.Err != nil {
			t.Fatalf("replaying a registration of %q: %v", id, r.Err)
		}
		if !l.Has(id) {
			t.Fatalf("principal %q was not registered", id)
		}
	}
	d, err := EncodeEntry(&RegisterPrincipal{PrincipalID: "a\x1b", PrincipalType: "user"}, t0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Apply(3, d); r.Err == nil {
		t.Fatal("Apply accepted a principal id with a control character")
	}
}
