package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/fsm"
)

// entryPage builds a page of ledger entries: the entries, and "next" (the
// sequence to pass as after=) when the page is full.
func entryPage(entries []cluster.LedgerEntry, limit int, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range extra {
		out[k] = v
	}
	out["entries"] = entryViews(entries)
	if len(entries) > 0 && len(entries) >= limit {
		out["next"] = entries[len(entries)-1].Sequence
	}
	return out
}

func (s *Server) ledgerEntries(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	entries, err := s.node.Entries(after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, entryPage(entries, limit, nil))
	return nil
}

// Stream timings.
const (
	// streamTokenCheck is how often a stream checks that its token is
	// still valid on this node (it also checks on every revoke_token
	// entry it sees).
	streamTokenCheck = time.Second
	// streamWriteTimeout bounds each write of a stream: a client that
	// stops reading is disconnected, and its slot freed, after it.
	streamWriteTimeout = time.Minute
	// streamRetryAfter is the Retry-After, in seconds, of a stream
	// refused over a cap.
	streamRetryAfter = 5
)

// ledgerStream serves ledger entries as server-sent events: first the
// entries after ?after= (or the Last-Event-ID header) from the archive,
// then live entries as they are applied. Each event has the entry's
// sequence as its id, "entry" as its type and the entry as JSON data. A
// client that falls too far behind is disconnected and resumes with
// Last-Event-ID. A token has at most Config.MaxStreamsPerToken streams
// open and the node at most Config.MaxStreamsPerNode; a stream ends
// when its token is revoked or removed.
func (s *Server) ledgerStream(w http.ResponseWriter, r *http.Request) error {
	after, replay, err := streamStart(r)
	if err != nil {
		return err
	}
	st, release, err := s.openStream(w, r)
	if err != nil {
		return err
	}
	defer release()
	live, unsubscribe := s.node.Subscribe()
	defer unsubscribe()
	st.last, st.tracking = after, replay
	if !st.start() {
		return nil
	}
	if replay && !st.catchUp(0) {
		return nil
	}
	st.follow(live)
	return nil
}

// entryStream is one server-sent event stream of ledger entries.
type entryStream struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	rc  *http.ResponseController
	tok fsm.Token
	// last is the sequence of the last entry sent; once tracking, a gap
	// between it and a live entry is filled from the archive.
	last     uint64
	tracking bool
}

// Each write has its own deadline instead of the server's write timeout,
// which a stream outlives.
func (st *entryStream) write(b []byte) bool {
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	_, err := st.w.Write(b)
	return err == nil
}

func (st *entryStream) flush() bool {
	_ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	return st.rc.Flush() == nil
}

// tokenValid reports whether the stream's token is still valid on this node.
func (st *entryStream) tokenValid() bool {
	cur, ok := st.s.ledger().Token(st.tok.ID)
	return ok && !cur.Revoked && bytes.Equal(cur.Hash, st.tok.Hash)
}

// start writes the response headers.
func (st *entryStream) start() bool {
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	st.s.setReadHeaders(st.w)
	st.w.WriteHeader(http.StatusOK)
	return st.flush()
}

// send writes one entry as an event.
func (st *entryStream) send(e cluster.LedgerEntry) bool {
	data, err := json.Marshal(entryView(e))
	if err != nil {
		return false
	}
	buf := make([]byte, 0, len(data)+48)
	buf = append(buf, "id: "...)
	buf = strconv.AppendUint(buf, e.Sequence, 10)
	buf = append(buf, "\nevent: entry\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if !st.write(buf) {
		return false
	}
	st.last, st.tracking = e.Sequence, true
	return true
}

// catchUp sends archived entries after last, up to upto (0: all).
func (st *entryStream) catchUp(upto uint64) bool {
	for {
		if st.r.Context().Err() != nil || st.s.done.Err() != nil || !st.tokenValid() {
			return false
		}
		page, err := st.s.node.Entries(st.last, 500)
		if err != nil {
			return false
		}
		for _, e := range page {
			if upto != 0 && e.Sequence >= upto {
				return st.flush()
			}
			if !st.send(e) {
				return false
			}
		}
		if len(page) < 500 {
			return st.flush()
		}
	}
}

// follow sends live entries, filling gaps from the archive, with heartbeats
// and token checks, until the client leaves, the server stops, the token is
// no longer valid or live is closed.
func (st *entryStream) follow(live <-chan cluster.LedgerEntry) { pump(st, live, st.sendLive) }

// pump hands what arrives on live to send, with heartbeats and token
// checks, until the client leaves, the server stops, the token is no
// longer valid, send fails or live is closed (a subscriber that fell
// behind: the client resumes).
func pump[T any](st *entryStream, live <-chan T, send func(T) bool) {
	heartbeat := time.NewTicker(st.s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	check := time.NewTicker(streamTokenCheck)
	defer check.Stop()
	for {
		select {
		case <-st.r.Context().Done():
			return
		case <-st.s.done.Done():
			return
		case <-check.C:
			if !st.tokenValid() {
				return
			}
		case <-heartbeat.C:
			if !st.write([]byte(": keep-alive\n\n")) || !st.flush() {
				return
			}
		case v, ok := <-live:
			if !ok || !send(v) {
				return
			}
		}
	}
}

// sendLive sends a live entry unless it was sent already, after any gap before
// it; false ends the stream.
func (st *entryStream) sendLive(e cluster.LedgerEntry) bool {
	if e.Kind == fsm.KindRevokeToken.String() && !st.tokenValid() {
		return false // this stream's token was revoked by this entry
	}
	if st.tracking && e.Sequence <= st.last {
		return true
	}
	if st.tracking && e.Sequence > st.last+1 && !st.catchUp(e.Sequence) {
		return false
	}
	return st.send(e) && st.flush()
}

// drainBody reads and discards a request body the handler has no use
// for (at most limit bytes, under the body deadline), so that it does
// not hold the connection once the response starts.
func drainBody(w http.ResponseWriter, r *http.Request, limit int64) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var p *Problem
		if errors.As(err, &p) {
			return p
		}
		return err
	}
	return nil
}

// streamSlots counts open ledger streams, per token and in all, against
// their caps.
type streamSlots struct {
	mu                    sync.Mutex
	perToken              map[string]int
	total                 int
	maxPerToken, maxTotal int
}

func newStreamSlots(maxPerToken, maxTotal int) *streamSlots {
	return &streamSlots{perToken: map[string]int{}, maxPerToken: maxPerToken, maxTotal: maxTotal}
}

// slotRefusal says why a stream was refused: reason is the metrics
// label, problem the answer.
type slotRefusal struct {
	reason  string
	problem *Problem
}

// acquire takes a slot for a stream of token, or refuses it with a
// rate-limited problem when the token or the node has its cap of
// streams open. release gives the slot back; call it once.
func (l *streamSlots) acquire(token string) (release func(), refused *slotRefusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var p *Problem
	switch {
	case l.perToken[token] >= l.maxPerToken:
		p = withCode(newProblem(ProblemRateLimited, "", "this token has %d ledger streams open on this node, the most it may; "+
			"close one, or retry after %ds", l.maxPerToken, streamRetryAfter), "token_streams")
		refused = &slotRefusal{reason: "token", problem: p}
	case l.total >= l.maxTotal:
		p = withCode(newProblem(ProblemRateLimited, "", "this node has %d ledger streams open, the most it serves; "+
			"use another node, or retry after %ds", l.maxTotal, streamRetryAfter), "node_streams")
		refused = &slotRefusal{reason: "node", problem: p}
	}
	if refused != nil {
		p.retryAfter = streamRetryAfter
		return nil, refused
	}
	l.perToken[token]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.perToken[token]--; l.perToken[token] <= 0 {
				delete(l.perToken, token)
			}
		})
	}, nil
}

// open returns the number of open streams of token and in all.
func (l *streamSlots) open(token string) (ofToken, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perToken[token], l.total
}

// streamStart reads where a stream starts: after the sequence in ?after=
// or Last-Event-ID (replay true), else with the next live entry.
func streamStart(r *http.Request) (after uint64, replay bool, err error) {
	v, field := r.URL.Query().Get("after"), "after"
	if v == "" {
		v, field = r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	}
	if v == "" {
		return 0, false, nil
	}
	n, ok := parseSequence(v)
	if !ok {
		return 0, false, withCode(newProblem(ProblemInvalidParameter, field, "%s: must be a ledger sequence number from 0 to %d",
			field, maxSequence), "invalid")
	}
	return n, true, nil
}

// auditStream serves GET /v1/audit/stream: this node's audit events (the
// OCSF events of its audit log) as server-sent events, from now on, with
// the limits, heartbeats and token checks of the ledger stream. A stream
// that falls behind is ended; the audit log file keeps everything.
func (s *Server) auditStream(w http.ResponseWriter, r *http.Request) error {
	st, release, err := s.openStream(w, r)
	if err != nil {
		return err
	}
	defer release()
	live, unsubscribe := s.audit.subscribe()
	defer unsubscribe()
	if !st.start() {
		return nil
	}
	pump(st, live, func(e []byte) bool {
		buf := make([]byte, 0, len(e)+24)
		buf = append(append(append(buf, "event: audit\ndata: "...), e...), "\n\n"...)
		return st.write(buf) && st.flush()
	})
	return nil
}

// openStream admits a server-sent event stream: the body (if any) read,
// the stream counted against the per-token and per-node caps, and the
// read deadline lifted. release ends what it began.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request) (st *entryStream, release func(), err error) {
	if err := drainBody(w, r, s.cfg.MaxBodyBytes); err != nil {
		return nil, nil, err
	}
	tok := requestInfoFrom(r.Context()).token
	free, refused := s.streams.acquire(tok.ID)
	if refused != nil {
		s.metrics.streamsRefused.WithLabelValues(refused.reason).Inc()
		s.metrics.rateLimited.WithLabelValues(refused.reason + "_streams").Inc()
		return nil, nil, refused.problem
	}
	s.metrics.streams.Inc()
	_ = holdReadDeadline(w, r) // the body, if any, is read: nothing to resume
	st = &entryStream{s: s, w: w, r: r, rc: http.NewResponseController(w), tok: tok}
	return st, func() {
		s.metrics.streams.Dec()
		free()
	}, nil
}
