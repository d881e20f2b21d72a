package chaostest

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// Operation kinds of a history.
const (
	// OpWrite sets a register: PUT /v1/orgs/{key} with the value as the
	// organization's name.
	OpWrite = "write"
	// OpRead reads a register: GET /v1/orgs/{key} at Op.Consistency.
	OpRead = "read"
	// OpSignals sends a batch of signals with fresh event ids (or, on
	// Op.Retry, the same batch again after an unknown outcome).
	OpSignals = "signals"
	// OpResend sends a batch that was acknowledged already: every signal
	// must come back duplicate.
	OpResend = "resend"
)

// Outcomes of an operation.
const (
	// OutcomeOK: the node answered 2xx.
	OutcomeOK = "ok"
	// OutcomeFail: the operation certainly had no effect (refused before
	// anything was proposed).
	OutcomeFail = "fail"
	// OutcomeUnknown: it may or may not have taken effect (timed out,
	// connection lost after sending, outcome-unknown, 5xx).
	OutcomeUnknown = "unknown"
)

// Op is one operation of a history. Times are nanoseconds since the
// history's start, on the monotonic clock.
type Op struct {
	// Client is the client that ran it (-1: the nemesis's probes).
	Client int    `json:"client"`
	Kind   string `json:"kind"`
	// Node is the node the request was sent to; ServedBy the node that
	// answered (X-Trust-Served-By), when known.
	Node     string `json:"node"`
	ServedBy string `json:"servedBy,omitempty"`
	// Key and Value: the register and the value written or read.
	Key         string `json:"key,omitempty"`
	Value       string `json:"value,omitempty"`
	Consistency string `json:"consistency,omitempty"`
	// Batch names a signal batch; Events are its event ids and Statuses
	// what the node answered for each (accepted, duplicate, rejected).
	Batch    string   `json:"batch,omitempty"`
	Events   []string `json:"events,omitempty"`
	Statuses []string `json:"statuses,omitempty"`
	Retry    bool     `json:"retry,omitempty"`
	// Index is the ledger index a write committed at.
	Index   uint64 `json:"index,omitempty"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// History records operations from many goroutines.
type History struct {
	start time.Time

	mu  sync.Mutex
	ops []Op
}

// NewHistory starts an empty history; its clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the history's clock: nanoseconds since it started.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops returns the operations recorded, by call time.
func (h *History) Ops() []Op {
	h.mu.Lock()
	out := append([]Op(nil), h.ops...)
	h.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

// Classify tells what an error of a write means for its outcome:
// OutcomeFail when the write certainly did not happen — the node refused it
// before proposing (4xx, and the 503s not-leader, no-leader, not-ready,
// stale-read, unavailable), or the connection was refused — else
// OutcomeUnknown. Getting this wrong one way only weakens the check (an
// unknown write may be linearized or not); the other way would report a
// violation that is not there, so anything unclear is unknown.
func Classify(err error) string {
	if err == nil {
		return OutcomeOK
	}
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return OutcomeFail
		}
		return OutcomeUnknown
	}
	var ce *client.Error
	if !errors.As(err, &ce) {
		return OutcomeUnknown // a timeout, or a cancelled request
	}
	switch {
	case ce.StatusCode >= 400 && ce.StatusCode < 500:
		return OutcomeFail
	case ce.StatusCode == http.StatusServiceUnavailable:
		switch problemName(ce.Problem.Type) {
		case "not-leader", "no-leader", "not-ready", "stale-read", "unavailable":
			return OutcomeFail
		}
	}
	return OutcomeUnknown
}

// problemName is the last segment of a problem type URI
// (".../problems/not-leader" → "not-leader").
func problemName(uri string) string {
	for i := len(uri) - 1; i >= 0; i-- {
		if uri[i] == '/' {
			return uri[i+1:]
		}
	}
	return uri
}

// errText is err's text, "" for nil; with the leader a not-leader
// problem names.
func errText(err error) string {
	if err == nil {
		return ""
	}
	var ce *client.Error
	if errors.As(err, &ce) && (ce.Problem.LeaderID != "" || ce.Problem.LeaderAddr != "") {
		return fmt.Sprintf("%v [leaderId %q, leaderAddr %q]", err, ce.Problem.LeaderID, ce.Problem.LeaderAddr)
	}
	return err.Error()
}
