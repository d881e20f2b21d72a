package fsm

// The SSF transmitter's replicated state (docs/federation.md, "trustledger
// as a transmitter"): the streams receivers created, the outbox of events
// the ledger derived for them, and the public keys the nodes sign SETs
// with. The outbox is ledger state like any other: every node derives the
// same events at the same sequence numbers from the same entries, so a new
// leader delivers from the streams' cursors without losing or inventing an
// event; only a stream's cursor moves when a receiver has its events.

import (
	"maps"
	"sort"
	"strconv"
	"strings"
)

// Event type URIs the transmitter sends.
const (
	caepEvent = "https://schemas.openid.net/secevent/caep/event-type/"
	riscEvent = "https://schemas.openid.net/secevent/risc/event-type/"
	ssfEvent  = "https://schemas.openid.net/secevent/ssf/event-type/"

	EventRiskLevelChange      = caepEvent + "risk-level-change"
	EventAssuranceLevelChange = caepEvent + "assurance-level-change"
	EventSessionRevoked       = caepEvent + "session-revoked"
	EventAccountDisabled      = riscEvent + "account-disabled"
	EventAccountEnabled       = riscEvent + "account-enabled"
	// EventTrustAssessment is trustledger's own numeric assessment.
	EventTrustAssessment = "https://trustledger.dev/secevent/trust-assessment"
	// EventVerification and EventStreamUpdated are SSF's own events: a
	// stream gets them whatever it requested.
	EventVerification  = ssfEvent + "verification"
	EventStreamUpdated = ssfEvent + "stream-updated"
)

// TransmitEvents are the event types a stream may request, in the order
// of outEvent.Type (1-based): events_supported.
var TransmitEvents = []string{EventRiskLevelChange, EventAssuranceLevelChange, EventSessionRevoked,
	EventAccountDisabled, EventAccountEnabled, EventTrustAssessment}

// Outbox event types: indexes into TransmitEvents plus one, then SSF's own.
const (
	evRiskLevel uint8 = iota + 1
	evAssurance
	evSessionRevoked
	evDisabled
	evEnabled
	evAssessment
	evVerification
	evStreamUpdated
)

func eventTypeURI(t uint8) string {
	switch {
	case t >= evRiskLevel && int(t) <= len(TransmitEvents):
		return TransmitEvents[t-1]
	case t == evVerification:
		return EventVerification
	case t == evStreamUpdated:
		return EventStreamUpdated
	}
	return ""
}

// Delivery methods (SSF §8.1.1, RFC 8935 and RFC 8936) and stream states.
const (
	DeliveryPush = "urn:ietf:rfc:8935"
	DeliveryPoll = "urn:ietf:rfc:8936"

	StreamEnabled  = "enabled"
	StreamPaused   = "paused"
	StreamDisabled = "disabled"
)

// RoleReceiver manages SSF streams: a token of the role creates streams and
// manages only its own.
const RoleReceiver = "receiver"

// Transmitter limits.
const (
	// MaxStreams is how many streams the cluster keeps, MaxStreamsPerOwner
	// how many one receiver token may create.
	MaxStreams         = 1_000
	MaxStreamsPerOwner = 16
	// MaxStreamSubjects bounds the subjects a stream names (added and
	// removed together).
	MaxStreamSubjects = 10_000
	// MaxOutbox is how many events the outbox holds: events no stream still
	// needs are dropped first; when a stream paused or failing holds the
	// outbox full, its oldest events are dropped and counted as lost.
	MaxOutbox = 100_000
	// MaxPollAcks bounds a poll stream's acknowledgements kept beyond its
	// cursor.
	MaxPollAcks = 4_096
	// MaxURLLen bounds endpoint URLs.
	MaxURLLen = 2048
	// AssessmentDelta is the score change (whole points) since the last
	// trust-assessment event about a principal that sends a new one even
	// when the level did not change; AssessmentValidity is the validUntil
	// of the events, counted from their time.
	AssessmentDelta    = 5
	AssessmentValidity = 24 * hourMS
	// DefaultMinVerification is the least time between two verification
	// requests of a stream (SSF min_verification_interval), in ms.
	DefaultMinVerification = 60_000
	// MinVerification is the least time between two verifications of a
	// stream, whatever its min_verification_interval says.
	MinVerification = 10_000
)

// CAEPLevels maps the trust levels, in Levels order, onto CAEP's risk
// levels: the less trust, the more risk.
var CAEPLevels = [5]string{"HIGH", "HIGH", "MEDIUM", "LOW", "LOW"}

// stream is one SSF stream. Streams are replaced, never changed in place,
// so a snapshot's clone of the map is enough.
type stream struct {
	ID          string
	Owner       string // the receiver token that created it
	Aud         string
	Method      string // DeliveryPush or DeliveryPoll
	Endpoint    string // push: the receiver's endpoint
	AuthHeader  string // push: the Authorization header the receiver asked for
	Requested   []string
	Description string
	MinVerify   int64 // ms
	Status      string
	Reason      string
	Added       []string // principal ids added (sorted)
	Removed     []string // principal ids removed (sorted)
	// Cursor is the outbox sequence the receiver has every event through;
	// Acked are poll acknowledgements beyond it (sorted).
	Cursor uint64
	Acked  []uint64
	// Delivery bookkeeping.
	Delivered  uint64 // SETs acknowledged
	Lost       uint64 // events dropped before delivery (outbox full)
	Failures   uint32 // consecutive failed deliveries
	LastError  string
	ErrorAt    int64
	DeliverAt  int64 // last successful delivery
	VerifiedAt int64 // last verification requested
	CreatedAt  int64
	UpdatedAt  int64
}

// outEvent is one event of the outbox, derived from the ledger.
type outEvent struct {
	Seq       uint64
	At        int64
	Type      uint8
	Principal string
	// Prev and Cur are levels (indexes of Levels) for risk and assessment
	// events, assurance levels (1-3) for assurance events; Prev is -1 when
	// unknown.
	Prev, Cur int8
	Score     int16
	Parts     [NumComponents]int16
	// Reason is the risk reason, the verification state or the stream
	// status reason.
	Reason string
	// Stream, when set, is the only stream the event is for (verification,
	// stream-updated).
	Stream string
}

// toldState is what the streams were last told of a principal.
type toldState struct {
	ID          string
	Level       int8
	AAL         int8
	Score       int16
	Inactive    bool
	Compromised bool
}

// nodeKeys are one node's published SET verification keys (public JWKs).
type nodeKeys struct {
	NodeID    string
	JWKS      []byte
	UpdatedAt int64
}

// transmitter is the transmitter's part of the ledger.
type transmitter struct {
	streams map[string]*stream
	// outbox holds events in sequence order; outSeq is the last sequence
	// given. Events are never changed once appended: a snapshot shares the
	// slice.
	outbox []outEvent
	outSeq uint64
	// told is what the streams were last told of each principal.
	told toldTable
	keys map[string]*nodeKeys
	// live counts the streams not disabled (derived: recount).
	live int
}

// recount recounts the streams that take events.
func (t *transmitter) recount() {
	t.live = 0
	for _, s := range t.streams {
		if s.Status != StreamDisabled {
			t.live++
		}
	}
}

func newTransmitter() transmitter {
	return transmitter{streams: map[string]*stream{}, keys: map[string]*nodeKeys{}, told: newToldTable()}
}

// toldShards is the number of copy-on-write shards of the told table: a
// snapshot shares them, and the first change to one after it clones that
// shard alone.
const toldShards = 256

type toldShard struct {
	gen uint64
	m   map[string]toldState
}

// toldTable is a value: copying it copies the shard pointers.
type toldTable struct {
	shards [toldShards]*toldShard
	n      int
}

func newToldTable() toldTable {
	var t toldTable
	for i := range t.shards {
		t.shards[i] = &toldShard{m: map[string]toldState{}}
	}
	return t
}

func (t *toldTable) get(id string) (toldState, bool) {
	st, ok := t.shards[shardOf(id)&(toldShards-1)].m[id]
	return st, ok
}

func (t *toldTable) set(gen uint64, st toldState) {
	i := shardOf(st.ID) & (toldShards - 1)
	sh := t.shards[i]
	if sh.gen != gen {
		sh = &toldShard{gen: gen, m: maps.Clone(sh.m)}
		t.shards[i] = sh
	}
	if _, ok := sh.m[st.ID]; !ok {
		t.n++
	}
	sh.m[st.ID] = st
}

// each calls fn for every state, in no particular order.
func (t *toldTable) each(fn func(toldState)) {
	for _, sh := range t.shards {
		for _, st := range sh.m {
			fn(st)
		}
	}
}

func (t *toldTable) setGen(gen uint64) {
	for _, sh := range t.shards {
		sh.gen = gen
	}
}

// ---- commands ---------------------------------------------------------

// Stream configuration fields a PutStream sets (StreamSet bits).
const (
	StreamSetAud uint16 = 1 << iota
	StreamSetDelivery
	StreamSetRequested
	StreamSetDescription
	StreamSetMinVerify
)

// PutStream creates, updates or replaces a stream (SSF §8.1.1): Op is
// "create", "update" (the fields Set names) or "replace" (every field).
type PutStream struct {
	StreamID    string
	Op          string
	Set         uint16
	Aud         string
	Method      string
	Endpoint    string
	AuthHeader  string `view:"authorizationHeader,redacted"`
	Requested   []string
	Description string
	MinVerify   int64 // ms; 0: the default
}

// DeleteStream deletes a stream.
type DeleteStream struct {
	StreamID string
}

// SetStreamStatus changes a stream's status (enabled, paused, disabled).
type SetStreamStatus struct {
	StreamID string
	Status   string
	Reason   string
}

// StreamSubject adds a subject to a stream, or removes it.
type StreamSubject struct {
	StreamID    string
	PrincipalID string
	Remove      bool
}

// VerifyStream asks for a verification event carrying State.
type VerifyStream struct {
	StreamID string
	State    string
}

// StreamDelivery records what a delivery did: Through is the outbox
// sequence the receiver now has every event through (push), Acks the
// sequences a poll acknowledged; Error, when set, a failed attempt.
type StreamDelivery struct {
	StreamID  string
	Through   uint64
	Acks      []uint64
	Delivered uint64 // SETs this report covers
	Error     string
}

// PublishKeys publishes a node's SET verification keys (a public JWKS) and
// drops the keys of nodes not in Members (the voters and replicas of the
// Raft configuration, as the leader sees it; empty: drop none).
type PublishKeys struct {
	NodeID  string
	JWKS    []byte
	Members []string
}

func (PutStream) Kind() Kind       { return KindPutStream }
func (DeleteStream) Kind() Kind    { return KindDeleteStream }
func (SetStreamStatus) Kind() Kind { return KindSetStreamStatus }
func (StreamSubject) Kind() Kind   { return KindStreamSubject }
func (VerifyStream) Kind() Kind    { return KindVerifyStream }
func (StreamDelivery) Kind() Kind  { return KindStreamDelivery }
func (PublishKeys) Kind() Kind     { return KindPublishKeys }

// ---- checks -----------------------------------------------------------

// ownStream returns the stream id names when the actor may manage it: its
// owner, or an admin.
func (r *rules) ownStream(id string) (*stream, error) {
	s := r.l.tx.streams[id]
	if s == nil {
		return nil, reject("stream_id", "not_found", "no stream %q", id)
	}
	if s.Owner != r.actor {
		if t := r.l.tokens[r.actor]; t == nil || t.Role != RoleAdmin {
			// Another receiver's stream is as good as absent.
			return nil, reject("stream_id", "not_found", "no stream %q", id)
		}
	}
	return s, nil
}

func (r *rules) putStream(c *PutStream) error {
	if !validLedgerID(c.StreamID) {
		return reject("stream_id", "invalid", "must be 1-%d characters of letters, digits and - _ . : @", MaxIDLen)
	}
	switch c.Op {
	case "create":
		if r.l.tx.streams[c.StreamID] != nil {
			return reject("stream_id", "conflict", "stream %q exists", c.StreamID)
		}
		if len(r.l.tx.streams) >= MaxStreams {
			return reject("stream_id", "conflict", "the cluster holds %d streams, its limit", MaxStreams)
		}
		if r.streamsOf(r.actor) >= MaxStreamsPerOwner {
			return reject("stream_id", "conflict", "a receiver may create at most %d streams; delete one first", MaxStreamsPerOwner)
		}
		c.Set = ^uint16(0)
	case "replace":
		if _, err := r.ownStream(c.StreamID); err != nil {
			return err
		}
		c.Set = ^uint16(0)
	case "update":
		if _, err := r.ownStream(c.StreamID); err != nil {
			return err
		}
	default:
		return reject("op", "invalid", "must be create, update or replace")
	}
	return checkStreamFields(c)
}

// streamsOf counts the streams owner created.
func (r *rules) streamsOf(owner string) int {
	n := 0
	for _, s := range r.l.tx.streams {
		if s.Owner == owner {
			n++
		}
	}
	return n
}

func checkStreamFields(c *PutStream) error {
	if c.Set&StreamSetAud != 0 && len(c.Aud) > MaxTextLen {
		return reject("aud", "invalid", "must be at most %d bytes", MaxTextLen)
	}
	if c.Set&StreamSetDelivery != 0 {
		switch c.Method {
		case DeliveryPush:
			if c.Endpoint == "" || len(c.Endpoint) > MaxURLLen {
				return reject("delivery.endpoint_url", "invalid", "push delivery needs an endpoint_url of 1-%d bytes", MaxURLLen)
			}
		case DeliveryPoll:
			if c.Endpoint != "" || c.AuthHeader != "" {
				return reject("delivery.endpoint_url", "invalid", "poll delivery takes no endpoint_url or authorization_header: the transmitter gives the endpoint")
			}
		default:
			return reject("delivery.method", "invalid", "must be %s (push) or %s (poll)", DeliveryPush, DeliveryPoll)
		}
		if len(c.AuthHeader) > MaxTextLen*4 {
			return reject("delivery.authorization_header", "invalid", "must be at most %d bytes", MaxTextLen*4)
		}
	}
	if c.Set&StreamSetRequested != 0 {
		if len(c.Requested) > 64 {
			return reject("events_requested", "invalid", "at most 64 event types")
		}
		for _, e := range c.Requested {
			if e == "" || len(e) > MaxTextLen {
				return reject("events_requested", "invalid", "event types are URIs of 1-%d bytes", MaxTextLen)
			}
		}
	}
	if c.Set&StreamSetDescription != 0 && len(c.Description) > MaxTextLen {
		return reject("description", "invalid", "must be at most %d bytes", MaxTextLen)
	}
	if c.Set&StreamSetMinVerify != 0 && (c.MinVerify < 0 || c.MinVerify > 7*24*hourMS) {
		return reject("min_verification_interval", "invalid", "must be within [0, 604800] seconds")
	}
	return nil
}

func (r *rules) deleteStream(c *DeleteStream) error {
	_, err := r.ownStream(c.StreamID)
	return err
}

func (r *rules) setStreamStatus(c *SetStreamStatus) error {
	if _, err := r.ownStream(c.StreamID); err != nil {
		return err
	}
	switch c.Status {
	case StreamEnabled, StreamPaused, StreamDisabled:
	default:
		return reject("status", "invalid", "must be enabled, paused or disabled")
	}
	if len(c.Reason) > MaxTextLen {
		return reject("reason", "invalid", "must be at most %d bytes", MaxTextLen)
	}
	return nil
}

func (r *rules) streamSubject(c *StreamSubject) error {
	s, err := r.ownStream(c.StreamID)
	if err != nil {
		return err
	}
	if !ValidID(c.PrincipalID) {
		return reject("subject", "invalid", "does not name a principal id (1-%d characters of letters, digits and - _ . : @)", MaxIDLen)
	}
	if hasString(s.Added, c.PrincipalID) || hasString(s.Removed, c.PrincipalID) || len(s.Added)+len(s.Removed) < MaxStreamSubjects {
		return nil
	}
	return reject("subject", "conflict", "a stream names at most %d subjects", MaxStreamSubjects)
}

func (r *rules) verifyStream(c *VerifyStream) error {
	s, err := r.ownStream(c.StreamID)
	if err != nil {
		return err
	}
	if len(c.State) > MaxTextLen {
		return reject("state", "invalid", "must be at most %d bytes", MaxTextLen)
	}
	interval := s.MinVerify
	if interval == 0 {
		interval = DefaultMinVerification
	}
	// Verification events fill the outbox every stream shares: however
	// short a stream asks, not more than one per MinVerification.
	interval = max(interval, MinVerification)
	if s.VerifiedAt != 0 && r.now < s.VerifiedAt+interval {
		return reject("stream_id", "rate_limited", "verification was requested at %s; the stream's min_verification_interval is %d s",
			FormatTime(s.VerifiedAt), interval/1000)
	}
	return nil
}

func (r *rules) streamDelivery(c *StreamDelivery) error {
	s := r.l.tx.streams[c.StreamID]
	if s == nil {
		return reject("stream_id", "not_found", "no stream %q", c.StreamID)
	}
	if t := r.l.tokens[r.actor]; t != nil {
		// A receiver acknowledging a poll: its own streams only. The
		// leader reports push deliveries as a node, which is no token.
		if _, err := r.ownStream(c.StreamID); err != nil {
			return err
		}
	}
	switch {
	case c.Through > r.l.tx.outSeq:
		return reject("through", "invalid", "beyond the outbox (sequence %d)", r.l.tx.outSeq)
	case len(c.Acks) > MaxPollAcks:
		return reject("acks", "invalid", "at most %d acknowledgements", MaxPollAcks)
	case len(c.Error) > MaxTextLen:
		return reject("error", "invalid", "must be at most %d bytes", MaxTextLen)
	}
	for _, a := range c.Acks {
		if a == 0 || a > r.l.tx.outSeq {
			return reject("acks", "invalid", "sequence %d is not in the outbox", a)
		}
	}
	return nil
}

func (r *rules) publishKeys(c *PublishKeys) error {
	if err := checkID("nodeId", c.NodeID); err != nil {
		return err
	}
	if len(c.JWKS) == 0 {
		return reject("jwks", "invalid", "required")
	}
	if len(c.Members) > 256 {
		return reject("members", "invalid", "at most 256 members")
	}
	return checkJSON("jwks", c.JWKS, '{')
}

// ---- apply ------------------------------------------------------------

func (l *Ledger) applyPutStream(c *PutStream, actor string, res *Result) {
	old := l.tx.streams[c.StreamID]
	s := &stream{ID: c.StreamID, Owner: actor, Status: StreamEnabled, CreatedAt: l.now, Cursor: l.tx.outSeq}
	if old != nil {
		cp := *old
		s = &cp
	}
	if c.Set&StreamSetAud != 0 {
		s.Aud = c.Aud
	}
	if c.Set&StreamSetDelivery != 0 {
		s.Method, s.Endpoint, s.AuthHeader = c.Method, c.Endpoint, c.AuthHeader
	}
	if c.Set&StreamSetRequested != 0 {
		s.Requested = uniqueSorted(append([]string(nil), c.Requested...))
	}
	if c.Set&StreamSetDescription != 0 {
		s.Description = c.Description
	}
	if c.Set&StreamSetMinVerify != 0 {
		s.MinVerify = c.MinVerify
	}
	if s.Aud == "" {
		s.Aud = s.ID
	}
	s.UpdatedAt = l.now
	l.tx.streams[s.ID] = s
	l.tx.recount()
	res.ID = s.ID
}

func (l *Ledger) applyDeleteStream(c *DeleteStream, _ *Result) {
	delete(l.tx.streams, c.StreamID)
	l.tx.recount()
	if len(l.tx.streams) == 0 {
		// Nobody listens: nothing more is derived, nothing kept.
		l.tx.outbox, l.tx.told = nil, newToldTable()
	}
	l.trimOutbox()
}

func (l *Ledger) applySetStreamStatus(c *SetStreamStatus, actor string, _ *Result) {
	cp := *l.tx.streams[c.StreamID]
	s := &cp
	was := s.Status
	s.Status, s.Reason, s.UpdatedAt = c.Status, c.Reason, l.now
	switch {
	case c.Status == StreamDisabled:
		// A disabled stream drops: it holds nothing.
		s.Cursor, s.Acked = l.tx.outSeq, nil
	case was == StreamDisabled:
		// Enabled (or paused) again: from now on.
		s.Cursor, s.Acked = l.tx.outSeq, nil
	}
	if c.Status != StreamEnabled {
		s.Failures = 0
	}
	l.tx.streams[s.ID] = s
	l.tx.recount()
	if s.Owner != actor && c.Status != StreamDisabled {
		// Changed by someone else than its receiver (an admin): the
		// receiver is told (SSF §8.1.5).
		l.emit(outEvent{At: l.now, Type: evStreamUpdated, Reason: c.Status + "\x00" + c.Reason, Stream: s.ID})
	}
	l.trimOutbox()
}

// disableStreamsOf disables the streams a revoked token created: nothing
// is sent on behalf of a receiver that lost its credential.
func (l *Ledger) disableStreamsOf(owner string) {
	for _, id := range l.streamIDs() {
		if s := l.tx.streams[id]; s.Owner == owner && s.Status != StreamDisabled {
			cp := *s
			cp.Status, cp.Reason, cp.UpdatedAt = StreamDisabled, "the receiver's token was revoked", l.now
			cp.Cursor, cp.Acked = l.tx.outSeq, nil
			l.tx.streams[id] = &cp
		}
	}
	l.tx.recount()
	l.trimOutbox()
}

func (l *Ledger) applyStreamSubject(c *StreamSubject, _ *Result) {
	cp := *l.tx.streams[c.StreamID]
	s := &cp
	if c.Remove {
		s.Added = withoutString(s.Added, c.PrincipalID)
		s.Removed = withString(s.Removed, c.PrincipalID)
	} else {
		s.Removed = withoutString(s.Removed, c.PrincipalID)
		s.Added = withString(s.Added, c.PrincipalID)
	}
	s.UpdatedAt = l.now
	l.tx.streams[s.ID] = s
}

func (l *Ledger) applyVerifyStream(c *VerifyStream, _ *Result) {
	cp := *l.tx.streams[c.StreamID]
	s := &cp
	s.VerifiedAt = l.now
	l.tx.streams[s.ID] = s
	l.emit(outEvent{At: l.now, Type: evVerification, Reason: c.State, Stream: s.ID})
}

func (l *Ledger) applyStreamDelivery(c *StreamDelivery, _ *Result) {
	cp := *l.tx.streams[c.StreamID]
	s := &cp
	s.Delivered += c.Delivered
	if c.Error != "" {
		s.Failures++
		s.LastError, s.ErrorAt = c.Error, l.now
	} else if c.Delivered > 0 || c.Through > s.Cursor || len(c.Acks) > 0 {
		s.Failures = 0
		s.DeliverAt = l.now
	}
	if c.Through > s.Cursor {
		s.Cursor = c.Through
	}
	if len(c.Acks) > 0 {
		acks := append(append([]uint64(nil), s.Acked...), c.Acks...)
		sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
		s.Acked = acks
		l.advancePoll(s)
	}
	l.tx.streams[s.ID] = s
	l.trimOutbox()
}

// advancePoll moves a poll stream's cursor over the events it has
// acknowledged and those not for it, and forgets the acknowledgements
// behind the cursor.
func (l *Ledger) advancePoll(s *stream) {
	acked := map[uint64]bool{}
	for _, a := range s.Acked {
		acked[a] = true
	}
	for i := l.outboxIndex(s.Cursor + 1); i < len(l.tx.outbox); i++ {
		e := &l.tx.outbox[i]
		if !acked[e.Seq] && l.wants(s, e) {
			break
		}
		s.Cursor = e.Seq
	}
	keep := s.Acked[:0:0]
	for _, a := range s.Acked {
		if a > s.Cursor && (len(keep) == 0 || keep[len(keep)-1] != a) {
			keep = append(keep, a)
		}
	}
	if len(keep) > MaxPollAcks {
		keep = keep[len(keep)-MaxPollAcks:]
	}
	s.Acked = keep
}

func (l *Ledger) applyPublishKeys(c *PublishKeys, _ *Result) {
	if len(c.Members) > 0 {
		members := uniqueSorted(append([]string(nil), c.Members...))
		for id := range l.tx.keys {
			if !hasString(members, id) {
				delete(l.tx.keys, id)
			}
		}
	}
	l.tx.keys[c.NodeID] = &nodeKeys{NodeID: c.NodeID, JWKS: compactJSON(c.JWKS), UpdatedAt: l.now}
}

// ---- deriving events --------------------------------------------------

// transmitting says whether a stream takes events (one not disabled):
// events are derived only then.
func (l *Ledger) transmitting() bool { return l.tx.live > 0 }

// emit appends an event to the outbox under the next sequence.
func (l *Ledger) emit(e outEvent) {
	l.tx.outSeq++
	e.Seq = l.tx.outSeq
	if len(l.tx.outbox) >= MaxOutbox {
		l.dropOldest(len(l.tx.outbox) - MaxOutbox + 1)
	}
	l.tx.outbox = append(l.tx.outbox, e)
}

// dropOldest drops the n oldest events, counting them as lost on every
// stream that had not had them.
func (l *Ledger) dropOldest(n int) {
	last := l.tx.outbox[n-1].Seq
	for _, id := range l.streamIDs() {
		s := l.tx.streams[id]
		if s.Cursor >= last {
			continue
		}
		cp := *s
		for i := 0; i < n; i++ {
			if e := &l.tx.outbox[i]; e.Seq > cp.Cursor && l.wants(&cp, e) {
				cp.Lost++
			}
		}
		cp.Cursor = last
		l.tx.streams[id] = &cp
	}
	l.tx.outbox = l.tx.outbox[n:]
}

// trimOutbox drops the events every stream is past.
func (l *Ledger) trimOutbox() {
	if len(l.tx.outbox) == 0 {
		return
	}
	low := l.tx.outSeq
	for _, s := range l.tx.streams {
		if s.Status != StreamDisabled { // a disabled stream holds nothing
			low = min(low, s.Cursor)
		}
	}
	n := l.outboxIndex(low + 1)
	if n == 0 {
		return
	}
	// Resliced, never shifted in place: a snapshot may share the array
	// (its slice ends where the ledger's was when it was taken, so the
	// appends after it write where the snapshot does not read).
	l.tx.outbox = l.tx.outbox[n:]
}

// outboxIndex is the index of the first event with sequence ≥ seq.
func (l *Ledger) outboxIndex(seq uint64) int {
	return sort.Search(len(l.tx.outbox), func(i int) bool { return l.tx.outbox[i].Seq >= seq })
}

// streamIDs returns the stream ids, sorted.
func (l *Ledger) streamIDs() []string {
	ids := make([]string, 0, len(l.tx.streams))
	for id := range l.tx.streams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// wants says whether stream s is to be sent event e: SSF's own events for
// it, and the events it requested about the subjects it covers (every
// principal but those removed: default_subjects ALL); nothing while it is
// disabled.
func (l *Ledger) wants(s *stream, e *outEvent) bool {
	if s.Status == StreamDisabled {
		return false
	}
	if e.Stream != "" {
		return e.Stream == s.ID
	}
	if len(s.Requested) > 0 && !hasString(s.Requested, eventTypeURI(e.Type)) {
		return false
	}
	return !hasString(s.Removed, e.Principal)
}

// deriveEvents runs after every entry while streams exist: it compares
// what the streams were last told of each principal the entry touched with
// the principal's record now, and emits the events for what changed.
func (l *Ledger) deriveEvents(subjects []string) {
	for _, id := range subjects {
		if p := l.principals.get(id); p != nil {
			l.deriveFor(p)
		}
	}
	l.trimOutbox()
}

func (l *Ledger) deriveFor(p *principal) {
	now := l.currentState(p)
	before, known := l.tx.told.get(p.ID)
	defer func() { l.tx.told.set(l.gen, now) }()
	if !known {
		return
	}
	reason := riskReason(p)
	other := false // an event other than the assessment was sent
	if now.Level != before.Level && CAEPLevels[now.Level] != CAEPLevels[before.Level] {
		l.emit(outEvent{At: l.now, Type: evRiskLevel, Principal: p.ID, Prev: before.Level, Cur: now.Level, Score: now.Score, Reason: reason})
		other = true
	}
	if now.AAL != before.AAL {
		l.emit(outEvent{At: l.now, Type: evAssurance, Principal: p.ID, Prev: before.AAL, Cur: now.AAL, Score: now.Score, Reason: reason})
		other = true
	}
	if now.Compromised && !before.Compromised {
		l.emit(outEvent{At: l.now, Type: evSessionRevoked, Principal: p.ID, Cur: now.Level, Score: now.Score, Reason: "confirmed compromised"})
		other = true
	}
	if now.Inactive != before.Inactive {
		t := evDisabled
		if !now.Inactive {
			t = evEnabled
		}
		l.emit(outEvent{At: l.now, Type: t, Principal: p.ID, Cur: now.Level, Score: now.Score})
		other = true
	}
	// The numeric assessment comes last, and after every other event: a
	// receiver that maps each event to a score (as CAEP receivers do)
	// ends on the exact one.
	if other || now.Level != before.Level || abs16(now.Score-before.Score) >= AssessmentDelta || now.Compromised != before.Compromised {
		l.emit(outEvent{At: l.now, Type: evAssessment, Principal: p.ID, Prev: before.Level, Cur: now.Level, Score: now.Score,
			Parts: lastParts(p), Reason: reason})
	} else {
		// Small moves are not sent: the next event is measured from the
		// score last sent.
		now.Score = before.Score
	}
}

// currentState is what a stream would be told of p now: its record's
// score, level and flags.
func (l *Ledger) currentState(p *principal) toldState {
	st := l.stateOf(l.score(p, l.now), len(l.policy.holdsOf(p)) > 0, !p.Active, p.Compromised)
	st.ID = p.ID
	return st
}

func (l *Ledger) stateOf(score int64, held, inactive, compromised bool) toldState {
	pts, lvl := l.policy.scoreLevel(score)
	// The level the principal's decisions require at the lowest
	// sensitivity (1-3), aal3 when a detection holds it.
	aal := requiredAAL(0, lvl) + 1
	if held || compromised {
		aal = 3
	}
	return toldState{Level: int8(lvl), AAL: int8(aal), Score: int16(pts), Inactive: inactive, Compromised: compromised} // #nosec G115 -- level < 5, aal ≤ 3, pts ≤ 100
}

// noteBaseline remembers, for a principal no stream has heard of yet, its
// record before the entry changes it (Ledger.mutable calls it before the
// first change), so that deriveEvents measures the entry's change from it.
// A principal registered by the entry has none: its first record is the
// baseline, and it is not an event.
func (l *Ledger) noteBaseline(p *principal) {
	if !l.transmitting() {
		return
	}
	if _, ok := l.tx.told.get(p.ID); !ok {
		l.tx.told.set(l.gen, l.currentState(p))
	}
}

// riskReason names what last changed p's record: the cause and event of
// its last history point.
func riskReason(p *principal) string {
	n := len(p.History)
	if n == 0 {
		return "registered"
	}
	h := p.History[n-1]
	cause := historyCauses[int(h.Cause)%len(historyCauses)]
	delta := h.score() / Point
	if n > 1 {
		delta -= p.History[n-2].score() / Point
	}
	var b strings.Builder
	b.WriteString(cause)
	if h.EventID != "" {
		b.WriteString(" ")
		b.WriteString(h.EventID)
	}
	b.WriteString(": score ")
	b.WriteString(signedInt(delta))
	b.WriteString(" to ")
	b.WriteString(strconv.FormatInt(h.score()/Point, 10))
	return b.String()
}

func signedInt(v int64) string {
	if v >= 0 {
		return "+" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

func lastParts(p *principal) [NumComponents]int16 {
	var out [NumComponents]int16
	if n := len(p.History); n > 0 {
		copy(out[:], p.History[n-1].Parts[:NumComponents])
	}
	return out
}

func abs16(v int16) int16 {
	if v < 0 {
		return -v
	}
	return v
}

// ---- string sets ------------------------------------------------------

func hasString(sorted []string, s string) bool {
	i := sort.SearchStrings(sorted, s)
	return i < len(sorted) && sorted[i] == s
}

func withString(sorted []string, s string) []string {
	i := sort.SearchStrings(sorted, s)
	if i < len(sorted) && sorted[i] == s {
		return sorted
	}
	out := make([]string, 0, len(sorted)+1)
	out = append(append(append(out, sorted[:i]...), s), sorted[i:]...)
	return out
}

func withoutString(sorted []string, s string) []string {
	i := sort.SearchStrings(sorted, s)
	if i == len(sorted) || sorted[i] != s {
		return sorted
	}
	return append(append([]string(nil), sorted[:i]...), sorted[i+1:]...)
}
