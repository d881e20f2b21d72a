package fsm

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Hand-written msgpack codec for the hot path: RecordSignals. The wire
// format is exactly what the reflective as_array encoding of its first
// field produces (a 1-element array holding an array of 7-element signal
// arrays), so entries written either way decode the same; a batch with a
// producer has a second element, the producer's [id, epoch, sequence].

var (
	_ msgpack.CustomDecoder = (*RecordSignals)(nil)
	_ msgpack.CustomEncoder = (*RecordSignals)(nil)
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (c *RecordSignals) EncodeMsgpack(e *msgpack.Encoder) error {
	fields := 1
	if c.Producer != nil {
		fields = 2
	}
	if err := e.EncodeArrayLen(fields); err != nil {
		return err
	}
	if err := c.encodeSignals(e); err != nil {
		return err
	}
	if c.Producer == nil {
		return nil
	}
	p := c.Producer
	return encodeFields(e, []any{&p.ID, &p.Epoch, &p.Sequence})
}

func (c *RecordSignals) encodeSignals(e *msgpack.Encoder) error {
	if c.Signals == nil {
		return e.EncodeNil()
	}
	if err := e.EncodeArrayLen(len(c.Signals)); err != nil {
		return err
	}
	for i := range c.Signals {
		s := &c.Signals[i]
		if err := e.EncodeArrayLen(7); err != nil {
			return err
		}
		if err := e.EncodeString(s.EventID); err != nil {
			return err
		}
		if err := e.EncodeString(s.PrincipalID); err != nil {
			return err
		}
		if err := e.EncodeString(s.Event); err != nil {
			return err
		}
		if err := e.EncodeUint8(s.Category); err != nil {
			return err
		}
		if err := e.EncodeInt(s.Impact); err != nil {
			return err
		}
		if err := e.EncodeInt(s.ObservedAt); err != nil {
			return err
		}
		if s.Attributes == nil {
			if err := e.EncodeNil(); err != nil {
				return err
			}
		} else if err := e.EncodeBytes(s.Attributes); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *RecordSignals) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != 1 && n != 2 {
		return fmt.Errorf("record_signals: want 1 or 2 fields, got %d", n)
	}
	if err := c.decodeSignals(d); err != nil {
		return err
	}
	c.Producer = nil
	if n == 2 {
		p := &Producer{}
		if err := decodeFields(d, "producer", []any{&p.ID, &p.Epoch, &p.Sequence}, 3); err != nil {
			return err
		}
		c.Producer = p
	}
	return nil
}

func (c *RecordSignals) decodeSignals(d *msgpack.Decoder) error {
	m, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if m < 0 {
		c.Signals = nil
		return nil
	}
	if m > MaxSignalsPerCmd {
		return fmt.Errorf("record_signals: %d signals, at most %d", m, MaxSignalsPerCmd)
	}
	c.Signals = make([]Signal, m)
	for i := range c.Signals {
		s := &c.Signals[i]
		f, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if f != 7 {
			return fmt.Errorf("record_signals: signal %d has %d fields, want 7", i, f)
		}
		if s.EventID, err = d.DecodeString(); err != nil {
			return err
		}
		if s.PrincipalID, err = d.DecodeString(); err != nil {
			return err
		}
		if s.Event, err = d.DecodeString(); err != nil {
			return err
		}
		if s.Category, err = d.DecodeUint8(); err != nil {
			return err
		}
		if s.Impact, err = d.DecodeInt64(); err != nil {
			return err
		}
		if s.ObservedAt, err = d.DecodeInt64(); err != nil {
			return err
		}
		if s.Attributes, err = d.DecodeBytes(); err != nil {
			return err
		}
	}
	return nil
}

// DecisionPolicy is encoded as the array of its fields, like every struct
// of the ledger; it decodes from the five fields it had before the action
// map, context rules and routes (SetPolicy entries and snapshots written
// then), which leaves those empty, and from the seven before routes.
var (
	_ msgpack.CustomDecoder = (*DecisionPolicy)(nil)
	_ msgpack.CustomEncoder = DecisionPolicy{}
)

// The versions of the DecisionPolicy encoding: 5 fields before the action
// map, 7 with it and the context rules, 8 with routes, 9 with the partners
// whose user tokens are accepted.
// 10 with the hold decision (model 2).
var decisionPolicyFieldCounts = []int{5, 7, 8, 9, 10}

func (d *DecisionPolicy) fields() []any {
	return []any{&d.Allow, &d.StepUp, &d.SessionMax, &d.IdleTimeout, &d.Permissions, &d.Actions, &d.ContextRules, &d.Routes,
		&d.UserTokenPartners, &d.Hold}
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (d DecisionPolicy) EncodeMsgpack(e *msgpack.Encoder) error { return encodeFields(e, d.fields()) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (d *DecisionPolicy) DecodeMsgpack(dec *msgpack.Decoder) error {
	// The hold decision of an older encoding is the built-in one.
	*d = DecisionPolicy{Hold: DefaultPolicy().Decision.Hold}
	return decodeFields(dec, "decision policy", d.fields(), decisionPolicyFieldCounts...)
}

// Policy is encoded as the array of its fields; it decodes from the 35
// fields it had under model 1 (set_policy entries written then), the
// fields it lacks taking the built-in values.
var (
	_ msgpack.CustomDecoder = (*Policy)(nil)
	_ msgpack.CustomEncoder = Policy{}
)

// policyModel1Fields is the number of fields of a model-1 policy;
// policyDetectionFields that of model 2 before the producer fields.
const (
	policyModel1Fields    = 35
	policyDetectionFields = 45
)

// fields returns pointers to p's fields in declaration order: the order of
// the array encoding (TestPolicyCodecMatchesReflection holds the two
// together).
func (p *Policy) fields() []any {
	return []any{&p.Version, &p.Caps, &p.Thresholds, &p.TypeBase, &p.DefaultMin, &p.DefaultMax, &p.DefaultDecayRate,
		&p.DefaultRecoveryRate, &p.DecayGrace, &p.RecoveryBurst, &p.EscalationWindow, &p.EscalationStep, &p.EscalationMax,
		&p.DedupWindow, &p.FutureSkew, &p.EndorseThreshold, &p.EndorseDefaultWeight, &p.EndorseMaxWeight, &p.EndorserBudget,
		&p.EndorseCap, &p.EndorseHops, &p.FederationCap, &p.SignalWindow, &p.HistoryWindow, &p.AlertWindow, &p.ModifierLimit,
		&p.SharpDrop, &p.AnomalyThreshold, &p.BurstCount, &p.BurstWindow, &p.TrendWindow, &p.TrendDelta, &p.VolatileSwings,
		&p.Decision, &p.Rules,
		// model 2
		&p.CumulativeDrop, &p.CumulativeWindow, &p.BaselineDeviation, &p.BaselineMinEvents, &p.BaselineSmoothing,
		&p.PrivilegeEvents, &p.PrivilegeBurst, &p.PrivilegeWindow, &p.HoldTypes, &p.Remediations, &p.ProducerExpiry, &p.MaxProducers}
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (p Policy) EncodeMsgpack(e *msgpack.Encoder) error { return encodeFields(e, p.fields()) }

// DecodeMsgpack implements msgpack.CustomDecoder. The fields decode into
// zero values (msgpack leaves a slice it decodes nil into as it was, so an
// empty list must not start as the built-in one); the fields an older
// encoding lacks then take the built-in values.
func (p *Policy) DecodeMsgpack(dec *msgpack.Decoder) error {
	*p = Policy{}
	fields := p.fields()
	n, err := decodeFieldCount(dec, "policy", len(fields), policyModel1Fields, policyDetectionFields, len(fields))
	if err != nil {
		return err
	}
	if err := decodeInto(dec, fields[:n]); err != nil {
		return err
	}
	def := DefaultPolicy()
	for i, f := range def.fields()[n:] {
		b, err := msgpack.Marshal(f)
		if err != nil {
			return err
		}
		if err := msgpack.Unmarshal(b, fields[n+i]); err != nil {
			return err
		}
	}
	return nil
}

// ImportRecord is encoded as the array of its fields; it decodes from the
// 21 fields it had under model 1 (no modifiers).
var (
	_ msgpack.CustomDecoder = (*ImportRecord)(nil)
	_ msgpack.CustomEncoder = ImportRecord{}
)

const importRecordModel1Fields = 21

// fields returns pointers to c's fields in declaration order
// (TestImportRecordCodecMatchesReflection).
func (c *ImportRecord) fields() []any {
	return []any{&c.TrustID, &c.PrincipalID, &c.PrincipalType, &c.OrgID, &c.Components, &c.Score, &c.Base, &c.Min, &c.Max,
		&c.DecayRate, &c.RecoveryRate, &c.Frequency, &c.Inactive, &c.RequiresReview, &c.Factors, &c.Positive, &c.Negative,
		&c.History, &c.FederatedTrust, &c.Metadata, &c.LastAssessmentAt,
		// model 2
		&c.Modifiers}
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (c ImportRecord) EncodeMsgpack(e *msgpack.Encoder) error { return encodeFields(e, c.fields()) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *ImportRecord) DecodeMsgpack(dec *msgpack.Decoder) error {
	*c = ImportRecord{}
	fields := c.fields()
	return decodeFields(dec, "import_record", fields, importRecordModel1Fields, len(fields))
}

// encodeFields encodes a struct as the array of its fields (pointers to
// them, in declaration order), as the reflective as_array encoding does.
func encodeFields(e *msgpack.Encoder, fields []any) error {
	if err := e.EncodeArrayLen(len(fields)); err != nil {
		return err
	}
	for _, f := range fields {
		if err := e.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// decodeFields decodes an array of one of the known field counts into the
// first fields (pointers, in declaration order); the others keep what
// they hold.
func decodeFields(dec *msgpack.Decoder, name string, fields []any, counts ...int) error {
	n, err := decodeFieldCount(dec, name, len(fields), counts...)
	if err != nil {
		return err
	}
	return decodeInto(dec, fields[:n])
}

// decodeFieldCount reads an array header that must hold one of counts
// fields (at most max).
func decodeFieldCount(dec *msgpack.Decoder, name string, most int, counts ...int) (int, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	for _, c := range counts {
		if c == n && n <= most {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: %d fields, want one of %v", name, n, counts)
}

func decodeInto(dec *msgpack.Decoder, fields []any) error {
	for _, f := range fields {
		if err := dec.Decode(f); err != nil {
			return err
		}
	}
	return nil
}

// snapshotMeta is encoded as the array of its fields; it decodes from the
// 16 fields it had before producer sessions (a model-1 snapshot, or one of
// model 2 before them), the 18 before the horizon and the 19 before the
// transmitter, the others zero.
var (
	_ msgpack.CustomDecoder = (*snapshotMeta)(nil)
	_ msgpack.CustomEncoder = snapshotMeta{}
)

func (m *snapshotMeta) fields() []any {
	return []any{&m.ModelVersion, &m.Index, &m.Seq, &m.Now, &m.Digest, &m.Policy, &m.Counters, &m.NextSweep, &m.Tree,
		&m.Principals, &m.Orgs, &m.Endorsements, &m.Partners, &m.Tokens, &m.Events, &m.Dedup,
		&m.Producers, &m.NextProducerSweep, &m.ProducerHorizon,
		&m.Streams, &m.Outbox, &m.NodeKeys, &m.OutSeq, &m.Told}
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m snapshotMeta) EncodeMsgpack(e *msgpack.Encoder) error { return encodeFields(e, m.fields()) }

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *snapshotMeta) DecodeMsgpack(dec *msgpack.Decoder) error {
	*m = snapshotMeta{}
	fields := m.fields()
	return decodeFields(dec, "snapshot header", fields, 16, 18, 19, len(fields))
}

// UpsertPartner and partner are encoded as the arrays of their fields;
// they decode from the 8 and 9 fields they had before SSF registration
// (entries and snapshots written before it), the others zero.
var (
	_ msgpack.CustomDecoder = (*UpsertPartner)(nil)
	_ msgpack.CustomEncoder = UpsertPartner{}
	_ msgpack.CustomDecoder = (*partner)(nil)
	_ msgpack.CustomEncoder = partner{}
)

func (c *UpsertPartner) fields() []any {
	return []any{&c.PartnerID, &c.Issuer, &c.Audience, &c.JWKS, &c.Weight, &c.MaxInfluence, &c.Suspended, &c.RateLimit,
		&c.SSF, &c.Aliases}
}

// EncodeMsgpack implements msgpack.CustomEncoder. A partner registered by
// hand is written as before SSF registration (8 fields), which nodes of the
// release before read too.
func (c UpsertPartner) EncodeMsgpack(e *msgpack.Encoder) error {
	fields := c.fields()
	if c.SSF == (PartnerSSF{}) && len(c.Aliases) == 0 {
		fields = fields[:8]
	}
	return encodeFields(e, fields)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (c *UpsertPartner) DecodeMsgpack(dec *msgpack.Decoder) error {
	*c = UpsertPartner{}
	fields := c.fields()
	return decodeFields(dec, "upsert_partner", fields, 8, len(fields))
}

func (p *partner) fields() []any {
	return []any{&p.ID, &p.Issuer, &p.Audience, &p.JWKS, &p.Weight, &p.MaxInfluence, &p.Suspended, &p.RateLimit, &p.UpdatedAt,
		&p.SSF, &p.Aliases, &p.Verification, &p.VerifiedAt, &p.StreamStatus, &p.StreamReason, &p.StreamStatusAt}
}

// EncodeMsgpack implements msgpack.CustomEncoder: as UpsertPartner, the
// older 9 fields when the others are zero.
func (p partner) EncodeMsgpack(e *msgpack.Encoder) error {
	fields := p.fields()
	if p.SSF == (PartnerSSF{}) && len(p.Aliases) == 0 && p.Verification == "" && p.VerifiedAt == 0 && p.StreamStatus == "" &&
		p.StreamReason == "" && p.StreamStatusAt == 0 {
		fields = fields[:9]
	}
	return encodeFields(e, fields)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *partner) DecodeMsgpack(dec *msgpack.Decoder) error {
	*p = partner{}
	fields := p.fields()
	return decodeFields(dec, "partner", fields, 9, len(fields))
}
