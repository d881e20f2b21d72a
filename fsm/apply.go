package fsm

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
)

// SignalResult is the outcome of one signal in a batch.
type SignalResult struct {
	EventID string `json:"eventId"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// SignalStatus values in per-signal results.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// Result is the outcome of applying one ledger entry.
type Result struct {
	Index    uint64
	Sequence uint64
	Time     int64
	Kind     Kind
	// Err is set when the entry was rejected; the state did not change
	// (apart from the digest, sequence and ledger time).
	Err error
	// Signals holds per-signal results of a RecordSignals entry, and the
	// single result of a RecordAssessment entry.
	Signals []SignalResult
	// ID is the identifier the entry created (endorsement, modifier).
	ID string
	// Subjects are the principal ids the entry touched, sorted; for a
	// rejected entry, those whose expired endorsements or modifiers it
	// dropped before its check failed (commandSpec.tidy).
	Subjects []string
	// Alerts are the alerts the entry raised, in the order it raised them.
	Alerts []RaisedAlert
}

// RaisedAlert names an alert an entry raised and the principal it is about.
type RaisedAlert struct {
	ID          string `json:"id" msgpack:"i"`
	PrincipalID string `json:"principalId" msgpack:"p"`
}

// RejectError is a deterministic rejection of a ledger entry, naming the
// field at fault.
type RejectError struct {
	Field  string
	Reason string
	// Code is a stable machine-readable code: "invalid", "not_found",
	// "conflict", "forbidden" (the token was revoked) or "scope" (outside
	// the token's organizations).
	Code string
}

func (e *RejectError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func reject(field, code, format string, a ...any) error {
	return rejection(field, code, format, a...)
}

// rejection is reject as the concrete type.
func rejection(field, code, format string, a ...any) *RejectError {
	return &RejectError{Field: field, Code: code, Reason: fmt.Sprintf(format, a...)}
}

// Apply applies one ledger entry at Raft index. It never panics: an entry
// that cannot be decoded or fails validation is recorded as rejected, the
// same way on every node.
//
// Each command is checked before anything changes (its row's check in
// commandTable, the same function Ledger.Check runs), then applied by a
// mutation that cannot fail, so a rejected entry changes nothing but the
// sequence, the digest chain, ledger time and the counters.
func (l *Ledger) Apply(index uint64, data []byte) (res *Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index = index
	l.seq++
	res = &Result{Index: index, Sequence: l.seq}
	entry, err := DecodeEntry(data)
	if err == nil {
		if entry.Stamp > l.now {
			l.now = entry.Stamp
		}
		res.Kind = entry.Kind
		l.raised = nil
		l.model = entry.Model
		err = l.applyEntry(entry, res)
		l.model = ModelVersion
		// Every detection raised, in the order raised (the order of
		// their ids).
		res.Alerts = l.raised
		l.raised = nil
	}
	res.Time = l.now
	l.counts.Entries++
	ok := byte(1)
	if err != nil {
		res.Err = err
		l.counts.Rejected++
		ok = 0
	}
	leaf := Leaf(l.seq, l.now, ok == 1, data)
	l.chain(leaf)
	l.appendLeaf(leaf)
	l.sweep()
	return res
}

// applyEntry decodes, checks and applies one entry's command.
func (l *Ledger) applyEntry(e Entry, res *Result) error {
	spec, err := specOf(e.Kind)
	if err != nil {
		return err
	}
	cmd, err := spec.decode(e)
	if err != nil {
		return err
	}
	return l.safeApply(spec, cmd, e.Actor, res)
}

// safeApply checks cmd and, when the check passes, applies it.
func (l *Ledger) safeApply(spec *commandSpec, cmd Command, actor string, res *Result) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// A bug, not an input problem: fail the entry identically on
			// every node rather than crash every node at once. Checks run
			// before any change, so a bug in a check leaves the state
			// untouched; one in a mutation may not.
			err = fmt.Errorf("internal error applying %s: %v", cmd.Kind(), r)
		}
	}()
	r := l.rulesAt(actor, l.now)
	if spec.tidy != nil {
		spec.tidy(l, r, cmd, res)
	}
	if err := r.entry(spec, cmd); err != nil {
		if spec.event != nil {
			res.Signals = []SignalResult{{EventID: spec.event(cmd), Status: StatusRejected, Reason: err.Error()}}
		}
		return err
	}
	spec.apply(l, cmd, actor, res)
	if l.transmitting() {
		// Inside the recover: a bug here fails the entry on every node
		// alike rather than crash them.
		l.deriveEvents(res.Subjects)
	}
	return nil
}

// chain folds an entry's leaf (tree.go: sequence, ledger time, outcome
// and the entry's bytes) into the running digest.
func (l *Ledger) chain(leaf []byte) {
	h := sha256.New()
	h.Write(l.digest[:])
	h.Write(leaf)
	h.Sum(l.digest[:0])
}

// ValidID reports whether s is an acceptable identifier for new input:
// 1 to MaxIDLen characters of ASCII letters, digits and - _ . : @, and not
// dots only ("." and ".." are path segments that URL handling removes or
// resolves, so such an id could be written but never addressed; "..." and
// longer are refused with them). Every id from outside — in a request, a
// SET subject, a node id — is checked with it before it is proposed.
func ValidID(s string) bool {
	return validLedgerID(s) && strings.Trim(s, ".") != ""
}

// validLedgerID is the identifier rule Apply enforces: the character set
// and length only. Ledgers written before dot-only ids were refused may
// hold one, and replaying them must give the same state on every node and
// version, so Apply keeps the rule those entries were written under; the
// stricter ValidID is applied before proposing.
func validLedgerID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '@':
		default:
			return false
		}
	}
	return true
}

func checkID(field, s string) error {
	if !validLedgerID(s) {
		return reject(field, "invalid", "must be 1-%d characters of letters, digits and - _ . : @", MaxIDLen)
	}
	return nil
}

func checkScore(field string, o Opt) error {
	if o.Set && (o.V < 0 || o.V > pts(100)) {
		return reject(field, "invalid", "must be within [0, 100]")
	}
	return nil
}

func checkRate(field string, o Opt) error {
	if o.Set && (o.V < 0 || o.V > pts(100)) {
		return reject(field, "invalid", "must be within [0, 100] points per hour")
	}
	return nil
}

func optOr(o Opt, d int64) int64 {
	if o.Set {
		return o.V
	}
	return d
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
