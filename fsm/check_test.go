package fsm

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
)

// Actors of the check property: an unscoped token, a writer scoped to
// org0 and a revoked writer.
const (
	actorAdmin   = "admin-1"
	actorScoped  = "writer-org0"
	actorRevoked = "writer-gone"
)

// checkWorld is a world with the tokens of the check property.
func checkWorld(t *testing.T, seed uint64) *world {
	w := newWorld(t, seed)
	for i, c := range []*CreateToken{
		{TokenID: actorAdmin, Role: "admin"},
		{TokenID: actorScoped, Role: "writer", Orgs: []string{"org0"}},
		{TokenID: actorRevoked, Role: "writer"},
	} {
		c.Hash = make([]byte, 32)
		c.Hash[0], c.Hash[1] = 0xc4, byte(i)
		if r := w.apply(c); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if r := w.apply(&RevokeToken{TokenID: actorRevoked}); r.Err != nil {
		t.Fatal(r.Err)
	}
	return w
}

// For random command sequences — every kind, valid and not, by unscoped,
// scoped and revoked tokens — Check accepts a command exactly when Apply
// accepts its entry, with the same rejection; CheckSignals gives each
// signal the status and reason Apply gives it; and a rejected entry
// changes no state but the sequence, the digest chain, ledger time and the
// counters.
func TestCheckAgreesWithApply(t *testing.T) {
	t.Parallel()
	kinds := map[Kind]int{}
	forSequences(t, func(t *testing.T, w *world) {
		w = checkWorld(t, w.rng.Uint64())
		for i := 0; i < 60; i++ {
			w.advance()
			cmd, actor := w.anyCommand()
			kinds[cmd.Kind()]++
			w.checkThenApply(cmd, actor)
			if t.Failed() {
				return
			}
		}
	})
	for k := KindRegisterPrincipal; k <= KindLast; k++ {
		if kinds[k] == 0 {
			t.Errorf("no %s command was generated", k)
		}
	}
}

// checkThenApply asks Check about cmd, applies it, and compares.
func (w *world) checkThenApply(cmd Command, actor string) {
	t := w.t
	t.Helper()
	stamp := w.now
	before := w.state(max(w.l.LedgerTime(), stamp))
	checkErr := w.l.Check(cmd, actor, stamp)
	var checks []SignalCheck
	if sigs, ok := cmd.(*RecordSignals); ok {
		var err error
		checks, err = w.l.CheckSignals(sigs, actor, stamp)
		if errText(err) != errText(checkErr) {
			t.Fatalf("CheckSignals says %v, Check %v", err, checkErr)
		}
	}
	if now := w.state(max(w.l.LedgerTime(), stamp)); now != before {
		t.Fatalf("checking %s changed the state", cmd.Kind())
	}
	data, err := EncodeEntry(cmd, stamp, actor)
	if err != nil {
		t.Fatalf("encode %s: %v", cmd.Kind(), err)
	}
	w.idx++
	res := w.l.Apply(w.idx, data)
	if errText(checkErr) != errText(res.Err) {
		t.Fatalf("%s %+v by %s: Check says %v, Apply %v", cmd.Kind(), cmd, actor, checkErr, res.Err)
	}
	for i, c := range checks {
		want := SignalResult{EventID: res.Signals[i].EventID, Status: c.Status}
		if c.Err != nil {
			want.Reason = c.Err.Error()
		}
		if res.Signals[i] != want {
			t.Fatalf("signal %d: CheckSignals says %+v, Apply %+v", i, want, res.Signals[i])
		}
	}
	if res.Err != nil || noneAccepted(res) {
		if after := w.state(w.l.LedgerTime()); after != before {
			t.Fatalf("rejected %s (%v %+v) changed the state:\n%s\n%s", cmd.Kind(), res.Err, res.Signals, before, after)
		}
	}
	if res.Err == nil {
		w.track(cmd)
	}
}

// noneAccepted reports whether a signal batch was applied without any
// signal accepted, which must change no state either.
func noneAccepted(res *Result) bool {
	if res.Kind != KindRecordSignals {
		return false
	}
	for _, r := range res.Signals {
		if r.Status == StatusAccepted {
			return false
		}
	}
	return true
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// state is the replicated state of w's ledger as JSON, dedup entries live
// at ledger time now included; the sequence, digest, ledger time and
// counters are left out.
func (w *world) state(now int64) string {
	l := w.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	dedup := map[string]uint32{}
	for _, s := range l.dedup {
		for k, exp := range s.m {
			if exp > dedupSeconds(now) {
				dedup[hex.EncodeToString(k[:])] = exp
			}
		}
	}
	hashes := map[string]string{}
	for h, id := range l.tokenHash {
		hashes[hex.EncodeToString(h[:])] = id
	}
	// Expired modifiers, endorsements and authentication failures are
	// left out too: Apply drops them as ledger time passes (tidy), for
	// entries it accepts and refuses alike.
	principals := map[string]principal{}
	for _, id := range l.principals.ids() {
		p := l.principals.get(id)
		c := *p
		// The cold part is shared (with emptyCold, or with the ledger's
		// own principal): copy it before leaving anything out of it.
		cold := *p.Cold
		c.Cold = &cold
		c.Modifiers, c.Endorsed, c.Endorsing, c.Failures = nil, nil, nil, nil
		for _, m := range p.Modifiers {
			if modifierInForce(m, now) {
				c.Modifiers = append(c.Modifiers, m)
			}
		}
		for _, e := range p.Endorsed {
			if endorsementInForce(l.endorse[e], now) {
				c.Endorsed = append(c.Endorsed, e)
			}
		}
		for _, e := range p.Endorsing {
			if endorsementInForce(l.endorse[e], now) {
				c.Endorsing = append(c.Endorsing, e)
			}
		}
		for _, at := range p.Failures {
			if at > now-l.policy.BurstWindow {
				c.Failures = append(c.Failures, at)
			}
		}
		principals[id] = c
	}
	endorsements := map[string]*endorsement{}
	for id, e := range l.endorse {
		if endorsementInForce(e, now) {
			endorsements[id] = e
		}
	}
	b, err := json.Marshal(map[string]any{"policy": l.policy, "principals": principals, "orgs": l.orgs,
		"endorsements": endorsements, "partners": l.partners, "tokens": l.tokens, "tokenHashes": hashes,
		"alerts": l.alertIdx, "events": l.events, "dedup": dedup, "producers": l.producers, "producerHorizon": l.producerHorizon,
		"streams": l.tx.streams, "outbox": l.tx.outbox, "outSeq": l.tx.outSeq, "nodeKeys": l.tx.keys})
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// track notes the principals, partners and event ids an accepted command
// made, for later commands to name.
func (w *world) track(cmd Command) {
	switch c := cmd.(type) {
	case *RegisterPrincipal:
		w.principals = append(w.principals, c.PrincipalID)
	case *ImportRecord:
		w.principals = append(w.principals, c.PrincipalID)
	case *UpsertPartner:
		for _, p := range w.partners {
			if p == c.PartnerID {
				return
			}
		}
		w.partners = append(w.partners, c.PartnerID)
	}
}

// pick returns one of choices.
func pick[T any](w *world, choices ...T) T { return choices[w.rng.IntN(len(choices))] }

// maybe returns a with probability 1/n, else b.
func maybe[T any](w *world, n int, a, b T) T {
	if w.rng.IntN(n) == 0 {
		return a
	}
	return b
}

// anyCommand returns a random command of any kind, valid or not, and the
// token that writes it.
func (w *world) anyCommand() (Command, string) {
	actor := pick(w, actorAdmin, actorAdmin, actorAdmin, actorAdmin, actorScoped, "no-such-token")
	if w.rng.IntN(12) == 0 {
		actor = actorRevoked
	}
	gens := []func() Command{w.anyRegister, w.anyUpdate, w.anySetOrg, w.anySignals, w.anyFactors, w.anyEndorsement,
		w.anyRevokeEndorsement, w.anyAssessment, w.anyPartner, w.anyRemovePartner, w.anyPolicy, w.anyModifier,
		w.anyReview, w.anyToken, w.anyRevokeToken, w.anyImport, w.anyFederatedEvent, w.anyRemoveModifier,
		w.anyPutStream, w.anyStreamChange, w.anyStreamChange, w.anyStreamDelivery, w.anyPublishKeys, w.anyPartnerStream}
	return gens[w.rng.IntN(len(gens))](), actor
}

// someone returns a known principal, sometimes an unknown or invalid id.
func (w *world) someone() string {
	switch w.rng.IntN(12) {
	case 0:
		return "stranger"
	case 1:
		return "bad id"
	}
	return w.principal()
}

func (w *world) someOrg() string { return pick(w, "", "org0", "org1", "org2", "bad org") }

func (w *world) someScore() Opt {
	return maybe(w, 2, Opt{}, Some(w.rng.Int64N(110)*Point-5*Point))
}

func (w *world) anyRegister() Command {
	id := maybe(w, 6, w.someone(), "r"+strconv.Itoa(w.rng.IntN(1000)))
	return &RegisterPrincipal{PrincipalID: id, PrincipalType: maybe(w, 10, "robot", PrincipalTypes[w.rng.IntN(5)]),
		OrgID: w.someOrg(), Base: w.someScore(), Min: w.someScore(), Max: w.someScore(),
		Frequency: pick(w, "", "", "hourly", "yearly"), Metadata: maybe(w, 8, []byte(`[1]`), []byte(`{"k":1}`))}
}

func (w *world) anyUpdate() Command {
	c := &UpdatePrincipal{PrincipalID: w.someone(), Min: w.someScore(), Max: w.someScore(),
		Frequency: pick(w, "", "", "daily", "sometimes"), Metadata: maybe(w, 8, []byte(`"x"`), nil)}
	if w.rng.IntN(3) == 0 {
		org := w.someOrg()
		c.OrgID = &org
	}
	if w.rng.IntN(2) == 0 {
		act := w.rng.IntN(2) == 0
		c.Active = &act
	}
	return c
}

func (w *world) anySetOrg() Command {
	return &SetOrg{OrgID: w.someOrg(), Name: "Org", Base: w.rng.Int64N(120) * Point}
}

func (w *world) anySignals() Command {
	c := &RecordSignals{}
	for n := w.rng.IntN(6); n > 0; n-- {
		s := w.signal(w.someone(), 0)
		switch w.rng.IntN(12) {
		case 0:
			s.ObservedAt = w.now - 8*24*hourMS
		case 1:
			s.ObservedAt = w.now + hourMS
		case 2:
			s.Category = 7
		case 3:
			if len(c.Signals) > 0 {
				s.EventID = c.Signals[0].EventID
			}
		}
		c.Signals = append(c.Signals, s)
	}
	if w.rng.IntN(3) == 0 {
		// A producer's batch: sessions of two producers, epochs around
		// now (some stale, some ahead), sequences near each other and
		// some at the edges.
		epochs := []int64{w.now - hourMS, w.now, w.now + 20*60_000, w.now - 9*24*hourMS, 0}
		seqs := []uint64{1, 2, 3, 4, 70, 5, 1 << 63, 0}
		c.Producer = &Producer{ID: pick(w, "p1", "p2"), Epoch: epochs[w.rng.IntN(len(epochs))], Sequence: seqs[w.rng.IntN(len(seqs))]}
	}
	return c
}

func (w *world) anyFactors() Command {
	f := factorPool[w.rng.IntN(len(factorPool))]
	switch w.rng.IntN(8) {
	case 0:
		f = ReportFactors{}
	case 1:
		f.RiskIndicators = []byte(`{"not":"an array"}`)
	}
	f.PrincipalID = w.someone()
	return &f
}

func (w *world) anyEndorsement() Command {
	c := &AddEndorsement{EndorserID: maybe(w, 4, w.someone(), w.principals[0]), EndorseeID: w.someone(), Reason: "vouched",
		Weight: maybe(w, 2, Some(w.rng.Int64N(6*Point)), Opt{})}
	if w.rng.IntN(3) == 0 {
		c.ExpiresAt = w.now + w.rng.Int64N(10*24*hourMS) - hourMS
	}
	return c
}

func (w *world) anyRevokeEndorsement() Command {
	ids := append(w.endorsementIDs(), "end-0")
	return &RevokeEndorsement{EndorsementID: ids[w.rng.IntN(len(ids))]}
}

func (w *world) somePartner() string {
	return maybe(w, 6, "partner-unknown", pick(w, w.partners...))
}

func (w *world) anyAssessment() Command {
	return &RecordAssessment{EventID: w.eventID(), PartnerID: w.somePartner(), PrincipalID: w.someone(),
		Score: w.rng.Int64N(110) * Point, ValidUntil: w.now + w.rng.Int64N(20*24*hourMS) - hourMS,
		IssuedAt: w.now - w.rng.Int64N(9*24*hourMS), Components: maybe(w, 8, []int64{1, 2}, nil)}
}

func (w *world) anyFederatedEvent() Command {
	c := &FederatedEvent{EventID: w.eventID(), PartnerID: w.somePartner(), PrincipalID: w.someone(),
		IssuedAt: w.now - maybe(w, 6, 8*24*hourMS, w.rng.Int64N(hourMS)), EventType: "urn:example:event"}
	switch w.rng.IntN(4) {
	case 0:
		c.Score, c.ValidUntil = Some(w.rng.Int64N(101)*Point), w.now+w.rng.Int64N(20*24*hourMS)-hourMS
	case 1:
		c.Clear = true
	case 2:
		c.Score, c.ValidUntil = Some(0), w.now+30*24*hourMS
		c.AlertType, c.Severity = "partner_alert", pick(w, "high", "extreme")
	}
	return c
}

func (w *world) anyPartner() Command {
	id := maybe(w, 4, "partner"+strconv.Itoa(w.rng.IntN(6)), pick(w, w.partners...))
	issuer := maybe(w, 5, "https://"+pick(w, w.partners...)+".example", "https://"+id+".example")
	return &UpsertPartner{PartnerID: id, Issuer: issuer, Audience: "trustledger", Weight: w.rng.Int64N(700_001),
		MaxInfluence: w.rng.Int64N(30) * Point, Suspended: w.rng.IntN(4) == 0}
}

func (w *world) anyRemovePartner() Command {
	return &RemovePartner{PartnerID: w.somePartner()}
}

func (w *world) anyPolicy() Command {
	p := DefaultPolicy()
	p.SignalWindow = 1 + w.rng.Int64N(20)
	p.ModifierLimit = 1 + w.rng.Int64N(3)
	p.EndorserBudget = (4 + w.rng.Int64N(12)) * Point
	if w.rng.IntN(2) == 0 {
		p.Caps[0] += Point
	}
	return &SetPolicy{Policy: p}
}

func (w *world) anyModifier() Command {
	return &AddModifier{PrincipalID: maybe(w, 3, w.someone(), w.principals[0]), Delta: (w.rng.Int64N(31) - 15) * Point, Reason: "test",
		ExpiresAt: w.now + w.rng.Int64N(5*24*hourMS) - hourMS}
}

// anyRemoveModifier removes a modifier of some principal: one it has,
// one another has, one expired or none at all.
func (w *world) anyRemoveModifier() Command {
	id := w.someone()
	mod := "mod-" + strconv.Itoa(w.rng.IntN(int(w.l.seq)+2))
	w.l.mu.RLock()
	if p := w.l.principals.get(id); p != nil && len(p.Modifiers) > 0 && w.rng.IntN(3) > 0 {
		mod = p.Modifiers[w.rng.IntN(len(p.Modifiers))].ID
	}
	w.l.mu.RUnlock()
	return &RemoveModifier{PrincipalID: id, ModifierID: mod}
}

func (w *world) anyReview() Command {
	ids := append(w.alertIDs(), "alt-0")
	return &ReviewAlert{AlertID: ids[w.rng.IntN(len(ids))],
		Action: pick(w, ReviewAcknowledge, ReviewDismiss, ReviewConfirmCompromised, ReviewConfirmSafe, "ignore")}
}

func (w *world) anyToken() Command {
	h := make([]byte, maybe(w, 10, 31, 32))
	h[0], h[1] = 0x7e, byte(w.rng.IntN(8))
	c := &CreateToken{TokenID: "tok-" + strconv.Itoa(w.rng.IntN(8)), Hash: h,
		Role: pick(w, "writer", "reader", "partner", "root")}
	if c.Role == "partner" || w.rng.IntN(8) == 0 {
		c.PartnerID = "partner0"
	}
	return c
}

func (w *world) anyRevokeToken() Command {
	return &RevokeToken{TokenID: pick(w, actorScoped, actorRevoked, "tok-1", "tok-none")}
}

func (w *world) anyImport() Command {
	c := &ImportRecord{PrincipalID: maybe(w, 5, w.someone(), "imp"+strconv.Itoa(w.rng.IntN(1000))),
		PrincipalType: "user", OrgID: w.someOrg(), Score: w.rng.Int64N(101) * Point, Min: w.someScore(), Max: w.someScore(),
		RequiresReview: w.rng.IntN(3) == 0,
		Positive:       []ImportedSignal{{Event: "imported", At: w.now - hourMS, Impact: 5 * Point, Category: uint8(w.rng.IntN(6))}},
		History:        []ImportedPoint{{At: w.now - 2*hourMS, Score: 50 * Point}}}
	switch w.rng.IntN(4) {
	case 0:
		c.Components = []int64{20 * Point, 20 * Point, 10 * Point, 10 * Point, 5 * Point}
	case 1:
		c.Components = []int64{50 * Point, 0, 0, 0, 0}
	}
	c.Factors[3] = maybe(w, 6, []byte(`{"a":1}`), []byte(`["vpn"]`))
	return c
}

// Check reads the entry's ledger time from its stamp: a modifier that
// expires before the stamp, or a signal older than the deduplication
// window at the stamp, would be refused there, though not at the ledger's
// current time.
func TestCheckAtStampTime(t *testing.T) {
	w := checkWorld(t, 7)
	now := w.l.LedgerTime()
	later := now + 8*24*hourMS
	mod := &AddModifier{PrincipalID: w.principal(), Delta: Point, ExpiresAt: now + hourMS}
	if err := w.l.Check(mod, actorAdmin, now); err != nil {
		t.Fatalf("at ledger time: %v", err)
	}
	var rej *RejectError
	if err := w.l.Check(mod, actorAdmin, later); !errors.As(err, &rej) || rej.Field != "expiresAt" {
		t.Fatalf("at a later stamp: %v, want expiresAt refused", err)
	}
	if err := w.l.Check(mod, actorAdmin, now-hourMS); err != nil {
		t.Fatalf("an earlier stamp is ledger time: %v", err)
	}
	sigs := &RecordSignals{Signals: []Signal{{EventID: "e1", PrincipalID: w.principal(), Event: "x", Impact: Point, ObservedAt: now}}}
	checks, err := w.l.CheckSignals(sigs, actorAdmin, later)
	if err != nil || checks[0].Status != StatusRejected || checks[0].Err.Field != "observedAt" {
		t.Fatalf("signal at a later stamp: %+v %v", checks, err)
	}
}

// CheckSignals tells which signals of a batch Apply would accept: a repeat
// of an eventId earlier in the batch is a duplicate, an unknown principal
// is rejected as not found, one outside the token's organizations as out
// of scope; a revoked token fails the whole batch.
func TestCheckSignalsPerSignal(t *testing.T) {
	w := checkWorld(t, 11)
	var in, out string
	w.l.mu.RLock()
	for _, id := range w.principals {
		switch org := w.l.principals.get(id).Org; {
		case org == "org0" && in == "":
			in = id
		case org != "org0" && out == "":
			out = id
		}
	}
	w.l.mu.RUnlock()
	if in == "" || out == "" {
		w.apply(&RegisterPrincipal{PrincipalID: "in0", PrincipalType: "user", OrgID: "org0"})
		w.apply(&RegisterPrincipal{PrincipalID: "out0", PrincipalType: "user", OrgID: "org1"})
		in, out = "in0", "out0"
	}
	sig := func(ev, id string) Signal { return Signal{EventID: ev, PrincipalID: id, Event: "login", Impact: Point} }
	batch := &RecordSignals{Signals: []Signal{sig("a", in), sig("a", in), sig("b", "nobody"), sig("c", out)}}
	checks, err := w.l.CheckSignals(batch, actorScoped, w.now)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ status, code string }{{StatusAccepted, ""}, {StatusDuplicate, ""}, {StatusRejected, "not_found"}, {StatusRejected, "scope"}}
	for i, c := range checks {
		code := ""
		if c.Err != nil {
			code = c.Err.Code
		}
		if c.Status != want[i].status || code != want[i].code {
			t.Errorf("signal %d: %s %v, want %s %s", i, c.Status, c.Err, want[i].status, want[i].code)
		}
	}
	var rej *RejectError
	if _, err := w.l.CheckSignals(batch, actorRevoked, w.now); !errors.As(err, &rej) || rej.Code != "forbidden" {
		t.Errorf("a revoked token: %v", err)
	}
	if w.l.Check(&RecordSignals{Signals: []Signal{sig("z", "nobody")}}, actorAdmin, w.now) != nil {
		t.Error("Check refuses a batch Apply accepts (its signals are rejected one by one)")
	}
}

// Every row of the command table decodes the kind it is filed under, and
// every kind has a row and a name of its own.
func TestCommandTableRowsMatchKinds(t *testing.T) {
	names := map[string]Kind{}
	for k := KindRegisterPrincipal; k <= KindLast; k++ {
		spec, err := specOf(k)
		if err != nil {
			t.Fatalf("kind %d: %v", k, err)
		}
		if got := spec.new().Kind(); got != k {
			t.Errorf("row %d (%s) makes a %s command", k, spec.name, got)
		}
		if other, dup := names[spec.name]; dup {
			t.Errorf("kinds %d and %d are both %q", other, k, spec.name)
		}
		names[spec.name] = k
	}
	if len(commandTable) != int(KindLast)+1 {
		t.Errorf("the table has %d rows for kinds up to %d", len(commandTable), KindLast)
	}
	if _, err := specOf(0); !errors.Is(err, ErrFormat) {
		t.Errorf("kind 0: %v", err)
	}
}

// Check answers a command given by value, which Apply never meets, with an
// error rather than a panic.
func TestCheckRefusesCommandValues(t *testing.T) {
	l := NewLedger()
	if err := l.Check(RegisterPrincipal{PrincipalID: "u1", PrincipalType: "user"}, "", t0); !errors.Is(err, ErrFormat) {
		t.Fatalf("a command value: %v", err)
	}
	if err := l.Check(&RegisterPrincipal{PrincipalID: "u1", PrincipalType: "user"}, "", t0); err != nil {
		t.Fatalf("the same command: %v", err)
	}
}

// A refused endorsement or modifier still drops what has expired by its
// ledger time, as Apply always has, so that a ledger replayed by this
// code gives the state it gave before (the endorsements' lists, the
// modifiers), and nodes of two versions agree. (The ledger tidies the
// lists of the principals an entry names: p0's here, not p1's.)
func TestRefusedEndorsementAndModifierStillDropExpiredOnes(t *testing.T) {
	w := newWorld(t, 7)
	hour := int64(3_600_000)
	for _, c := range []Command{
		&AddEndorsement{EndorserID: "p0", EndorseeID: "p1", ExpiresAt: w.now + hour},
		&AddEndorsement{EndorserID: "p0", EndorseeID: "p3"},
		&AddModifier{PrincipalID: "p2", Delta: -5 * Point, Reason: "short", ExpiresAt: w.now + hour},
	} {
		if r := w.apply(c); r.Err != nil {
			t.Fatalf("%s: %v", c.Kind(), r.Err)
		}
	}
	w.now += 2 * hour
	// Both refused by the state (p0 endorses p3 already; no room for a
	// modifier), after the lists are tidied.
	if r := w.apply(&AddEndorsement{EndorserID: "p0", EndorseeID: "p3"}); r.Err == nil {
		t.Fatal("a second endorsement of the same principal was accepted")
	}
	w.l.policy.ModifierLimit = 0
	if r := w.apply(&AddModifier{PrincipalID: "p2", Delta: -5 * Point, Reason: "again", ExpiresAt: w.now + hour}); r.Err == nil {
		t.Fatal("a modifier over the limit was accepted")
	}
	if p := w.l.principals.get("p0"); len(p.Endorsing) != 1 {
		t.Errorf("p0 lists %v, want only its endorsement of p3 in force", p.Endorsing)
	}
	if p := w.l.principals.get("p2"); len(p.Modifiers) != 0 {
		t.Errorf("p2 still holds its expired modifier: %+v", p.Modifiers)
	}
}

// someStream names a stream, sometimes one that cannot exist.
func (w *world) someStream() string { return pick(w, "s0", "s1", "s2", "bad stream") }

func (w *world) anyPutStream() Command {
	c := &PutStream{StreamID: w.someStream(), Op: pick(w, "create", "create", "update", "replace", "upsert"),
		Set: uint16(w.rng.IntN(32)), Aud: maybe(w, 3, "aud-x", ""), Method: pick(w, DeliveryPush, DeliveryPoll, "email"),
		Requested: maybe(w, 2, []string{EventRiskLevelChange, EventTrustAssessment}, nil), Description: "d",
		MinVerify: pick(w, int64(0), 1000, -1)}
	if c.Method == DeliveryPush {
		c.Endpoint, c.AuthHeader = maybe(w, 6, "", "https://rp.example/ssf"), "Bearer x"
	}
	return c
}

func (w *world) anyStreamChange() Command {
	id := w.someStream()
	switch w.rng.IntN(4) {
	case 0:
		return &DeleteStream{StreamID: id}
	case 1:
		return &SetStreamStatus{StreamID: id, Status: pick(w, StreamEnabled, StreamPaused, StreamDisabled, "asleep"), Reason: "r"}
	case 2:
		return &StreamSubject{StreamID: id, PrincipalID: w.someone(), Remove: w.rng.IntN(2) == 0}
	}
	return &VerifyStream{StreamID: id, State: "st"}
}

func (w *world) anyStreamDelivery() Command {
	c := &StreamDelivery{StreamID: w.someStream(), Through: uint64(w.rng.IntN(20)), Delivered: uint64(w.rng.IntN(3)),
		Error: maybe(w, 4, "connection refused", "")}
	if w.rng.IntN(2) == 0 {
		c.Acks = []uint64{uint64(w.rng.IntN(20)), uint64(w.rng.IntN(20))}
	}
	return c
}

func (w *world) anyPublishKeys() Command {
	return &PublishKeys{NodeID: pick(w, "n1", "n2", "bad node"), JWKS: maybe(w, 5, []byte(`[]`), []byte(`{"keys":[]}`)),
		Members: maybe(w, 2, []string{"n1"}, nil)}
}

func (w *world) anyPartnerStream() Command {
	p := "nobody"
	if len(w.partners) > 0 && w.rng.IntN(6) > 0 {
		p = w.partners[w.rng.IntN(len(w.partners))]
	}
	return &PartnerStreamEvent{EventID: maybe(w, 8, "", "ps-"+strconv.Itoa(w.rng.IntN(30))), PartnerID: p,
		Type: pick(w, "verification", "stream-updated", "other"), State: "s", Status: "paused"}
}
