package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// ProblemTypeBase prefixes every problem type URI.
const ProblemTypeBase = "https://trustledger.dev/problems/"

// ProblemKind is one stable kind of problem: its type URI is
// ProblemTypeBase + Slug and it always comes with Status.
type ProblemKind struct {
	Slug   string
	Title  string
	Status int
}

// URI returns the problem type URI.
func (k ProblemKind) URI() string { return ProblemTypeBase + k.Slug }

// The problem kinds the API answers with. Their slugs are stable.
var (
	ProblemMalformedJSON    = ProblemKind{"malformed-json", "Malformed JSON", http.StatusBadRequest}
	ProblemUnknownField     = ProblemKind{"unknown-field", "Unknown field", http.StatusBadRequest}
	ProblemInvalidField     = ProblemKind{"invalid-field", "Invalid field", http.StatusBadRequest}
	ProblemInvalidParameter = ProblemKind{"invalid-parameter", "Invalid query parameter", http.StatusBadRequest}
	ProblemUnauthorized     = ProblemKind{"unauthorized", "Authentication required", http.StatusUnauthorized}
	ProblemForbidden        = ProblemKind{"forbidden", "Forbidden", http.StatusForbidden}
	ProblemTLSRequired      = ProblemKind{"tls-required", "HTTPS required", http.StatusBadRequest}
	ProblemNotFound         = ProblemKind{"not-found", "Not found", http.StatusNotFound}
	ProblemMethodNotAllowed = ProblemKind{"method-not-allowed", "Method not allowed", http.StatusMethodNotAllowed}
	ProblemConflict         = ProblemKind{"conflict", "Conflict", http.StatusConflict}
	ProblemTooLarge         = ProblemKind{"payload-too-large", "Request body too large", http.StatusRequestEntityTooLarge}
	ProblemUnsupportedMedia = ProblemKind{"unsupported-media-type", "Unsupported media type", http.StatusUnsupportedMediaType}
	ProblemRejected         = ProblemKind{"rejected", "Rejected by the ledger", http.StatusUnprocessableEntity}
	ProblemRateLimited      = ProblemKind{"rate-limited", "Too many requests", http.StatusTooManyRequests}
	ProblemNotImplemented   = ProblemKind{"not-implemented", "Not implemented", http.StatusNotImplemented}
	ProblemNotLeader        = ProblemKind{"not-leader", "Not the leader", http.StatusServiceUnavailable}
	ProblemNoLeader         = ProblemKind{"no-leader", "No leader", http.StatusServiceUnavailable}
	ProblemStaleRead        = ProblemKind{"stale-read", "Too stale", http.StatusServiceUnavailable}
	ProblemTimeout          = ProblemKind{"timeout", "Timed out", http.StatusServiceUnavailable}
	ProblemNotReady         = ProblemKind{"not-ready", "Not ready", http.StatusServiceUnavailable}
	ProblemUnavailable      = ProblemKind{"unavailable", "Node unavailable", http.StatusServiceUnavailable}
	ProblemOutcomeUnknown   = ProblemKind{"outcome-unknown", "Outcome unknown", http.StatusServiceUnavailable}
	ProblemInternal         = ProblemKind{"internal", "Internal error", http.StatusInternalServerError}
)

// ProblemKinds lists every problem kind, for documentation and tests.
var ProblemKinds = []ProblemKind{
	ProblemMalformedJSON, ProblemUnknownField, ProblemInvalidField, ProblemInvalidParameter,
	ProblemUnauthorized, ProblemForbidden, ProblemTLSRequired, ProblemNotFound, ProblemMethodNotAllowed, ProblemConflict,
	ProblemTooLarge, ProblemUnsupportedMedia, ProblemRejected, ProblemRateLimited, ProblemNotImplemented, ProblemNotLeader,
	ProblemNoLeader, ProblemStaleRead, ProblemTimeout, ProblemNotReady, ProblemUnavailable, ProblemOutcomeUnknown,
	ProblemInternal,
}

// FieldError is one fault in a request that has several.
type FieldError struct {
	Field  string `json:"field"`
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail"`

	kind ProblemKind // the kind of problem this fault makes on its own
}

// Problem is an RFC 7807 problem document. It is also an error, so
// validation code can return it as is.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Field    string       `json:"field,omitempty"`
	Code     string       `json:"code,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// LeaderID and LeaderAddr name the leader on not-leader problems:
	// its node id and the base URL of its API (empty when unknown here).
	LeaderID   string `json:"leaderId,omitempty"`
	LeaderAddr string `json:"leaderAddr,omitempty"`

	retryAfter    int    // seconds; sets Retry-After when > 0
	authenticate  string // sets WWW-Authenticate when non-empty
	internalCause error  // logged, never shown
}

func (p *Problem) Error() string {
	if p.Field != "" {
		return p.Title + ": " + p.Field + ": " + p.Detail
	}
	return p.Title + ": " + p.Detail
}

// newProblem returns a problem of kind k about field.
func newProblem(k ProblemKind, field, format string, a ...any) *Problem {
	return &Problem{Type: k.URI(), Title: k.Title, Status: k.Status, Field: field, Detail: fmt.Sprintf(format, a...)}
}

func withCode(p *Problem, code string) *Problem {
	p.Code = code
	return p
}

// rejectKinds maps fsm.RejectError codes to problem kinds.
var rejectKinds = map[string]ProblemKind{
	"invalid":   ProblemRejected,
	"not_found": ProblemNotFound,
	"conflict":  ProblemConflict,
	"forbidden": ProblemForbidden,
	"scope":     ProblemForbidden,
	// A stream's verification asked again inside its interval.
	"rate_limited": ProblemRateLimited,
}

// rejectKind is the problem kind of an fsm.RejectError code.
func rejectKind(code string) ProblemKind {
	if k, ok := rejectKinds[code]; ok {
		return k
	}
	return ProblemRejected
}

// problemFor maps any error the handlers meet to a problem. It is the one
// place where typed errors become HTTP answers.
func problemFor(err error) *Problem {
	var (
		p        *Problem
		rej      *fsm.RejectError
		notLead  *cluster.NotLeaderError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &rej):
		return withCode(newProblem(rejectKind(rej.Code), rej.Field, "%s", rej.Reason), rej.Code)
	case errors.As(err, &notLead):
		p := newProblem(ProblemNotLeader, "", "this node is not the leader; send the request to the leader")
		p.LeaderID, p.LeaderAddr, p.retryAfter = notLead.LeaderID, notLead.LeaderAPIAddr, 1
		if p.LeaderID == "" {
			p.Type, p.Title = ProblemNoLeader.URI(), ProblemNoLeader.Title
			p.Detail, p.retryAfter = "the cluster has no leader at the moment; retry shortly", 2
		}
		return p
	case errors.Is(err, cluster.ErrNoLeader):
		p := newProblem(ProblemNoLeader, "", "the cluster has no leader at the moment; retry shortly")
		p.retryAfter = 2
		return p
	case errors.Is(err, cluster.ErrOutcomeUnknown):
		p := newProblem(ProblemOutcomeUnknown, "", "the write was submitted but this node cannot tell whether it "+
			"committed; check the state before retrying (signals with the same eventId are deduplicated)")
		p.retryAfter = 1
		return p
	case errors.Is(err, cluster.ErrClosed):
		p := newProblem(ProblemUnavailable, "", "the node is shutting down; use another node")
		p.retryAfter = 1
		return p
	case errors.Is(err, cluster.ErrInvalidPeer):
		return withCode(newProblem(ProblemInvalidField, "", "%v", err), "invalid")
	case errors.Is(err, cluster.ErrInvalidSnapshot):
		return withCode(newProblem(ProblemInvalidField, "body", "the body is not a trustledger snapshot: %v", err), "invalid")
	case errors.Is(err, cluster.ErrMemberConflict):
		return withCode(newProblem(ProblemConflict, "", "%v", err), "conflict")
	case errors.Is(err, cluster.ErrQuorum):
		return withCode(newProblem(ProblemConflict, "", "%v", err), "quorum")
	case errors.Is(err, cluster.ErrSnapshotBehind):
		return withCode(newProblem(ProblemConflict, "body", "%v; restore an older backup into a new cluster", err), "behind")
	case errors.Is(err, cluster.ErrUnknownMember):
		return withCode(newProblem(ProblemNotFound, "", "%v", err), "not_found")
	case errors.As(err, &tooLarge):
		return newProblem(ProblemTooLarge, "", "the request body exceeds %d bytes", tooLarge.Limit)
	case errors.Is(err, context.DeadlineExceeded):
		p := newProblem(ProblemTimeout, "", "the operation did not finish in time")
		p.retryAfter = 1
		return p
	}
	p = newProblem(ProblemInternal, "", "an internal error occurred; the server log has the details")
	p.internalCause = err
	return p
}

// fail writes err as a problem document.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err)
	if p.internalCause != nil {
		s.log.Error("request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Any("err", p.internalCause))
	}
	writeProblem(w, r, p)
}

func writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	out := *p
	if out.Instance == "" {
		// Escaped: a path may carry characters a terminal would act on.
		out.Instance = r.URL.EscapedPath()
	}
	h := w.Header()
	if out.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(out.retryAfter))
	}
	if out.authenticate != "" {
		h.Set("WWW-Authenticate", out.authenticate)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(out.Status)
	_ = json.NewEncoder(w).Encode(&out)
}

// fieldErrors collects the faults of one request so all of them are
// reported at once.
type fieldErrors struct {
	list []FieldError
}

func (f *fieldErrors) add(field, code, format string, a ...any) {
	f.list = append(f.list, FieldError{Field: field, Code: code, Detail: fmt.Sprintf(format, a...), kind: ProblemInvalidField})
}

// invalid records an invalid value.
func (f *fieldErrors) invalid(field, format string, a ...any) { f.add(field, "invalid", format, a...) }

// required records a missing value.
func (f *fieldErrors) required(field string) { f.add(field, "required", "is required") }

// merge adds the faults of err (a problem from a nested decode) to f.
func (f *fieldErrors) merge(err error) {
	p := problemFor(err)
	if len(p.Errors) > 0 {
		f.list = append(f.list, p.Errors...)
		return
	}
	k := ProblemInvalidField
	for _, c := range ProblemKinds {
		if c.URI() == p.Type {
			k = c
		}
	}
	f.list = append(f.list, FieldError{Field: p.Field, Code: p.Code, Detail: strings.TrimPrefix(p.Detail, p.Field+": "), kind: k})
}

// ok reports whether no fault was recorded.
func (f *fieldErrors) ok() bool { return len(f.list) == 0 }

// err returns nil or an invalid-field problem naming the first fault and
// listing all of them.
func (f *fieldErrors) err() error {
	if len(f.list) == 0 {
		return nil
	}
	first := f.list[0]
	if first.kind.Slug == "" {
		first.kind = ProblemInvalidField
	}
	p := withCode(newProblem(first.kind, first.Field, "%s", first.Detail), first.Code)
	if first.Field != "" {
		p.Detail = first.Field + ": " + first.Detail
	}
	if len(f.list) > 1 {
		p.Detail += fmt.Sprintf(" (and %d more; see errors)", len(f.list)-1)
		p.Errors = f.list
	}
	return p
}

// retryLater sets p's Retry-After to seconds (every 503 carries one).
func retryLater(p *Problem, seconds int) *Problem {
	p.retryAfter = seconds
	return p
}
