package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// signalEntry is one signal kept in a principal's recent window.
type signalEntry struct {
	At int64 // ledger time, ms
	// Event packs the category (top 3 bits) and the index into the
	// ledger's event-name table (low 29 bits).
	Event  uint32
	Impact int32 // milli-points as applied (after escalation/recovery)
}

func (e signalEntry) category() int   { return int(e.Event >> 29) }
func (e signalEntry) eventIndex() int { return int(e.Event & (1<<29 - 1)) }

// historyPoint is one trustHistory point: the record's breakdown after a
// change, and what changed it (history.go).
type historyPoint struct {
	At int64
	// Parts are the shown components then the adjustment, whole points;
	// they add up to the score.
	Parts [NumComponents + 1]int16
	Cause uint8 // an index of historyCauses
	// EventID names the event: a signal's or SET's id, the modifier,
	// endorsement or detection the entry was about.
	EventID string
}

func (h historyPoint) at() int64 { return h.At }

// score is the point's score in µpt.
func (h historyPoint) score() int64 {
	var s int64
	for _, v := range h.Parts {
		s += int64(v)
	}
	return s * Point
}

type modifier struct {
	ID        string
	Delta     int64
	Reason    string
	CreatedAt int64
	ExpiresAt int64
}

type assessment struct {
	PartnerID  string
	EventID    string
	Score      int64
	ValidUntil int64
	IssuedAt   int64
	ReceivedAt int64
	Components []int64
}

// Alert statuses.
const (
	AlertOpen                 = "open"
	AlertAcknowledged         = "acknowledged"
	AlertDismissed            = "dismissed"
	AlertConfirmedCompromised = "confirmed_compromised"
	AlertConfirmedSafe        = "confirmed_safe"
	AlertRemediated           = "remediated"
)

// alert is a detection (detect.go): Severity is its level, Message its
// evidence, Status its state.
type alert struct {
	ID          string
	Type        string
	Severity    string
	RaisedAt    int64
	Message     string
	Status      string
	ReviewedAt  int64
	ReviewedBy  string
	Note        string
	Source      string
	EventIDs    []string
	Transitions []transition
	// Partner is the partner whose SET raised it (source partner).
	Partner string
}

// Cold is the rarely used part of a principal's state: most principals
// share emptyCold (never written) until ownCold gives them their own. It is
// exported only so the snapshot codec can fill it; it is not API.
type Cold struct {
	TrustID     string // empty: "trust_" + ID
	Factors     *[NumComponents][]byte
	Metadata    []byte
	Imported    []byte // federatedTrust carried by an imported record
	Modifiers   []modifier
	Assessments []assessment
	Alerts      []alert
	Endorsed    []string // ids of endorsements received, in creation order
	Endorsing   []string // ids of endorsements given, in creation order
	Privileged  []int64  // times of recent privilege-related events
}

var emptyCold = &Cold{}

func (c *Cold) isZero() bool {
	return c.TrustID == "" && c.Factors == nil && len(c.Metadata) == 0 && len(c.Imported) == 0 && len(c.Modifiers) == 0 &&
		len(c.Assessments) == 0 && len(c.Alerts) == 0 && len(c.Endorsed) == 0 && len(c.Endorsing) == 0 && len(c.Privileged) == 0
}

// ownCold gives p (already mutable) a cold part of its own to write.
func (p *principal) ownCold() {
	if p.Cold == nil || p.Cold == emptyCold {
		p.Cold = &Cold{}
	}
}

// principal is the replicated state of one principal. It is copy-on-write
// across snapshots: a principal whose gen is older than the ledger's is
// cloned before it is changed.
type principal struct {
	gen          uint64
	ID           string
	Type         uint8
	Org          string
	Active       bool
	Compromised  bool
	Frequency    uint8
	Base         int64
	Min, Max     int64
	DecayRate    int64
	RecoveryRate int64
	// V holds the component values (µpt): ≤ the cap, down to -maxDebt, so
	// repeated violations keep lowering the total.
	V           [NumComponents]int64
	FactorScore [NumComponents]int64 // current factor-rule adjustment per component
	Allowance   int64                // recovery allowance, µpt
	AllowanceAt int64
	LastActive  int64 // decay clock
	Registered  int64
	LastEvent   int64 // ledger time of the last event about this principal
	EscCount    [NumComponents]uint16
	EscAt       [NumComponents]int64
	Events      uint32 // ledger events about this principal
	Positive    []signalEntry
	Negative    []signalEntry
	History     []historyPoint
	*Cold
	Failures []int64 // times of recent negative signals, any category
	// Drops is the cumulative-drop window (detect.go).
	Drops []dropPoint
	// Baseline is the principal's own smoothed score (µpt) over its last
	// events, BaselineN the events it has seen (capped).
	Baseline  int64
	BaselineN uint16
}

type org struct {
	ID        string
	Name      string
	Base      int64
	UpdatedAt int64
}

type endorsement struct {
	ID         string
	EndorserID string
	EndorseeID string
	Weight     int64
	Reason     string
	CreatedAt  int64
	ExpiresAt  int64
	Revoked    bool
	RevokedAt  int64
}

type partner struct {
	ID           string
	Issuer       string
	Audience     string
	JWKS         []byte
	Weight       int64
	MaxInfluence int64
	Suspended    bool
	RateLimit    int64
	UpdatedAt    int64
	SSF          PartnerSSF
	Aliases      []SubjectAlias
	// The partner's stream as its SSF events report it: the last
	// verification's state and time, the last stream-updated status.
	Verification   string
	VerifiedAt     int64
	StreamStatus   string
	StreamReason   string
	StreamStatusAt int64
}

// Token is a stored API token (never its secret).
type Token struct {
	ID          string   `json:"id"`
	Hash        []byte   `json:"-"`
	Role        string   `json:"role"`
	PartnerID   string   `json:"partnerId,omitempty"`
	Orgs        []string `json:"orgs,omitempty"`
	Description string   `json:"description,omitempty"`
	CreatedAt   int64    `json:"-"`
	Revoked     bool     `json:"revoked"`
	RevokedAt   int64    `json:"-"`
}

type dedupKey [12]byte

// dedupEpoch is the origin of dedup expiry times, kept in uint32 seconds.
const dedupEpoch = int64(1_577_836_800_000) // 2020-01-01T00:00:00Z

func dedupSeconds(ms int64) uint32 {
	return uint32(clamp((ms-dedupEpoch)/1000, 0, 1<<32-1)) // #nosec G115 -- clamped to the uint32 range
}

// dedupShards is the number of copy-on-write shards of the dedup index: the
// first change to a shard after a snapshot clones it. More, smaller shards
// make that clone cheaper but every lookup slower (1,024 cost 11% of apply
// throughput on BenchmarkApplySignals); high-rate ingest sends producer
// batches, which do not write the index at all.
const dedupShards = 256

// dedupShardOf is the shard of a dedup key: its first byte.
func dedupShardOf(k dedupKey) int { return int(k[0]) }

// dedupSweepShards is how many dedup shards one entry sweeps while a sweep
// runs, so that no entry pays for the whole index.
const dedupSweepShards = 16

type dedupShard struct {
	gen uint64
	m   map[dedupKey]uint32 // expiry, dedupSeconds
}

// Ledger is the replicated trust state machine. Apply must be called from
// one goroutine at a time (Raft's FSM goroutine); readers may call the query
// methods concurrently.
type Ledger struct {
	mu sync.RWMutex

	gen        uint64 // copy-on-write generation, bumped by Snapshot
	index      uint64 // last applied Raft index
	seq        uint64 // ledger event sequence
	now        int64  // ledger time, ms
	digest     [32]byte
	policy     Policy
	principals principalTable
	orgs       map[string]*org
	endorse    map[string]*endorsement
	partners   map[string]*partner
	tokens     map[string]*Token
	tokenHash  map[[32]byte]string
	alertIdx   map[string]string // alert id → principal id
	events     []string          // event-name table
	eventIdx   map[string]uint32
	// dedup maps event-id hashes to the ledger time (ms) they expire at,
	// in 256 copy-on-write shards. Entries past expiry are ignored by
	// lookups and swept lazily.
	dedup     [dedupShards]*dedupShard
	nextSweep int64
	sweepAt   int // the next shard a running sweep takes
	// producers are the idempotent producers' sessions (producer.go), by
	// id; nextProducerSweep is when idle ones are next dropped.
	producers         map[string]producerState
	nextProducerSweep int64
	// producerHorizon is the furthest a sweep forgot (producerTokens, per
	// token, how many sessions it keeps: derived).
	producerHorizon int64
	producerTokens  map[string]int64
	counts          Counters
	// tree is the compact range of the ledger's Merkle tree (tree.go); nil
	// in scratch copies and after restoring a snapshot without it.
	tree *compact.Range
	// labels, in a partial replay (Replay), are the ids the ledger gave
	// the alerts of the entry being applied.
	labels *alertLabels
	// raised collects the detections the entry being applied raised, in
	// the order raised; Apply makes it the entry's result.
	raised []RaisedAlert
	// model is the scoring model of the entry being applied (Entry.Model),
	// ModelVersion between entries.
	model int
	// tx is the SSF transmitter's state (transmit.go).
	tx transmitter
}

// Counters are running totals of ledger activity.
type Counters struct {
	Entries          uint64 `json:"entries"`
	Rejected         uint64 `json:"rejected"`
	SignalsAccepted  uint64 `json:"signalsAccepted"`
	SignalsDuplicate uint64 `json:"signalsDuplicate"`
	SignalsRejected  uint64 `json:"signalsRejected"`
	Alerts           uint64 `json:"alerts"`
}

// NewLedger returns an empty ledger with the default policy.
func NewLedger() *Ledger {
	l := &Ledger{}
	l.reset()
	return l
}

func (l *Ledger) reset() {
	l.gen = 0
	l.index, l.seq, l.now = 0, 0, 0
	l.digest = sha256.Sum256([]byte("trustledger/v1"))
	l.policy = DefaultPolicy()
	l.principals = newPrincipalTable()
	l.orgs = map[string]*org{}
	l.endorse = map[string]*endorsement{}
	l.partners = map[string]*partner{}
	l.tokens = map[string]*Token{}
	l.tokenHash = map[[32]byte]string{}
	l.alertIdx = map[string]string{}
	l.events = nil
	l.eventIdx = map[string]uint32{}
	for i := range l.dedup {
		l.dedup[i] = &dedupShard{m: map[dedupKey]uint32{}}
	}
	l.nextSweep, l.sweepAt = 0, 0
	l.producers, l.nextProducerSweep, l.producerHorizon = map[string]producerState{}, 0, 0
	l.producerTokens = map[string]int64{}
	l.counts = Counters{}
	l.tree = newTree()
	l.model = ModelVersion
	l.tx = newTransmitter()
}

// v1 says whether the entry being applied was written under model 1: its
// detection rules and reviews are model 1's (docs/scoring.md, "Upgrading
// from model 1"), so that the alerts it raises get the ids model 1 gave
// them and the reviews that name those ids find them.
func (l *Ledger) v1() bool { return l.model < 2 }

// AppliedIndex returns the Raft index of the last entry Apply has finished.
func (l *Ledger) AppliedIndex() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.index
}

// Status is a consistent summary of the ledger.
type Status struct {
	AppliedIndex  uint64
	Sequence      uint64
	LedgerTime    int64
	Digest        string
	Principals    int
	Producers     int // idempotent producer sessions kept
	PolicyVersion int64
	ModelVersion  int
	Counters      Counters
}

// Status returns a consistent summary of the ledger.
func (l *Ledger) Status() Status {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return Status{
		AppliedIndex:  l.index,
		Sequence:      l.seq,
		LedgerTime:    l.now,
		Digest:        hex.EncodeToString(l.digest[:]),
		Principals:    l.principals.len(),
		Producers:     len(l.producers),
		PolicyVersion: l.policy.Version,
		ModelVersion:  ModelVersion,
		Counters:      l.counts,
	}
}

// Digest returns the running SHA-256 state digest in hex.
func (l *Ledger) Digest() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return hex.EncodeToString(l.digest[:])
}

// Policy returns the current policy.
func (l *Ledger) Policy() Policy {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return clonePolicy(l.policy)
}

func clonePolicy(p Policy) Policy {
	p.Decision.Permissions = append([]PermissionRule(nil), p.Decision.Permissions...)
	p.Decision.Actions = append([]ActionRule(nil), p.Decision.Actions...)
	p.Decision.UserTokenPartners = append([]string(nil), p.Decision.UserTokenPartners...)
	var rules []ContextRule
	if p.Decision.ContextRules != nil {
		rules = make([]ContextRule, len(p.Decision.ContextRules))
	}
	for i, r := range p.Decision.ContextRules {
		r.When = append([]Condition(nil), r.When...)
		for j := range r.When {
			r.When[j].Values = append([]string(nil), r.When[j].Values...)
		}
		r.RemovePermissions = append([]string(nil), r.RemovePermissions...)
		rules[i] = r
	}
	p.Decision.ContextRules = rules
	routes := p.Decision.Routes
	p.Decision.Routes = nil
	for _, r := range routes {
		r.Methods = append([]string(nil), r.Methods...)
		p.Decision.Routes = append(p.Decision.Routes, r)
	}
	p.Rules = append([]FactorRule(nil), p.Rules...)
	p.PrivilegeEvents = append([]string(nil), p.PrivilegeEvents...)
	p.HoldTypes = append([]string(nil), p.HoldTypes...)
	rems := p.Remediations
	p.Remediations = nil
	for _, r := range rems {
		r.Clears = append([]string(nil), r.Clears...)
		p.Remediations = append(p.Remediations, r)
	}
	return p
}

func dedupHash(ns byte, id string) dedupKey {
	var buf [1 + 2*MaxIDLen + 1]byte
	var sum [32]byte
	if len(id) < len(buf) {
		buf[0] = ns
		n := copy(buf[1:], id)
		sum = sha256.Sum256(buf[:1+n])
	} else {
		h := sha256.New()
		h.Write([]byte{ns})
		h.Write([]byte(id))
		h.Sum(sum[:0])
	}
	var k dedupKey
	copy(k[:], sum[:])
	return k
}

// seen reports whether an event id is inside the dedup window.
func (l *Ledger) seen(k dedupKey) bool { return l.seenAt(k, l.now) }

// seenAt reports whether an event id is inside the dedup window at ledger
// time now.
func (l *Ledger) seenAt(k dedupKey, now int64) bool {
	if dedupBroken {
		return false
	}
	exp, ok := l.dedup[dedupShardOf(k)].m[k]
	return ok && exp > dedupSeconds(now)
}

func (l *Ledger) remember(k dedupKey) {
	i := dedupShardOf(k)
	s := l.dedup[i]
	if s.gen != l.gen {
		s = &dedupShard{gen: l.gen, m: maps.Clone(s.m)}
		l.dedup[i] = s
	}
	s.m[k] = dedupSeconds(l.now + l.policy.DedupWindow)
}

// DedupSize returns the number of event ids held for deduplication,
// including expired ones not yet swept.
func (l *Ledger) DedupSize() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.dedup {
		n += len(s.m)
	}
	return n
}

// sweep drops expired dedup entries, dedupSweepShards shards per entry
// from the time a sweep is due until every shard was swept once. Lookups
// already ignore expired entries, so when a sweep runs changes memory
// only, never results (and the cursor is not part of a snapshot).
func (l *Ledger) sweep() {
	if l.sweepAt == 0 && l.now < l.nextSweep {
		return
	}
	now := dedupSeconds(l.now)
	for n := 0; n < dedupSweepShards && l.sweepAt < dedupShards; n++ {
		i := l.sweepAt
		l.sweepAt++
		s := l.dedup[i]
		expired := false
		for _, exp := range s.m {
			if exp <= now {
				expired = true
				break
			}
		}
		if !expired {
			continue
		}
		if s.gen != l.gen {
			s = &dedupShard{gen: l.gen, m: maps.Clone(s.m)}
			l.dedup[i] = s
		}
		for k, exp := range s.m {
			if exp <= now {
				delete(s.m, k)
			}
		}
	}
	if l.sweepAt == dedupShards {
		l.sweepAt = 0
		l.nextSweep = l.now + l.policy.DedupWindow/8
	}
}

// maxEventNames bounds the event-name table; further names are shown as
// otherEvent in the recent-signal windows (the ledger keeps the real name).
const maxEventNames = 1 << 16

const otherEvent = "(other)"

func (l *Ledger) eventName(s string) uint32 {
	if i, ok := l.eventIdx[s]; ok {
		return i
	}
	if len(l.events) >= maxEventNames && s != otherEvent {
		return l.eventName(otherEvent)
	}
	i := uint32(len(l.events)) // #nosec G115 -- the table holds at most maxEventNames entries
	l.events = append(l.events, s)
	l.eventIdx[s] = i
	return i
}

// mutable returns p ready for change, cloning it if a snapshot holds it.
func (l *Ledger) mutable(p *principal) *principal {
	if p.gen == l.gen {
		l.noteBaseline(p)
		return p
	}
	c := *p
	c.gen = l.gen
	c.Positive = append([]signalEntry(nil), p.Positive...)
	c.Negative = append([]signalEntry(nil), p.Negative...)
	c.History = append([]historyPoint(nil), p.History...)
	if p.Cold != emptyCold {
		cc := *p.Cold
		cc.Modifiers = append([]modifier(nil), cc.Modifiers...)
		cc.Assessments = append([]assessment(nil), cc.Assessments...)
		cc.Alerts = append([]alert(nil), cc.Alerts...)
		cc.Privileged = append([]int64(nil), cc.Privileged...)
		cc.Endorsed = append([]string(nil), cc.Endorsed...)
		cc.Endorsing = append([]string(nil), cc.Endorsing...)
		c.Cold = &cc
	}
	c.Failures = append([]int64(nil), p.Failures...)
	c.Drops = append([]dropPoint(nil), p.Drops...)
	l.principals.set(l.gen, &c)
	l.noteBaseline(&c)
	return &c
}
