package fsm

// What the SSF transmitter's state answers (transmit.go): streams as their
// receivers see them, the events pending for a stream, delivery targets,
// and the published keys.

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// StreamView is a stream as the API shows it to its receiver. The
// authorization header a push stream sends is never part of it.
type StreamView struct {
	StreamID        string
	Owner           string
	Aud             string
	Method          string
	Endpoint        string
	Requested       []string
	Delivered       []string // events_delivered: requested ∩ supported (all supported when none requested)
	Description     string
	MinVerify       int64 // ms
	Status          string
	Reason          string
	Added, Removed  []string
	Cursor          uint64
	Pending         int // events for the stream still in the outbox
	DeliveredCount  uint64
	Lost            uint64
	Failures        uint32
	LastError       string
	ErrorAt         int64
	LastDeliveryAt  int64
	VerifiedAt      int64
	CreatedAt       int64
	UpdatedAt       int64
	AuthHeaderGiven bool
}

func (l *Ledger) streamView(s *stream) StreamView {
	v := StreamView{StreamID: s.ID, Owner: s.Owner, Aud: s.Aud, Method: s.Method, Endpoint: s.Endpoint,
		Requested: append([]string{}, s.Requested...), Description: s.Description, MinVerify: s.MinVerify,
		Status: s.Status, Reason: s.Reason, Added: append([]string{}, s.Added...), Removed: append([]string{}, s.Removed...),
		Cursor: s.Cursor, DeliveredCount: s.Delivered, Lost: s.Lost, Failures: s.Failures, LastError: s.LastError,
		ErrorAt: s.ErrorAt, LastDeliveryAt: s.DeliverAt, VerifiedAt: s.VerifiedAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
		AuthHeaderGiven: s.AuthHeader != ""}
	if v.MinVerify == 0 {
		v.MinVerify = DefaultMinVerification
	}
	v.Delivered = []string{}
	for _, e := range TransmitEvents {
		if len(s.Requested) == 0 || hasString(s.Requested, e) {
			v.Delivered = append(v.Delivered, e)
		}
	}
	for i := l.outboxIndex(s.Cursor + 1); i < len(l.tx.outbox); i++ {
		if e := &l.tx.outbox[i]; l.wants(s, e) && !hasUint(s.Acked, e.Seq) {
			v.Pending++
		}
	}
	return v
}

// Stream returns a stream.
func (l *Ledger) Stream(id string) (StreamView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.tx.streams[id]
	if s == nil {
		return StreamView{}, false
	}
	return l.streamView(s), true
}

// Streams returns the streams owner created (every stream for owner ""),
// by id.
func (l *Ledger) Streams(owner string) []StreamView {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := []StreamView{}
	for _, id := range l.streamIDs() {
		if s := l.tx.streams[id]; owner == "" || s.Owner == owner {
			out = append(out, l.streamView(s))
		}
	}
	return out
}

// StreamCursor is what a delivery loop needs of a stream, without the
// cost of counting its pending events.
type StreamCursor struct {
	StreamID, Method, Status string
	Cursor                   uint64
	Failures                 uint32
}

// StreamCursors returns every stream's cursor, by id.
func (l *Ledger) StreamCursors() []StreamCursor {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]StreamCursor, 0, len(l.tx.streams))
	for _, id := range l.streamIDs() {
		s := l.tx.streams[id]
		out = append(out, StreamCursor{StreamID: s.ID, Method: s.Method, Status: s.Status, Cursor: s.Cursor, Failures: s.Failures})
	}
	return out
}

// StreamCount returns how many streams exist.
func (l *Ledger) StreamCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.tx.streams)
}

// StreamTarget is where a push delivery sends a stream's SETs: read at
// once, so that an endpoint never gets the header another was given with.
type StreamTarget struct {
	Method, Status, Endpoint, Aud string
	// AuthHeader is the Authorization header value as the ledger holds
	// it (sealed by the API).
	AuthHeader string
	Cursor     uint64
}

// StreamTarget returns stream id's delivery target.
func (l *Ledger) StreamTarget(id string) (StreamTarget, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.tx.streams[id]
	if s == nil {
		return StreamTarget{}, false
	}
	return StreamTarget{Method: s.Method, Status: s.Status, Endpoint: s.Endpoint, Aud: s.Aud, AuthHeader: s.AuthHeader, Cursor: s.Cursor}, true
}

// OutEvent is one event of the outbox, as a SET carries it.
type OutEvent struct {
	// Seq is the event's outbox sequence; JTI the SET's id, the same for
	// every delivery of the event to the stream.
	Seq uint64
	JTI string
	At  int64 // ledger time, ms
	// Type is the event type URI.
	Type        string
	PrincipalID string
	// PrevLevel and Level are trust levels (Levels) for risk-level and
	// assessment events ("" when unknown); PrevAAL and AAL assurance
	// levels (1-3) for assurance events.
	PrevLevel, Level string
	PrevAAL, AAL     int
	Score            int64 // whole points
	// Components is the breakdown (whole points, Categories order).
	Components [NumComponents]int64
	// Reason is the risk reason; State a verification's state; Status
	// and StatusReason a stream-updated event's.
	Reason, State, Status, StatusReason string
	ValidUntil                          int64 // trust-assessment: ms
}

// JTI is the SET id of outbox event seq on stream id.
func JTI(streamID string, seq uint64) string { return streamID + "-" + strconv.FormatUint(seq, 10) }

func outEventView(streamID string, e *outEvent) OutEvent {
	v := OutEvent{Seq: e.Seq, JTI: JTI(streamID, e.Seq), At: e.At, Type: eventTypeURI(e.Type), PrincipalID: e.Principal,
		Score: int64(e.Score)}
	for i, p := range e.Parts {
		v.Components[i] = int64(p)
	}
	level := func(i int8) string {
		if i < 0 || int(i) >= len(Levels) {
			return ""
		}
		return Levels[i]
	}
	switch e.Type {
	case evAssurance:
		v.PrevAAL, v.AAL, v.Reason = int(e.Prev), int(e.Cur), e.Reason
	case evVerification:
		v.State = e.Reason
	case evStreamUpdated:
		v.Status, v.StatusReason, _ = strings.Cut(e.Reason, "\x00")
	default:
		v.PrevLevel, v.Level, v.Reason = level(e.Prev), level(e.Cur), e.Reason
	}
	if e.Type == evAssessment {
		v.ValidUntil = e.At + AssessmentValidity
	}
	return v
}

// PendingEvents returns up to limit events for stream id after its cursor,
// in order, leaving out those a poll acknowledged; through is the outbox
// sequence the scan reached (a push delivery that sends them all reports
// it as StreamDelivery.Through, so that events not for the stream are
// passed too), and more says whether events remain after them.
func (l *Ledger) PendingEvents(id string, limit int) (events []OutEvent, through uint64, more bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.tx.streams[id]
	if s == nil {
		return nil, 0, false
	}
	through = s.Cursor
	for i := l.outboxIndex(s.Cursor + 1); i < len(l.tx.outbox); i++ {
		e := &l.tx.outbox[i]
		if !l.wants(s, e) || hasUint(s.Acked, e.Seq) {
			through = e.Seq
			continue
		}
		if len(events) == limit {
			return events, through, true
		}
		events = append(events, outEventView(s.ID, e))
		through = e.Seq
	}
	// The scan reached the end: every event after the cursor is in the
	// outbox, so the stream is through everything given.
	return events, max(through, l.tx.outSeq), false
}

// OutboxSequence is the last outbox sequence given: a delivery loop
// watches it to wake when there is something new.
func (l *Ledger) OutboxSequence() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tx.outSeq
}

// TransmitterJWKS returns the SET verification keys every node published,
// as one JWKS (nodes by id, each node's keys in its order).
func (l *Ledger) TransmitterJWKS() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ids := make([]string, 0, len(l.tx.keys))
	for id := range l.tx.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	n := 0
	for _, id := range ids {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(l.tx.keys[id].JWKS, &set) != nil {
			continue
		}
		for _, k := range set.Keys {
			if n > 0 {
				b.WriteByte(',')
			}
			b.Write(k)
			n++
		}
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// NodeKeys returns the JWKS node id published, if any.
func (l *Ledger) NodeKeys(id string) ([]byte, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	k := l.tx.keys[id]
	if k == nil {
		return nil, false
	}
	return append([]byte(nil), k.JWKS...), true
}

func hasUint(sorted []uint64, v uint64) bool {
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i] >= v })
	return i < len(sorted) && sorted[i] == v
}
