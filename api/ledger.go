package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/trustledger/trustledger/cluster"
)

// entryPage builds a page of ledger entries: the entries, and "next" (the
// sequence to pass as after=) when the page is full.
func entryPage(entries []cluster.LedgerEntry, limit int, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range extra {
		out[k] = v
	}
	if entries == nil {
		entries = []cluster.LedgerEntry{}
	}
	out["entries"] = entries
	if len(entries) > 0 && len(entries) >= limit {
		out["next"] = entries[len(entries)-1].Sequence
	}
	return out
}

func (s *Server) ledgerEntries(w http.ResponseWriter, r *http.Request) {
	after, limit, err := pageParams(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entries, err := s.node.Entries(after, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entryPage(entries, limit, nil))
}

// ledgerStream serves ledger entries as server-sent events: first the
// entries after ?after= (or the Last-Event-ID header) from the archive,
// then live entries as they are applied. Each event has the entry's
// sequence as its id, "entry" as its type and the entry as JSON data. A
// client that falls too far behind is disconnected and resumes with
// Last-Event-ID.
func (s *Server) ledgerStream(w http.ResponseWriter, r *http.Request) {
	after, replay, err := streamStart(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	live, unsubscribe := s.node.Subscribe()
	defer unsubscribe()
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	s.setReadHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	// last is the sequence of the last entry sent; once tracking, a gap
	// between it and a live entry is filled from the archive.
	last, tracking := after, replay
	send := func(e cluster.LedgerEntry) bool {
		data, err := json.Marshal(e)
		if err != nil {
			return false
		}
		buf := make([]byte, 0, len(data)+48)
		buf = append(buf, "id: "...)
		buf = strconv.AppendUint(buf, e.Sequence, 10)
		buf = append(buf, "\nevent: entry\ndata: "...)
		buf = append(buf, data...)
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		last, tracking = e.Sequence, true
		return true
	}
	// catchUp sends archived entries after last, up to upto (0: all).
	catchUp := func(upto uint64) bool {
		for {
			page, err := s.node.Entries(last, 500)
			if err != nil {
				return false
			}
			for _, e := range page {
				if upto != 0 && e.Sequence >= upto {
					return rc.Flush() == nil
				}
				if !send(e) {
					return false
				}
			}
			if len(page) < 500 {
				return rc.Flush() == nil
			}
		}
	}
	if replay && !catchUp(0) {
		return
	}
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done.Done():
			return
		case <-heartbeat.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case e, ok := <-live:
			if !ok {
				return // dropped for falling behind; the client resumes with Last-Event-ID
			}
			if tracking && e.Sequence <= last {
				continue
			}
			if tracking && e.Sequence > last+1 && !catchUp(e.Sequence) {
				return
			}
			if !send(e) || rc.Flush() != nil {
				return
			}
		}
	}
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
	n, perr := strconv.ParseUint(v, 10, 64)
	if perr != nil {
		return 0, false, withCode(newProblem(ProblemInvalidParameter, field, "%s: must be a ledger sequence number, got %q",
			field, v), "invalid")
	}
	return n, true, nil
}
