package fsm

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
)

var (
	seedFlag = flag.Uint64("seed", 0, "base seed for property tests (0 = random)")
	seqFlag  = flag.Int("sequences", 1000, "random event sequences per property")
)

// forSequences runs prop over n random sequences. Each gets its own seed;
// a failure names the seed so it can be replayed with -seed.
func forSequences(t *testing.T, prop func(t *testing.T, w *world)) {
	t.Helper()
	forSomeSequences(t, *seqFlag, prop)
}

// forSomeSequences is forSequences over n sequences (at most 100 with
// -short), for properties whose sequences cost more.
func forSomeSequences(t *testing.T, n int, prop func(t *testing.T, w *world)) {
	t.Helper()
	base := *seedFlag
	if base == 0 {
		base = rand.Uint64()
	}
	if testing.Short() {
		n = min(n, 100)
	}
	for i := 0; i < n; i++ {
		seed := base + uint64(i)
		w := newWorld(t, seed)
		prop(t, w)
		if t.Failed() {
			t.Fatalf("property failed for sequence seed %d (rerun with -seed=%d -sequences=1)", seed, seed)
		}
	}
}

// world drives a Ledger with random, mostly valid commands.
type world struct {
	t          *testing.T
	l          *Ledger
	rng        *rand.Rand
	now        int64
	idx        uint64
	next       int
	principals []string
	orgs       []string
	partners   []string
	eventIDs   []string
	log        [][]byte
	// slow keeps ledger time realistic for long ledgers (minutes a step).
	slow bool
	// unique gives every event a fresh id (no id reused by another
	// principal's event).
	unique bool
	// last is the result of the last entry applied.
	last *Result
}

const t0 = int64(1_710_000_000_000) // 2024-03-09T16:00:00Z

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{t: t, l: NewLedger(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: t0}
	for i := 0; i < 2; i++ {
		id := "org" + strconv.Itoa(i)
		w.apply(&SetOrg{OrgID: id, Name: "Org " + id, Base: w.rng.Int64N(101) * Point})
		w.orgs = append(w.orgs, id)
	}
	for i := 0; i < 2+w.rng.IntN(2); i++ {
		id := "partner" + strconv.Itoa(i)
		w.apply(&UpsertPartner{PartnerID: id, Issuer: "https://" + id + ".example", Audience: "trustledger",
			Weight: w.rng.Int64N(400_001), MaxInfluence: w.rng.Int64N(30) * Point})
		w.partners = append(w.partners, id)
	}
	n := 4 + w.rng.IntN(4)
	for i := 0; i < n; i++ {
		w.register("p" + strconv.Itoa(i))
	}
	return w
}

func (w *world) register(id string) *Result {
	c := &RegisterPrincipal{PrincipalID: id, PrincipalType: PrincipalTypes[w.rng.IntN(5)]}
	if w.rng.IntN(3) > 0 {
		c.OrgID = w.orgs[w.rng.IntN(len(w.orgs))]
	}
	if w.rng.IntN(4) == 0 {
		lo := w.rng.Int64N(40) * Point
		c.Min, c.Max = Some(lo), Some(lo+w.rng.Int64N(100*Point-lo+1))
	}
	if w.rng.IntN(4) == 0 {
		c.DecayRate = Some(w.rng.Int64N(2 * Point))
		c.RecoveryRate = Some(w.rng.Int64N(2 * Point))
	}
	r := w.apply(c)
	if r.Err == nil {
		w.principals = append(w.principals, id)
	}
	return r
}

func (w *world) apply(c Command) *Result {
	w.t.Helper()
	data, err := EncodeEntry(c, w.now, "test")
	if err != nil {
		w.t.Fatalf("encode: %v", err)
	}
	w.idx++
	w.log = append(w.log, data)
	w.last = w.l.Apply(w.idx, data)
	return w.last
}

func (w *world) advance() {
	if w.slow {
		w.now += w.rng.Int64N(2 * 60_000)
		return
	}
	switch w.rng.IntN(10) {
	case 0:
		w.now += w.rng.Int64N(10 * 24 * hourMS)
	case 1, 2, 3:
		w.now += w.rng.Int64N(6 * hourMS)
	default:
		w.now += w.rng.Int64N(10 * 60_000)
	}
}

func (w *world) freshID() string {
	w.next++
	return fmt.Sprintf("fresh-%d", w.next)
}

func (w *world) principal() string { return w.principals[w.rng.IntN(len(w.principals))] }

func (w *world) eventID() string {
	if len(w.eventIDs) > 0 && !w.unique && w.rng.IntN(20) == 0 {
		return w.eventIDs[w.rng.IntN(len(w.eventIDs))]
	}
	w.next++
	id := fmt.Sprintf("ev-%d", w.next)
	w.eventIDs = append(w.eventIDs, id)
	return id
}

var eventNames = []string{"successful_mfa", "failed_login", "failed_mfa", "policy_violation", "reported_phishing",
	"completed_security_training", "new_device", "impossible_travel", "cert_rotated", "scan_passed",
	"credential_rotated", "hardware_mfa_enrolled", "privilege_escalation", "role_granted", "sudo"}

func (w *world) signal(id string, sign int) Signal {
	imp := w.rng.Int64N(20_001) * 1000 // up to 20 points, milli-point precision
	if sign < 0 || sign == 0 && w.rng.IntN(2) == 0 {
		imp = -imp
	}
	s := Signal{EventID: w.eventID(), PrincipalID: id, Event: eventNames[w.rng.IntN(len(eventNames))],
		Category: uint8(w.rng.IntN(NumComponents)), Impact: imp}
	if w.rng.IntN(10) == 0 {
		s.Attributes = []byte(`{"anomaly_score":` + strconv.Itoa(w.rng.IntN(101)) + `}`)
	}
	if w.rng.IntN(5) == 0 {
		s.ObservedAt = w.now - w.rng.Int64N(2*24*hourMS)
	}
	return s
}

var factorPool = []ReportFactors{
	{AuthenticationFactors: []byte(`{"mfa_enabled":true,"mfa_type":"hardware_token"}`)},
	{AuthenticationFactors: []byte(`{"mfa_enabled":false,"password_strength":"weak","failed_attempts_30d":7}`)},
	{BehaviorMetrics: []byte(`{"login_consistency":0.95,"typical_hours":true}`)},
	{BehaviorMetrics: []byte(`{"login_consistency":0.3,"typical_hours":false,"anomaly_score":91}`)},
	{ComplianceStatus: []byte(`{"training_completed":true,"violations_ytd":0}`)},
	{ComplianceStatus: []byte(`{"training_completed":false,"violations_ytd":3}`)},
	{RiskIndicators: []byte(`["new_device","impossible_travel"]`)},
	{RiskIndicators: []byte(`[]`)},
	{Context: []byte(`{"device_managed":true,"network":"corporate"}`)},
}

// step applies one random command.
func (w *world) step() {
	w.advance()
	switch k := w.rng.IntN(100); {
	case k < 45:
		w.apply(&RecordSignals{Signals: []Signal{w.signal(w.principal(), 0)}})
	case k < 50:
		n := 1 + w.rng.IntN(20)
		b := &RecordSignals{}
		for i := 0; i < n; i++ {
			b.Signals = append(b.Signals, w.signal(w.principal(), 0))
		}
		w.apply(b)
	case k < 58:
		f := factorPool[w.rng.IntN(len(factorPool))]
		f.PrincipalID = w.principal()
		w.apply(&f)
	case k < 65:
		c := &AddEndorsement{EndorserID: w.principal(), EndorseeID: w.principal(), Reason: "vouched"}
		if w.rng.IntN(2) == 0 {
			c.Weight = Some(1 + w.rng.Int64N(5*Point))
		}
		if w.rng.IntN(3) == 0 {
			c.ExpiresAt = w.now + w.rng.Int64N(10*24*hourMS) + 1
		}
		w.apply(c)
	case k < 68:
		if ids := w.endorsementIDs(); len(ids) > 0 {
			w.apply(&RevokeEndorsement{EndorsementID: ids[w.rng.IntN(len(ids))]})
		}
	case k < 72:
		d := (w.rng.Int64N(30) - 15) * Point
		if d == 0 {
			d = Point
		}
		w.apply(&AddModifier{PrincipalID: w.principal(), Delta: d, Reason: "test", ExpiresAt: w.now + 1 + w.rng.Int64N(5*24*hourMS)})
	case k < 80:
		pid := "partner-unknown"
		if w.rng.IntN(8) > 0 {
			pid = w.partners[w.rng.IntN(len(w.partners))]
		}
		if w.rng.IntN(2) == 0 {
			w.apply(&RecordAssessment{EventID: w.eventID(), PartnerID: pid, PrincipalID: w.principal(),
				Score: w.rng.Int64N(101) * Point, ValidUntil: w.now + 1 + w.rng.Int64N(20*24*hourMS), IssuedAt: w.now})
			break
		}
		ev := &FederatedEvent{EventID: w.eventID(), PartnerID: pid, PrincipalID: w.principal(), IssuedAt: w.now - w.rng.Int64N(hourMS),
			EventType: "https://schemas.openid.net/secevent/caep/event-type/risk-level-change"}
		switch w.rng.IntN(5) {
		case 0:
			ev.Score, ev.ValidUntil = Some(w.rng.Int64N(101)*Point), w.now+1+w.rng.Int64N(20*24*hourMS)
		case 1:
			ev.Clear = true
		case 2:
			ev.EventType = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
			ev.Score, ev.ValidUntil = Some(0), w.now+1+w.rng.Int64N(40*24*hourMS)
			ev.AlertType, ev.Severity, ev.Message = "partner_account_disabled", "high", "account disabled"
		case 3:
			ev.EventType = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
			ev.Clear = true
		default:
			ev.EventType = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
			ev.Score, ev.ValidUntil = Some(0), w.now+1+w.rng.Int64N(40*24*hourMS)
			ev.AlertType, ev.Severity, ev.Message = "partner_credential_compromise", "high", "partner reports credential compromise"
		}
		w.apply(ev)
	case k < 82:
		id := w.partners[w.rng.IntN(len(w.partners))]
		w.apply(&UpsertPartner{PartnerID: id, Issuer: "https://" + id + ".example", Audience: "trustledger",
			Weight: w.rng.Int64N(500_001), MaxInfluence: w.rng.Int64N(30) * Point, Suspended: w.rng.IntN(3) == 0})
	case k < 83:
		w.apply(&RemovePartner{PartnerID: w.partners[w.rng.IntN(len(w.partners))]})
	case k < 86:
		act := w.rng.IntN(4) > 0
		c := &UpdatePrincipal{PrincipalID: w.principal(), Active: &act}
		if w.rng.IntN(3) == 0 {
			c.DecayRate = Some(w.rng.Int64N(Point))
		}
		w.apply(c)
	case k < 88:
		w.apply(&SetOrg{OrgID: w.orgs[w.rng.IntN(len(w.orgs))], Base: w.rng.Int64N(101) * Point})
	case k < 91:
		if ids := w.alertIDs(); len(ids) > 0 {
			acts := []string{ReviewAcknowledge, ReviewDismiss, ReviewConfirmCompromised, ReviewConfirmSafe, ReviewRemediate}
			w.apply(&ReviewAlert{AlertID: ids[w.rng.IntN(len(ids))], Action: acts[w.rng.IntN(len(acts))], Note: "reviewed"})
		}
	case k < 93:
		w.register("p" + strconv.Itoa(len(w.principals)+w.rng.IntN(3)))
	case k < 94:
		p := DefaultPolicy()
		p.EscalationStep = w.rng.Int64N(200)
		p.SignalWindow = 1 + w.rng.Int64N(20)
		p.EndorseThreshold = w.rng.Int64N(90) * Point
		w.apply(&SetPolicy{Policy: p})
	default:
		// a malformed entry must be rejected the same way everywhere
		w.idx++
		bad := []byte{FormatVersion, 0x93, 0x04, 0x01}
		w.log = append(w.log, bad)
		w.l.Apply(w.idx, bad)
	}
}

func (w *world) endorsementIDs() []string {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	var out []string
	for id := range w.l.endorse {
		out = append(out, id)
	}
	sortStrings(out)
	return out
}

func (w *world) alertIDs() []string {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	var out []string
	for id := range w.l.alertIdx {
		out = append(out, id)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

// run applies n random steps.
func (w *world) run(n int) {
	for i := 0; i < n; i++ {
		w.step()
	}
}

// eval returns the evaluation of a principal at t.
func (w *world) eval(id string, t int64) Evaluation {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	return w.l.evaluate(w.l.principals.get(id), t)
}

// own is the evidence after decay: the score before modifiers,
// endorsements and federation.
func (w *world) own(id string, t int64) int64 {
	w.l.mu.RLock()
	defer w.l.mu.RUnlock()
	p := w.l.principals.get(id)
	if p.Compromised {
		return p.Min
	}
	return p.evidence() - w.l.decayAt(p, t)
}

func (w *world) recordJSON(id string, t int64) string {
	r, ok := w.l.Record(id, t)
	if !ok {
		w.t.Fatalf("no record %s", id)
	}
	b, err := json.Marshal(r)
	if err != nil {
		w.t.Fatalf("marshal record: %v", err)
	}
	return string(b)
}
