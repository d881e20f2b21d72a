package fsm

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Hand-written msgpack codec for the hot path: RecordSignals. The wire
// format is exactly what the reflective as_array encoding produces (a
// 1-element array holding an array of 7-element signal arrays), so entries
// written either way decode the same.

var (
	_ msgpack.CustomDecoder = (*RecordSignals)(nil)
	_ msgpack.CustomEncoder = (*RecordSignals)(nil)
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (c *RecordSignals) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(1); err != nil {
		return err
	}
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
	if n != 1 {
		return fmt.Errorf("record_signals: want 1 field, got %d", n)
	}
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
var decisionPolicyFieldCounts = []int{5, 7, 8, 9}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (d DecisionPolicy) EncodeMsgpack(e *msgpack.Encoder) error {
	fields := []any{d.Allow, d.StepUp, d.SessionMax, d.IdleTimeout, d.Permissions, d.Actions, d.ContextRules, d.Routes, d.UserTokenPartners}
	if err := e.EncodeArrayLen(len(fields)); err != nil {
		return err
	}
	for _, v := range fields {
		if err := e.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (d *DecisionPolicy) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	known := false
	for _, c := range decisionPolicyFieldCounts {
		known = known || c == n
	}
	if !known {
		return fmt.Errorf("decision policy: %d fields, want one of %v", n, decisionPolicyFieldCounts)
	}
	*d = DecisionPolicy{}
	fields := []any{&d.Allow, &d.StepUp, &d.SessionMax, &d.IdleTimeout, &d.Permissions, &d.Actions, &d.ContextRules, &d.Routes,
		&d.UserTokenPartners}
	for _, f := range fields[:n] {
		if err := dec.Decode(f); err != nil {
			return err
		}
	}
	return nil
}
