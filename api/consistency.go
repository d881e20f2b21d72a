package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// Consistency levels of reads (docs/api.md, "Reads").
const (
	ConsistencyDefault      = "default"
	ConsistencyStale        = "stale"
	ConsistencyLinearizable = "linearizable"
)

// Response headers of reads.
const (
	HeaderIndex       = "X-Trust-Index"
	HeaderKnownLeader = "X-Trust-Known-Leader"
	HeaderLastContact = "X-Trust-Last-Contact"
	HeaderEvaluatedAt = "X-Trust-Evaluated-At"
	// HeaderEvaluationClock says where the evaluation time came from:
	// "request" (?at=) or "node" (the serving node's clock).
	HeaderEvaluationClock = "X-Trust-Evaluation-Clock"
)

// prepareRead applies a read's consistency level and blocking parameters,
// then sets the X-Trust-* headers. It runs before the route's handler.
func (s *Server) prepareRead(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if v := q.Get("at"); v != "" {
		if _, err := parseTime(v); err != nil {
			return withCode(newProblem(ProblemInvalidParameter, "at", "at: %v", err), "invalid")
		}
	}
	switch c := q.Get("consistency"); c {
	case "", ConsistencyDefault:
		if !s.node.IsLeader() {
			// A follower forwards these reads (needsLeader); this one
			// cannot (it has no cluster membership), or leadership moved
			// since: name the leader.
			return s.requireLeader()
		}
		// The leader answers under its read lease: no other leader can
		// exist while it holds, and a leader just elected first applies
		// what was committed before its term.
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProposeTimeout)
		err := s.node.LeaseRead(ctx)
		cancel()
		if err != nil {
			return leadershipProblem(err)
		}
	case ConsistencyStale:
		maxStale := s.cfg.DefaultMaxStale
		if v := q.Get("max_stale"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return withCode(newProblem(ProblemInvalidParameter, "max_stale", "max_stale: must be a duration such as 5s, got %q", v), "invalid")
			}
			// A client may ask for fresher data than the node's bound,
			// never for staler.
			maxStale = min(d, maxStale)
		}
		if err := s.checkStaleness(maxStale); err != nil {
			return err
		}
	case ConsistencyLinearizable:
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProposeTimeout)
		err := s.node.VerifyLeader(ctx)
		cancel()
		if err != nil {
			return leadershipProblem(err)
		}
	default:
		return withCode(newProblem(ProblemInvalidParameter, "consistency",
			"consistency: must be default, stale or linearizable, got %q", c), "invalid")
	}
	if err := s.blockingWait(w, r); err != nil {
		return err
	}
	s.setReadHeaders(w)
	return nil
}

// leadershipProblem maps a failed leadership check to a problem.
func leadershipProblem(err error) error {
	var nl *cluster.NotLeaderError
	if errors.As(err, &nl) || errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	p := newProblem(ProblemNotLeader, "", "leadership could not be confirmed: %v", err)
	p.retryAfter = 1
	return p
}

// checkStaleness refuses a stale read on a follower that has not heard
// from the leader within maxStale: the client's max_stale or, at most,
// Config.DefaultMaxStale. Without that bound a follower cut off from the
// leader would go on answering, with tokens revoked since, for as long as
// it stayed cut off.
func (s *Server) checkStaleness(maxStale time.Duration) error {
	if s.node.IsLeader() {
		return nil
	}
	last := s.node.LastContact()
	if !last.IsZero() && s.cfg.Now().Sub(last) <= maxStale {
		return nil
	}
	p := newProblem(ProblemStaleRead, "max_stale", "this node last heard from the leader more than %s ago (max_stale)", maxStale)
	if maxStale == s.cfg.DefaultMaxStale {
		p.Detail = fmt.Sprintf("this node last heard from the leader more than %s ago, its bound for stale reads "+
			"(a larger max_stale does not raise it); read from a node in touch with the leader", maxStale)
	}
	if last.IsZero() {
		p.Detail = "this node has not heard from a leader"
	}
	p.retryAfter = 1
	return p
}

// blockingWait implements ?index=N&wait=D: it returns once the applied
// index passes N, or after D (default cfg.DefaultWait, at most
// cfg.MaxWait). Either way the read is then answered.
func (s *Server) blockingWait(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := q.Get("index")
	if v == "" {
		if q.Get("wait") != "" {
			return withCode(newProblem(ProblemInvalidParameter, "wait", "wait: needs index="), "invalid")
		}
		return nil
	}
	idx, ok := parseSequence(v)
	if !ok {
		return withCode(newProblem(ProblemInvalidParameter, "index", "index: must be a Raft index from 0 to %d", maxSequence), "invalid")
	}
	var err error
	wait := s.cfg.DefaultWait
	if w := q.Get("wait"); w != "" {
		wait, err = time.ParseDuration(w)
		if err != nil || wait < 0 {
			return withCode(newProblem(ProblemInvalidParameter, "wait", "wait: must be a duration such as 30s, got %q", w), "invalid")
		}
	}
	wait = min(wait, s.cfg.MaxWait)
	if s.node.AppliedIndex() > idx || wait == 0 {
		return nil
	}
	// The wait is bounded by MaxWait; the body deadline, if the body is
	// still to be read, resumes after it.
	resume := holdReadDeadline(w, r)
	defer resume()
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	stop := context.AfterFunc(s.done, cancel)
	defer stop()
	if err := s.node.WaitForIndex(ctx, idx+1); err != nil && r.Context().Err() != nil {
		return r.Context().Err()
	}
	return nil
}

// setReadHeaders sets the X-Trust-* headers every read answers with.
func (s *Server) setReadHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderIndex, strconv.FormatUint(s.node.AppliedIndex(), 10))
	leader, _ := s.node.Leader()
	h.Set(HeaderKnownLeader, strconv.FormatBool(leader != ""))
	h.Set(HeaderLastContact, strconv.FormatInt(s.lastContactMS(), 10))
}

// lastContactMS is how long ago, in ms, the node heard from the leader: 0
// on the leader, -1 when it never has.
func (s *Server) lastContactMS() int64 {
	if s.node.IsLeader() {
		return 0
	}
	last := s.node.LastContact()
	if last.IsZero() {
		return -1
	}
	return max(0, s.cfg.Now().Sub(last).Milliseconds())
}

// evalTime returns the time a read evaluates trust at, in Unix ms: ?at=
// when given, else the node's clock. It says which in the response
// headers.
func (s *Server) evalTime(w http.ResponseWriter, r *http.Request) int64 {
	t, clock := s.cfg.Now().UnixMilli(), "node"
	if v := r.URL.Query().Get("at"); v != "" {
		if ms, err := parseTime(v); err == nil {
			t, clock = ms, "request"
		}
	}
	w.Header().Set(HeaderEvaluatedAt, fsm.FormatTime(t))
	w.Header().Set(HeaderEvaluationClock, clock)
	return t
}
