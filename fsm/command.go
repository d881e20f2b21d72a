package fsm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// FormatVersion is the first byte of every encoded ledger entry.
const FormatVersion byte = 1

// Kind names a ledger command.
type Kind uint8

// The ledger commands (docs/architecture.md, "Commands"). Values are part
// of the log format: never renumber them.
const (
	KindRegisterPrincipal Kind = 1
	KindUpdatePrincipal   Kind = 2
	KindSetOrg            Kind = 3
	KindRecordSignals     Kind = 4
	KindReportFactors     Kind = 5
	KindAddEndorsement    Kind = 6
	KindRevokeEndorsement Kind = 7
	KindRecordAssessment  Kind = 8
	KindUpsertPartner     Kind = 9
	KindRemovePartner     Kind = 10
	KindSetPolicy         Kind = 11
	KindAddModifier       Kind = 12
	KindReviewAlert       Kind = 13
	KindCreateToken       Kind = 14
	KindRevokeToken       Kind = 15
	KindImportRecord      Kind = 16
	KindFederatedEvent    Kind = 17
	KindRemoveModifier    Kind = 18
	KindPutStream         Kind = 19
	KindDeleteStream      Kind = 20
	KindSetStreamStatus   Kind = 21
	KindStreamSubject     Kind = 22
	KindVerifyStream      Kind = 23
	KindStreamDelivery    Kind = 24
	KindPublishKeys       Kind = 25
	KindPartnerStream     Kind = 26
)

// KindLast is the highest command kind.
const KindLast = KindPartnerStream

// commandSpec is one row of the command table: everything the ledger
// knows about a kind of command.
type commandSpec struct {
	name string // as used in the ledger API
	// new returns an empty command of the kind, to decode a body into.
	new func() Command
	// check reads the state and returns the rejection Apply would give
	// the command (nil: accepted); it changes nothing.
	check func(r *rules, cmd Command) error
	// apply changes the state for a command whose check passed; it cannot
	// fail, so a rejected entry changes nothing.
	apply func(l *Ledger, cmd Command, actor string, res *Result)
	// event, when set, names the single per-event result (a SET's jti)
	// the entry answers with, accepted or not.
	event func(cmd Command) string
	// tidy, when set, is housekeeping of ledger time that Apply runs
	// before the check, whether the check then passes or not (expired
	// endorsements and modifiers dropped): a function of the state and
	// the entry's ledger time, the same on every node. It names the
	// principals it tidied in res.Subjects, so that a refused entry that
	// changed their records is found among their entries.
	tidy func(l *Ledger, r *rules, cmd Command, res *Result)
}

// commandTable is the table of ledger commands, indexed by Kind. Adding a
// command takes its Kind constant, its struct (with its Kind method) and
// one row here naming its check and apply functions.
var commandTable = [...]commandSpec{
	KindRegisterPrincipal: command("register_principal", (*rules).register, (*Ledger).applyRegister),
	KindUpdatePrincipal:   command("update_principal", (*rules).update, (*Ledger).applyUpdate),
	KindSetOrg:            command("set_org", (*rules).setOrg, (*Ledger).applySetOrg),
	KindRecordSignals:     commandByActor("record_signals", (*rules).signals, (*Ledger).applySignals),
	KindReportFactors:     command("report_factors", (*rules).factors, (*Ledger).applyFactors),
	KindAddEndorsement: withTidy(command("add_endorsement", (*rules).endorse, (*Ledger).applyEndorse),
		(*Ledger).tidyEndorse),
	KindRevokeEndorsement: command("revoke_endorsement", (*rules).revokeEndorsement, (*Ledger).applyRevokeEndorsement),
	KindRecordAssessment: withEvent(command("record_assessment", (*rules).assessment, (*Ledger).applyAssessment),
		func(c *RecordAssessment) string { return c.EventID }),
	KindUpsertPartner: command("upsert_partner", (*rules).upsertPartner, (*Ledger).applyUpsertPartner),
	KindRemovePartner: command("remove_partner", (*rules).removePartner, (*Ledger).applyRemovePartner),
	KindSetPolicy:     command("set_policy", (*rules).setPolicy, (*Ledger).applySetPolicy),
	KindAddModifier: withTidy(command("add_modifier", (*rules).modifier, (*Ledger).applyModifier),
		(*Ledger).tidyModifier),
	KindReviewAlert:  commandByActor("review_alert", (*rules).review, (*Ledger).applyReview),
	KindCreateToken:  command("create_token", (*rules).createToken, (*Ledger).applyCreateToken),
	KindRevokeToken:  command("revoke_token", (*rules).revokeToken, (*Ledger).applyRevokeToken),
	KindImportRecord: command("import_record", (*rules).importRecord, (*Ledger).applyImport),
	KindFederatedEvent: withEvent(command("federated_event", (*rules).federatedEvent, (*Ledger).applyFederatedEvent),
		func(c *FederatedEvent) string { return c.EventID }),
	KindRemoveModifier: command("remove_modifier", (*rules).removeModifier, (*Ledger).applyRemoveModifier),
	KindPutStream:      commandByActor("put_stream", (*rules).putStream, (*Ledger).applyPutStream),
	KindDeleteStream:   command("delete_stream", (*rules).deleteStream, (*Ledger).applyDeleteStream),
	KindSetStreamStatus: commandByActor("set_stream_status", (*rules).setStreamStatus,
		(*Ledger).applySetStreamStatus),
	KindStreamSubject:  command("stream_subject", (*rules).streamSubject, (*Ledger).applyStreamSubject),
	KindVerifyStream:   command("verify_stream", (*rules).verifyStream, (*Ledger).applyVerifyStream),
	KindStreamDelivery: command("stream_delivery", (*rules).streamDelivery, (*Ledger).applyStreamDelivery),
	KindPublishKeys:    command("publish_keys", (*rules).publishKeys, (*Ledger).applyPublishKeys),
	KindPartnerStream: withEvent(command("partner_stream_event", (*rules).partnerStream, (*Ledger).applyPartnerStream),
		func(c *PartnerStreamEvent) string { return c.EventID }),
}

// commandPtr is the pointer to a command struct C.
type commandPtr[C any] interface {
	*C
	Command
}

// command makes a row of the command table from typed check and apply
// functions.
func command[C any, P commandPtr[C]](name string, check func(*rules, P) error, apply func(*Ledger, P, *Result)) commandSpec {
	return commandByActor(name, check, func(l *Ledger, c P, _ string, res *Result) { apply(l, c, res) })
}

// commandByActor is command for an apply that needs the writing token.
func commandByActor[C any, P commandPtr[C]](name string, check func(*rules, P) error,
	apply func(*Ledger, P, string, *Result)) commandSpec {
	return commandSpec{
		name: name,
		new:  func() Command { return P(new(C)) },
		check: func(r *rules, c Command) error {
			typed, ok := c.(P)
			if !ok { // a command value, say, rather than a pointer
				return fmt.Errorf("%w: %s: a %T is not a %T", ErrFormat, name, c, typed)
			}
			return check(r, typed)
		},
		apply: func(l *Ledger, c Command, actor string, res *Result) { apply(l, c.(P), actor, res) },
	}
}

// withTidy gives a row the housekeeping Apply runs before its check.
func withTidy[C any, P commandPtr[C]](s commandSpec, tidy func(*Ledger, *rules, P, *Result)) commandSpec {
	s.tidy = func(l *Ledger, r *rules, c Command, res *Result) {
		if typed, ok := c.(P); ok {
			tidy(l, r, typed, res)
		}
	}
	return s
}

// withEvent marks a row whose entries answer one per-event result.
func withEvent[C any, P commandPtr[C]](s commandSpec, id func(P) string) commandSpec {
	s.event = func(c Command) string { return id(c.(P)) }
	return s
}

// specOf returns the table row of a kind.
func specOf(k Kind) (*commandSpec, error) {
	if int(k) < len(commandTable) && commandTable[k].new != nil {
		return &commandTable[k], nil
	}
	return nil, fmt.Errorf("%w: unknown command kind %d", ErrFormat, k)
}

// String returns the command's name as used in the ledger API.
func (k Kind) String() string {
	if s, err := specOf(k); err == nil {
		return s.name
	}
	return fmt.Sprintf("unknown_%d", uint8(k))
}

// Command is a ledger command body. Each command type returns its Kind.
type Command interface {
	Kind() Kind
}

// Entry is one ledger entry as it travels through Raft.
type Entry struct {
	Kind Kind
	// Stamp is the leader's wall clock in Unix milliseconds when it proposed
	// the entry. The ledger uses max(previous ledger time, Stamp).
	Stamp int64
	// Actor is the id of the token that wrote the entry (audit only).
	Actor string
	// Model is the scoring model the writer ran: Apply applies the entry
	// under that model's rules (docs/architecture.md, "Entries"), so an
	// entry means what it meant when it was written, whatever model
	// replays it. An envelope of 4 elements is model 1's.
	Model int
	Body  msgpack.RawMessage
}

// Field value limits shared by validation and Apply.
const (
	MaxIDLen          = 128
	MaxEventNameLen   = 128
	MaxSignalsPerCmd  = 10_000
	MaxJSONFieldBytes = 16 << 10
	MaxTextLen        = 1024
)

// Signal categories: the five score components.
const (
	CategoryAuthentication = "authentication"
	CategoryBehavior       = "behavior"
	CategoryCompliance     = "compliance"
	CategoryHistory        = "history"
	CategoryContext        = "context"
)

// Categories are the five score components, in breakdown order.
var Categories = [NumComponents]string{CategoryAuthentication, CategoryBehavior, CategoryCompliance, CategoryHistory, CategoryContext}

// NumComponents is the number of score components.
const NumComponents = 5

// CategoryIndex returns the component index of a category name.
func CategoryIndex(name string) (int, bool) {
	for i, c := range Categories {
		if c == name {
			return i, true
		}
	}
	return 0, false
}

// PrincipalTypes are the principal types, in enum order.
var PrincipalTypes = []string{"user", "service", "device", "application", "network"}

// PrincipalTypeIndex returns the index of a principal type name.
func PrincipalTypeIndex(name string) (int, bool) {
	for i, c := range PrincipalTypes {
		if c == name {
			return i, true
		}
	}
	return 0, false
}

// AssessmentFrequencies are the accepted assessmentFrequency values and their
// period in milliseconds.
var AssessmentFrequencies = []struct {
	Name   string
	Period int64
}{
	{"continuous", 5 * 60_000},
	{"hourly", hourMS},
	{"daily", 24 * hourMS},
	{"weekly", 7 * 24 * hourMS},
	{"monthly", 30 * 24 * hourMS},
}

func frequencyIndex(name string) (int, bool) {
	for i, f := range AssessmentFrequencies {
		if f.Name == name {
			return i, true
		}
	}
	return 0, false
}

// Opt is an optional int64 (absent when Set is false).
type Opt struct {
	Set bool
	V   int64
}

// Some returns a set Opt.
func Some(v int64) Opt { return Opt{Set: true, V: v} }

// RegisterPrincipal registers a principal (POST /v1/principals).
type RegisterPrincipal struct {
	PrincipalID   string
	PrincipalType string
	OrgID         string
	Base          Opt    `view:"baseTrustScore,points"`    // µpt
	Min           Opt    `view:"minTrustScore,points"`     // µpt
	Max           Opt    `view:"maxTrustScore,points"`     // µpt
	DecayRate     Opt    `view:"trustDecayRate,points"`    // µpt per hour
	RecoveryRate  Opt    `view:"trustRecoveryRate,points"` // µpt per hour
	Frequency     string `view:"assessmentFrequency"`
	Inactive      bool
	Metadata      []byte // JSON object or empty
}

// UpdatePrincipal changes a principal's settings; unset fields are kept.
type UpdatePrincipal struct {
	PrincipalID  string
	OrgID        *string
	Min          Opt    `view:"minTrustScore,points"`
	Max          Opt    `view:"maxTrustScore,points"`
	DecayRate    Opt    `view:"trustDecayRate,points"`
	RecoveryRate Opt    `view:"trustRecoveryRate,points"`
	Frequency    string `view:"assessmentFrequency"`
	Active       *bool  `view:"isActive"`
	Metadata     []byte
}

// SetOrg sets an organization's baseline.
type SetOrg struct {
	OrgID string
	Name  string
	Base  int64 `view:"baseTrustScore,points"` // µpt
}

// Signal is one trust signal.
type Signal struct {
	EventID     string
	PrincipalID string
	Event       string
	Category    uint8 `view:",category"`
	Impact      int64 `view:",points"` // µpt, signed
	ObservedAt  int64 `view:",time"`   // Unix ms, 0 when absent
	Attributes  []byte
}

// RecordSignals records a batch of signals.
type RecordSignals struct {
	Signals []Signal
	// Producer, when set, makes the batch idempotent as a whole
	// (producer.go): its event ids are then not kept.
	Producer *Producer
}

// ReportFactors replaces the factor reports that are present.
type ReportFactors struct {
	PrincipalID           string
	AuthenticationFactors []byte
	BehaviorMetrics       []byte
	ComplianceStatus      []byte
	RiskIndicators        []byte
	Context               []byte
}

// AddEndorsement has one principal vouch for another.
type AddEndorsement struct {
	EndorserID string
	EndorseeID string
	Weight     Opt `view:",points"` // µpt
	Reason     string
	ExpiresAt  int64 `view:",time"`
}

// RevokeEndorsement revokes an endorsement.
type RevokeEndorsement struct {
	EndorsementID string
}

// RecordAssessment records a federated assessment from a partner.
type RecordAssessment struct {
	EventID     string `view:"jti"` // the SET's jti
	PartnerID   string
	PrincipalID string
	Score       int64   `view:",points"` // µpt
	ValidUntil  int64   `view:",time"`
	IssuedAt    int64   `view:",time"`
	Components  []int64 `view:",points"` // optional, µpt each
}

// FederatedEvent records one verified Security Event Token (RFC 8417) from a
// partner, atomically: the (partner, jti) pair is deduplicated for the
// dedup window, then the partner's assessment of the principal is set
// (Score) or withdrawn (Clear), and an alert may be raised. A partner moves
// scores only through its assessment, so its influence stays within its
// weight and maximum influence.
type FederatedEvent struct {
	EventID     string `view:"jti"` // the SET's jti
	PartnerID   string
	PrincipalID string
	EventType   string  // the event type URI, kept for the record
	IssuedAt    int64   `view:",time"`   // the SET's iat, Unix ms
	Score       Opt     `view:",points"` // µpt: the partner's assessment after this event
	ValidUntil  int64   `view:",time"`   // when Score is set
	Components  []int64 `view:",points"`
	Clear       bool    // withdraw the partner's assessment
	AlertType   string  // optional alert to raise
	Severity    string
	Message     string
}

// UpsertPartner creates or replaces a federation partner.
type UpsertPartner struct {
	PartnerID    string
	Issuer       string
	Audience     string
	JWKS         []byte
	Weight       int64 `view:",fraction"` // parts per million, 0..1,000,000
	MaxInfluence int64 `view:",points"`   // µpt
	Suspended    bool
	RateLimit    int64 // SETs per second, 0 = default
	// SSF, for a partner registered from its transmitter's configuration,
	// is how the partner is reached; Aliases map the partner's subjects
	// to principal ids.
	SSF     PartnerSSF
	Aliases []SubjectAlias
}

// PartnerSSF is how a partner registered from its SSF transmitter's
// configuration is reached (docs/federation.md, "Registering a partner
// from its transmitter").
type PartnerSSF struct {
	ConfigURL string `view:"configurationUrl"`
	JWKSURI   string `view:"jwksUri"`
	StreamID  string
	Delivery  string // "push" or "poll"
	PollURL   string `view:"pollUrl"`
	// Auth is the Authorization header value for the transmitter's stream
	// management and poll endpoints.
	Auth string `view:"auth,redacted"`
	// TokenID names the partner token minted for the partner's pushes.
	TokenID string
	// VerifyState is the state of the verification this cluster asked the
	// transmitter for: only a verification event echoing it is recorded.
	VerifyState string
}

// SubjectAlias maps a subject of a partner's SETs — "email:<address>" or
// "iss_sub:<iss> <sub>" — to a principal id.
type SubjectAlias struct {
	Subject     string
	PrincipalID string
}

// MaxAliases bounds a partner's subject aliases.
const MaxAliases = 10_000

// PartnerStreamEvent records an SSF event about a partner's stream that
// moves no score: a verification event (its state) or a stream-updated
// event (the stream's status as the transmitter reports it).
type PartnerStreamEvent struct {
	EventID   string `view:"jti"`
	PartnerID string
	IssuedAt  int64 `view:",time"`
	Type      string
	State     string
	Status    string
	Reason    string
}

// RemovePartner removes a federation partner.
type RemovePartner struct {
	PartnerID string
}

// SetPolicy replaces the scoring and decision policy.
type SetPolicy struct {
	Policy Policy
}

// AddModifier adds a temporary modifier to a principal's score.
type AddModifier struct {
	PrincipalID string
	Delta       int64 `view:",points"` // µpt
	Reason      string
	ExpiresAt   int64 `view:",time"`
}

// RemoveModifier removes a temporary modifier before it expires.
type RemoveModifier struct {
	PrincipalID string
	ModifierID  string
}

// Review actions for alerts.
const (
	ReviewAcknowledge        = "acknowledge"
	ReviewDismiss            = "dismiss"
	ReviewConfirmCompromised = "confirm-compromised"
	ReviewConfirmSafe        = "confirm-safe"
	ReviewRemediate          = "remediate"
)

// ReviewAlert records an operator's review of an alert.
type ReviewAlert struct {
	AlertID string
	Action  string
	Note    string
}

// Roles of API tokens (docs/api.md, "Authentication and roles").
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleWriter   = "writer"
	RoleReader   = "reader"
	RolePartner  = "partner"
	RoleAuditor  = "auditor"
	// RoleGateway asks for decisions only (a reverse proxy or policy
	// engine enforcing them).
	RoleGateway = "gateway"
	// RoleAnalyst reads what a reader reads, reviews alerts and sets
	// temporary modifiers; no policy, token or cluster rights.
	RoleAnalyst = "analyst"
)

// Roles lists the token roles.
var Roles = []string{RoleAdmin, RoleOperator, RoleWriter, RoleReader, RolePartner, RoleAuditor, RoleGateway, RoleAnalyst, RoleReceiver}

// CreateToken stores a new API token (only its SHA-256 hash).
type CreateToken struct {
	TokenID     string `view:"id"`
	Hash        []byte `view:"secretHash,redacted"` // SHA-256 of the secret, 32 bytes
	Role        string
	PartnerID   string
	Orgs        []string
	Description string
}

// RevokeToken revokes an API token.
type RevokeToken struct {
	TokenID string
}

// ImportRecord imports a PrincipalTrust record in the original format,
// already normalised by the caller.
type ImportRecord struct {
	TrustID          string
	PrincipalID      string
	PrincipalType    string
	OrgID            string
	Components       []int64 `view:",points"`           // µpt per component; empty = apportion Score
	Score            int64   `view:"trustScore,points"` // µpt
	Base             Opt     `view:"baseTrustScore,points"`
	Min              Opt     `view:"minTrustScore,points"`
	Max              Opt     `view:"maxTrustScore,points"`
	DecayRate        Opt     `view:"trustDecayRate,points"`
	RecoveryRate     Opt     `view:"trustRecoveryRate,points"`
	Frequency        string  `view:"assessmentFrequency"`
	Inactive         bool    `view:"inactive"`
	RequiresReview   bool
	Factors          [NumComponents][]byte `view:",factors"`
	Positive         []ImportedSignal      `view:"positiveSignals"`
	Negative         []ImportedSignal      `view:"negativeSignals"`
	History          []ImportedPoint       `view:"trustHistory"`
	FederatedTrust   []byte
	Metadata         []byte
	LastAssessmentAt int64 `view:",time"`
	// Modifiers are the record's temporary modifiers still in force: the
	// imported score reflects them, so the evidence is imported without
	// them and they expire as they would have (model 2; an entry of model
	// 1 has none, codec.go).
	Modifiers []ImportedModifier `view:"trustModifiers"`
}

// ImportedModifier is one temporary modifier of an imported record.
type ImportedModifier struct {
	Delta     int64 `view:",points"`
	Reason    string
	ExpiresAt int64 `view:",time"`
}

// ImportedSignal is a signal from an imported record's signal lists.
type ImportedSignal struct {
	Event    string
	At       int64 `view:"timestamp,time"`
	Impact   int64 `view:",points"`
	Category uint8 `view:",category"`
}

// ImportedPoint is one imported history point.
type ImportedPoint struct {
	At    int64 `view:"timestamp,time"`
	Score int64 `view:",points"`
}

// Kind implementations: each command is filed under its Kind in
// commandTable (TestCommandTableRowsMatchKinds holds the two together).
func (RegisterPrincipal) Kind() Kind  { return KindRegisterPrincipal }
func (UpdatePrincipal) Kind() Kind    { return KindUpdatePrincipal }
func (SetOrg) Kind() Kind             { return KindSetOrg }
func (RecordSignals) Kind() Kind      { return KindRecordSignals }
func (ReportFactors) Kind() Kind      { return KindReportFactors }
func (AddEndorsement) Kind() Kind     { return KindAddEndorsement }
func (RevokeEndorsement) Kind() Kind  { return KindRevokeEndorsement }
func (RecordAssessment) Kind() Kind   { return KindRecordAssessment }
func (UpsertPartner) Kind() Kind      { return KindUpsertPartner }
func (RemovePartner) Kind() Kind      { return KindRemovePartner }
func (SetPolicy) Kind() Kind          { return KindSetPolicy }
func (AddModifier) Kind() Kind        { return KindAddModifier }
func (ReviewAlert) Kind() Kind        { return KindReviewAlert }
func (CreateToken) Kind() Kind        { return KindCreateToken }
func (RevokeToken) Kind() Kind        { return KindRevokeToken }
func (ImportRecord) Kind() Kind       { return KindImportRecord }
func (FederatedEvent) Kind() Kind     { return KindFederatedEvent }
func (RemoveModifier) Kind() Kind     { return KindRemoveModifier }
func (PartnerStreamEvent) Kind() Kind { return KindPartnerStream }

// EncodeEntry encodes a command as a ledger entry stamped with ledger time
// stamp (Unix ms) and the writing token's id.
func EncodeEntry(cmd Command, stamp int64, actor string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(FormatVersion)
	enc := msgpack.NewEncoder(&buf)
	// Structs travel as positional arrays: smaller and faster to decode.
	enc.UseArrayEncodedStructs(true)
	enc.UseCompactInts(true)
	if err := enc.EncodeArrayLen(5); err != nil {
		return nil, err
	}
	if err := enc.EncodeUint8(uint8(cmd.Kind())); err != nil {
		return nil, err
	}
	if err := enc.EncodeInt(stamp); err != nil {
		return nil, err
	}
	if err := enc.EncodeString(actor); err != nil {
		return nil, err
	}
	if err := enc.EncodeUint8(ModelVersion); err != nil {
		return nil, err
	}
	if err := enc.Encode(cmd); err != nil {
		return nil, fmt.Errorf("encode %s: %w", cmd.Kind(), err)
	}
	return buf.Bytes(), nil
}

// ErrFormat reports an entry that cannot be decoded.
var ErrFormat = errors.New("malformed ledger entry")

// DecodeEntry decodes the envelope of a ledger entry. The returned Body
// shares memory with data.
func DecodeEntry(data []byte) (Entry, error) {
	var e Entry
	if len(data) < 2 {
		return e, fmt.Errorf("%w: too short", ErrFormat)
	}
	if data[0] != FormatVersion {
		return e, fmt.Errorf("%w: unknown format version %d", ErrFormat, data[0])
	}
	r := bytes.NewReader(data[1:])
	d := msgpack.NewDecoder(r)
	n, err := d.DecodeArrayLen()
	if err != nil || n != 4 && n != 5 {
		return e, fmt.Errorf("%w: envelope must be a 4- or 5-element array", ErrFormat)
	}
	k, err := d.DecodeUint8()
	if err != nil {
		return e, fmt.Errorf("%w: kind: %v", ErrFormat, err)
	}
	e.Kind = Kind(k)
	if e.Stamp, err = d.DecodeInt64(); err != nil {
		return e, fmt.Errorf("%w: stamp: %v", ErrFormat, err)
	}
	if e.Actor, err = d.DecodeString(); err != nil {
		return e, fmt.Errorf("%w: actor: %v", ErrFormat, err)
	}
	e.Model = 1
	if n == 5 {
		m, err := d.DecodeUint8()
		if err != nil || m < 2 || int(m) > ModelVersion {
			return e, fmt.Errorf("%w: model: an entry of scoring model %d, this build runs models 1 to %d", ErrFormat, m, ModelVersion)
		}
		e.Model = int(m)
	}
	// The body is the rest of the entry: one msgpack value (a bin or raw).
	rest := data[len(data)-r.Len():]
	if len(rest) == 0 {
		return e, fmt.Errorf("%w: missing body", ErrFormat)
	}
	e.Body = rest
	return e, nil
}

// DecodeCommand decodes the body of an entry into its command.
func DecodeCommand(e Entry) (Command, error) {
	spec, err := specOf(e.Kind)
	if err != nil {
		return nil, err
	}
	return spec.decode(e)
}

// decode decodes an entry's body into a command of the row's kind.
func (s *commandSpec) decode(e Entry) (Command, error) {
	cmd := s.new()
	if err := checkMsgpack(e.Body); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, e.Kind, err)
	}
	if err := msgpack.Unmarshal(e.Body, cmd); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, e.Kind, err)
	}
	return cmd, nil
}
