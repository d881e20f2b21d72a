package fsm

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// applyAs applies c written by actor and fails the test on a rejection.
func (w *world) applyAs(actor string, c Command) *Result {
	w.t.Helper()
	data, err := EncodeEntry(c, w.now, actor)
	if err != nil {
		w.t.Fatal(err)
	}
	w.idx++
	w.log = append(w.log, data)
	w.last = w.l.Apply(w.idx, data)
	return w.last
}

func (w *world) mustAs(actor string, c Command) *Result {
	w.t.Helper()
	r := w.applyAs(actor, c)
	if r.Err != nil {
		w.t.Fatalf("%s: %v", c.Kind(), r.Err)
	}
	return r
}

// streamEvents is every event the outbox holds for stream id, in order.
func streamEvents(l *Ledger, id string) []OutEvent {
	evs, _, _ := l.PendingEvents(id, MaxOutbox)
	return evs
}

// For random sequences of evidence, with a stream open from the start:
// after every entry, the last trust-assessment event about each principal
// the entry touched carries the level its record has now; risk-level
// events about a principal form a chain (each starts where the last one
// ended, and changes the CAEP level); every event has a sequence greater
// than the one before; and the ledger derives them the same way on
// replay.
func TestTransmitterEventsFollowRecords(t *testing.T) {
	t.Parallel()
	forSomeSequences(t, 60, func(t *testing.T, w *world) {
		w.mustAs("rcv", &PutStream{StreamID: "s0", Op: "create", Method: DeliveryPoll})
		gens := []func() Command{w.anySignals, w.anySignals, w.anySignals, w.anyFactors, w.anyEndorsement,
			w.anyAssessment, w.anyFederatedEvent, w.anyModifier, w.anyReview, w.anyUpdate}
		for i := 0; i < 80; i++ {
			w.advance()
			res := w.apply(gens[w.rng.IntN(len(gens))]())
			if res.Err != nil {
				continue
			}
			evs := streamEvents(w.l, "s0")
			last := map[string]OutEvent{}
			risk := map[string]OutEvent{}
			var seq uint64
			for _, e := range evs {
				if e.Seq <= seq {
					t.Fatalf("event %d after %d", e.Seq, seq)
				}
				seq = e.Seq
				switch e.Type {
				case EventTrustAssessment:
					if prev, ok := last[e.PrincipalID]; ok && prev.Level != e.PrevLevel {
						t.Fatalf("assessment %d starts at %s; the last one about %s ended at %s", e.Seq, e.PrevLevel, e.PrincipalID, prev.Level)
					}
					last[e.PrincipalID] = e
				case EventRiskLevelChange:
					if prev, ok := risk[e.PrincipalID]; ok && CAEPLevels[lastIndex(Levels, prev.Level)] != CAEPLevels[lastIndex(Levels, e.PrevLevel)] {
						t.Fatalf("risk event %d starts at %s; the last one about %s ended at %s", e.Seq, e.PrevLevel, e.PrincipalID, prev.Level)
					}
					if CAEPLevels[lastIndex(Levels, e.PrevLevel)] == CAEPLevels[lastIndex(Levels, e.Level)] {
						t.Fatalf("risk event %d does not change the CAEP level (%s to %s)", e.Seq, e.PrevLevel, e.Level)
					}
					risk[e.PrincipalID] = e
				}
			}
			for _, id := range res.Subjects {
				e, ok := last[id]
				if !ok {
					continue
				}
				rec, _ := w.l.Record(id, w.l.LedgerTime())
				if rec.TrustLevel != e.Level {
					t.Fatalf("entry %d: %s's record is %s (score %d); its last trust-assessment event says %s (score %d)",
						res.Index, id, rec.TrustLevel, rec.TrustScore, e.Level, e.Score)
				}
				if d := rec.TrustScore - e.Score; d >= AssessmentDelta || d <= -AssessmentDelta {
					t.Fatalf("entry %d: %s's score is %d; the last event sent %d", res.Index, id, rec.TrustScore, e.Score)
				}
			}
		}
		// Replay derives the same outbox.
		r := NewLedger()
		for i, data := range w.log {
			r.Apply(uint64(i+1), data)
		}
		if a, b := streamEvents(w.l, "s0"), streamEvents(r, "s0"); !reflect.DeepEqual(a, b) {
			t.Fatalf("replay derived %d events, the ledger %d", len(b), len(a))
		}
	})
}

// dropScore makes p lose enough points to fall a level or more.
func (w *world) dropScore(id string, points int64) *Result {
	w.t.Helper()
	w.now += 1000
	return w.mustAs("test", &RecordSignals{Signals: []Signal{{EventID: w.eventID(), PrincipalID: id, Event: "policy_violation",
		Category: 1, Impact: -points * Point}}})
}

func TestStreamDelivery(t *testing.T) {
	w := newWorld(t, 7)
	w.mustAs("admin", &CreateToken{TokenID: "admin", Role: RoleAdmin, Hash: bytes.Repeat([]byte{1}, 32)})
	w.mustAs("rcv", &PutStream{StreamID: "push", Op: "create", Method: DeliveryPush, Endpoint: "https://rp.example/ssf",
		AuthHeader: "Bearer secret", Requested: []string{EventRiskLevelChange, EventTrustAssessment}})
	w.mustAs("rcv", &PutStream{StreamID: "poll", Op: "create", Method: DeliveryPoll})
	for i := 0; i < 6; i++ {
		w.mustAs("test", &RegisterPrincipal{PrincipalID: "hi" + strconv.Itoa(i), PrincipalType: "user", Base: Some(95 * Point)})
	}

	// Another receiver sees no stream of rcv's; an admin does.
	if r := w.applyAs("other", &DeleteStream{StreamID: "push"}); r.Err == nil {
		t.Fatal("another receiver deleted rcv's stream")
	}
	if v, ok := w.l.Stream("push"); !ok || v.Owner != "rcv" || !v.AuthHeaderGiven || v.Aud != "push" {
		t.Fatalf("stream view %+v", v)
	}

	w.dropScore("hi0", 60)
	push := streamEvents(w.l, "push")
	if len(push) < 2 {
		t.Fatalf("a 60-point drop sent %d events to the push stream, want risk-level-change and trust-assessment", len(push))
	}
	for _, e := range push {
		if e.Type != EventRiskLevelChange && e.Type != EventTrustAssessment {
			t.Fatalf("the push stream got %s, which it did not request", e.Type)
		}
		if e.JTI != JTI("push", e.Seq) {
			t.Fatalf("jti %q", e.JTI)
		}
	}
	poll := streamEvents(w.l, "poll")
	if len(poll) < len(push) {
		t.Fatalf("the poll stream (all events) has %d, the push stream %d", len(poll), len(push))
	}

	// Push: the delivery reports how far the scan went; the events are gone
	// for the stream.
	_, through, _ := w.l.PendingEvents("push", 100)
	w.mustAs("node", &StreamDelivery{StreamID: "push", Through: through, Delivered: uint64(len(push))})
	if n := len(streamEvents(w.l, "push")); n != 0 {
		t.Fatalf("%d events still pending after delivery", n)
	}
	if v, _ := w.l.Stream("push"); v.DeliveredCount != uint64(len(push)) || v.Pending != 0 {
		t.Fatalf("after delivery: %+v", v)
	}

	// Poll: acknowledging the second event first holds the cursor at the
	// first; acknowledging the first moves it past both.
	w.mustAs("node", &StreamDelivery{StreamID: "poll", Acks: []uint64{poll[1].Seq}})
	left := streamEvents(w.l, "poll")
	if len(left) != len(poll)-1 || left[0].Seq != poll[0].Seq {
		t.Fatalf("after acking the second event: %d left, first %d", len(left), left[0].Seq)
	}
	acks := []uint64{}
	for _, e := range left {
		acks = append(acks, e.Seq)
	}
	w.mustAs("node", &StreamDelivery{StreamID: "poll", Acks: acks})
	if v, _ := w.l.Stream("poll"); v.Pending != 0 || len(w.l.tx.outbox) != 0 {
		t.Fatalf("after acking all: pending %d, outbox %d", v.Pending, len(w.l.tx.outbox))
	}

	// Paused: events are held, then delivered in order on resume.
	w.mustAs("rcv", &SetStreamStatus{StreamID: "poll", Status: StreamPaused})
	for _, id := range []string{"hi1", "hi2", "hi3"} {
		w.dropScore(id, 60)
	}
	held := streamEvents(w.l, "poll")
	if len(held) < 3 {
		t.Fatalf("a paused stream holds %d events, want at least 3", len(held))
	}
	w.mustAs("rcv", &SetStreamStatus{StreamID: "poll", Status: StreamEnabled})
	if again := streamEvents(w.l, "poll"); !reflect.DeepEqual(again, held) {
		t.Fatal("resuming changed the held events")
	}

	// Disabled: drops what it held and what comes while disabled.
	w.mustAs("rcv", &SetStreamStatus{StreamID: "poll", Status: StreamDisabled, Reason: "maintenance"})
	w.dropScore("hi4", 60)
	if n := len(streamEvents(w.l, "poll")); n != 0 {
		t.Fatalf("a disabled stream holds %d events", n)
	}
	w.mustAs("rcv", &SetStreamStatus{StreamID: "poll", Status: StreamEnabled})
	if n := len(streamEvents(w.l, "poll")); n != 0 {
		t.Fatalf("re-enabled, the stream got %d events from while it was disabled", n)
	}

	// Verification: for its stream only, whatever it requested.
	_, through, _ = w.l.PendingEvents("push", 100)
	w.mustAs("node", &StreamDelivery{StreamID: "push", Through: through})
	w.mustAs("rcv", &VerifyStream{StreamID: "push", State: "abc"})
	evs := streamEvents(w.l, "push")
	if len(evs) != 1 || evs[0].Type != EventVerification || evs[0].State != "abc" {
		t.Fatalf("verification: %+v", evs)
	}
	if n := len(streamEvents(w.l, "poll")); n != 0 {
		t.Fatal("the other stream got the verification event")
	}
	if r := w.applyAs("rcv", &VerifyStream{StreamID: "push", State: "again"}); r.Err == nil {
		t.Fatal("a second verification inside min_verification_interval was accepted")
	}

	// An admin pausing a receiver's stream tells the receiver.
	w.mustAs("admin", &SetStreamStatus{StreamID: "poll", Status: StreamPaused, Reason: "abuse"})
	evs = streamEvents(w.l, "poll")
	if len(evs) != 1 || evs[0].Type != EventStreamUpdated || evs[0].Status != StreamPaused || evs[0].StatusReason != "abuse" {
		t.Fatalf("stream-updated: %+v", evs)
	}

	// Removed subjects get nothing; added back, they do.
	w.mustAs("rcv", &SetStreamStatus{StreamID: "poll", Status: StreamEnabled})
	_, through, _ = w.l.PendingEvents("poll", 100)
	w.mustAs("node", &StreamDelivery{StreamID: "poll", Through: through})
	w.mustAs("rcv", &StreamSubject{StreamID: "poll", PrincipalID: "hi5", Remove: true})
	w.dropScore("hi5", 60)
	if n := len(streamEvents(w.l, "poll")); n != 0 {
		t.Fatalf("a removed subject's events reached the stream: %d", n)
	}

	// A snapshot carries streams, outbox and cursors.
	var buf bytes.Buffer
	snap := w.l.Snapshot()
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := NewLedger()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"push", "poll"} {
		a, _ := w.l.Stream(id)
		b, _ := r.Stream(id)
		if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(streamEvents(w.l, id), streamEvents(r, id)) {
			t.Fatalf("stream %s differs after restore:\n%+v\n%+v", id, a, b)
		}
	}
	if tg, _ := r.StreamTarget("push"); tg.AuthHeader != "Bearer secret" {
		t.Fatal("the push stream's authorization header was not restored")
	}

	// Deleting the last stream forgets the outbox.
	w.mustAs("rcv", &DeleteStream{StreamID: "push"})
	w.mustAs("rcv", &DeleteStream{StreamID: "poll"})
	if len(w.l.tx.outbox) != 0 || w.l.transmitting() {
		t.Fatal("no stream, yet an outbox")
	}
}

// A stream that falls MaxOutbox events behind loses the oldest, and says
// how many.
func TestOutboxBound(t *testing.T) {
	l := NewLedger()
	l.tx.streams["s"] = &stream{ID: "s", Status: StreamPaused}
	for i := 0; i < MaxOutbox+10; i++ {
		l.emit(outEvent{At: int64(i), Type: evAssessment, Principal: "p" + strconv.Itoa(i%7)})
	}
	if len(l.tx.outbox) != MaxOutbox {
		t.Fatalf("outbox holds %d", len(l.tx.outbox))
	}
	v, _ := l.Stream("s")
	if v.Lost != 10 || v.Pending != MaxOutbox {
		t.Fatalf("lost %d, pending %d", v.Lost, v.Pending)
	}
}

func TestStreamChecks(t *testing.T) {
	w := newWorld(t, 3)
	for _, c := range []Command{
		&PutStream{StreamID: "a", Op: "create", Method: "smtp"},
		&PutStream{StreamID: "a", Op: "create", Method: DeliveryPush},
		&PutStream{StreamID: "a", Op: "create", Method: DeliveryPoll, Endpoint: "https://x"},
		&PutStream{StreamID: "bad id", Op: "create", Method: DeliveryPoll},
		&PutStream{StreamID: "a", Op: "update", Method: DeliveryPoll},
		&StreamSubject{StreamID: "nope", PrincipalID: "p0"},
		&StreamDelivery{StreamID: "nope"},
	} {
		before := w.l.Digest()
		if err := w.l.Check(c, "rcv", w.now); err == nil {
			t.Errorf("%s %+v accepted", c.Kind(), c)
		}
		if r := w.applyAs("rcv", c); r.Err == nil {
			t.Errorf("%s %+v applied", c.Kind(), c)
		}
		_ = before
	}
	for i := 0; i < MaxStreamsPerOwner; i++ {
		w.mustAs("rcv", &PutStream{StreamID: "s" + strconv.Itoa(i), Op: "create", Method: DeliveryPoll})
	}
	if r := w.applyAs("rcv", &PutStream{StreamID: "one-more", Op: "create", Method: DeliveryPoll}); r.Err == nil {
		t.Fatal("a receiver created more streams than its limit")
	}
	if r := w.applyAs("rcv", &PutStream{StreamID: "s0", Op: "update", Set: StreamSetDescription, Description: "d"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if v, _ := w.l.Stream("s0"); v.Description != "d" || v.Method != DeliveryPoll {
		t.Fatalf("update changed more than the description: %+v", v)
	}
}

// Entries and snapshots written before SSF registration decode: an
// upsert_partner of 8 fields and a partner record of 9.
func TestPartnerCodecReadsTheOlderLayout(t *testing.T) {
	type oldUpsert struct {
		PartnerID, Issuer, Audience string
		JWKS                        []byte
		Weight, MaxInfluence        int64
		Suspended                   bool
		RateLimit                   int64
	}
	type oldPartner struct {
		ID, Issuer, Audience string
		JWKS                 []byte
		Weight, MaxInfluence int64
		Suspended            bool
		RateLimit, UpdatedAt int64
	}
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		e.UseArrayEncodedStructs(true)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	var c UpsertPartner
	if err := msgpack.Unmarshal(enc(oldUpsert{PartnerID: "p", Issuer: "https://i", Audience: "a", Weight: 5, RateLimit: 7}), &c); err != nil {
		t.Fatal(err)
	}
	if c.PartnerID != "p" || c.RateLimit != 7 || c.SSF != (PartnerSSF{}) {
		t.Fatalf("decoded %+v", c)
	}
	var p partner
	if err := msgpack.Unmarshal(enc(oldPartner{ID: "p", Issuer: "https://i", UpdatedAt: 9}), &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != "p" || p.UpdatedAt != 9 || p.StreamStatus != "" {
		t.Fatalf("decoded %+v", p)
	}
	// And the new layout round-trips.
	c.SSF = PartnerSSF{ConfigURL: "https://i/.well-known/ssf-configuration", Delivery: "poll", PollURL: "https://i/poll", Auth: "Bearer x"}
	c.Aliases = []SubjectAlias{{Subject: "email:a@b", PrincipalID: "alice"}}
	var back UpsertPartner
	if err := msgpack.Unmarshal(enc(&c), &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip %+v %v", back, err)
	}
}

// Revoking a receiver's token disables its streams.
func TestRevokedReceiverStreamsStop(t *testing.T) {
	w := newWorld(t, 5)
	w.mustAs("admin", &CreateToken{TokenID: "rcv", Role: RoleReceiver, Hash: bytes.Repeat([]byte{2}, 32)})
	w.mustAs("rcv", &PutStream{StreamID: "s", Op: "create", Method: DeliveryPoll})
	w.mustAs("admin", &RevokeToken{TokenID: "rcv"})
	if v, _ := w.l.Stream("s"); v.Status != StreamDisabled {
		t.Fatalf("a revoked receiver's stream is %s", v.Status)
	}
}

// A verification event is recorded on a partner only when it echoes the
// state this cluster asked for.
func TestPartnerVerificationMustEchoTheState(t *testing.T) {
	w := newWorld(t, 9)
	w.mustAs("admin", &UpsertPartner{PartnerID: "tx", Issuer: "https://tx.example", Audience: "s1", JWKS: []byte(`{"keys":[]}`),
		SSF: PartnerSSF{ConfigURL: "https://tx.example/.well-known/ssf-configuration", StreamID: "s1", Delivery: "push", VerifyState: "abc"}})
	w.mustAs("tx", &PartnerStreamEvent{EventID: "v1", PartnerID: "tx", Type: "verification", State: "forged"})
	if v, _ := w.l.Partner("tx"); v.SSF.Verification != "" {
		t.Fatalf("a verification with another state was recorded: %+v", v.SSF)
	}
	w.mustAs("tx", &PartnerStreamEvent{EventID: "v2", PartnerID: "tx", Type: "verification", State: "abc"})
	if v, _ := w.l.Partner("tx"); v.SSF.Verification != "abc" || v.SSF.VerifiedAt == "" {
		t.Fatalf("the answering verification was not recorded: %+v", v.SSF)
	}
}
