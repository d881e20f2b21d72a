package fsm

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// plainPolicy is Policy without its codec: msgpack encodes it by
// reflection, field by field in declaration order.
type plainPolicy Policy

func arrayEncode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The hand-listed fields are the struct's, in its order: the custom
// encoding is byte for byte the reflective one.
func TestPolicyCodecMatchesReflection(t *testing.T) {
	p := DefaultPolicy()
	p.Version = 7
	p.Decision.UserTokenPartners = []string{"idp"}
	if got, want := arrayEncode(t, p), arrayEncode(t, plainPolicy(p)); !bytes.Equal(got, want) {
		t.Fatalf("custom encoding differs from the reflective one:\n%x\n%x", got, want)
	}
	var back Policy
	if err := msgpack.Unmarshal(arrayEncode(t, p), &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(arrayEncode(t, back), arrayEncode(t, p)) {
		t.Fatal("policy does not survive a round trip")
	}
}

// A model-1 policy (35 fields, a decision policy of 9) decodes with the
// fields it lacks at their built-in values; other field counts are refused.
func TestPolicyDecodesModel1Encoding(t *testing.T) {
	p := DefaultPolicy()
	p.Version, p.SharpDrop = 3, pts(30)
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	fields := p.fields()
	if err := enc.EncodeArrayLen(policyModel1Fields); err != nil {
		t.Fatal(err)
	}
	for i, f := range fields[:policyModel1Fields] {
		if i == 33 { // the decision policy, as model 1 wrote it: 9 fields
			d := p.Decision
			if err := enc.EncodeArrayLen(9); err != nil {
				t.Fatal(err)
			}
			for _, v := range []any{d.Allow, d.StepUp, d.SessionMax, d.IdleTimeout, d.Permissions, d.Actions, d.ContextRules, d.Routes, d.UserTokenPartners} {
				if err := enc.Encode(v); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	var got Policy
	if err := msgpack.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	def := DefaultPolicy()
	if got.Version != 3 || got.SharpDrop != pts(30) || got.CumulativeDrop != def.CumulativeDrop || got.Decision.Hold != def.Decision.Hold ||
		len(got.Remediations) != len(def.Remediations) || len(got.HoldTypes) != len(def.HoldTypes) {
		t.Fatalf("model-1 policy decoded as %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("decoded model-1 policy is invalid: %v", err)
	}
	var bad bytes.Buffer
	enc = msgpack.NewEncoder(&bad)
	_ = enc.EncodeArrayLen(36)
	if err := msgpack.Unmarshal(bad.Bytes(), &got); err == nil {
		t.Fatal("a 36-field policy decoded")
	}
}

type plainImportRecord ImportRecord

// ImportRecord's hand-listed fields are its own, in order; a model-1
// entry (21 fields) decodes with no modifiers.
func TestImportRecordCodecMatchesReflection(t *testing.T) {
	c := ImportRecord{TrustID: "t", PrincipalID: "p", PrincipalType: "user", Components: []int64{1, 2, 3, 4, 5}, Score: 15,
		Base: Some(3), Positive: []ImportedSignal{{Event: "e", At: 9, Impact: 1, Category: 2}}, History: []ImportedPoint{{At: 1, Score: 2}},
		Metadata: []byte(`{}`), LastAssessmentAt: 77, Modifiers: []ImportedModifier{{Delta: -5, Reason: "r", ExpiresAt: 99}}}
	c.Factors[1] = []byte(`{"a":1}`)
	if got, want := arrayEncode(t, c), arrayEncode(t, plainImportRecord(c)); !bytes.Equal(got, want) {
		t.Fatalf("custom encoding differs from the reflective one:\n%x\n%x", got, want)
	}
	old := c
	old.Modifiers = nil
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseArrayEncodedStructs(true)
	fields := old.fields()
	_ = enc.EncodeArrayLen(importRecordModel1Fields)
	for _, f := range fields[:importRecordModel1Fields] {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	var back ImportRecord
	if err := msgpack.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.LastAssessmentAt != 77 || back.Modifiers != nil || back.TrustID != "t" {
		t.Fatalf("model-1 import record decoded as %+v", back)
	}
}

// An empty list decodes empty, not as the built-in one, so the policy a
// node applies and the one it restores from a snapshot agree.
func TestPolicyEmptyListsStayEmpty(t *testing.T) {
	p := DefaultPolicy()
	p.HoldTypes, p.PrivilegeEvents, p.Remediations = []string{}, nil, nil
	var back Policy
	if err := msgpack.Unmarshal(arrayEncode(t, p), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.HoldTypes) != 0 || len(back.PrivilegeEvents) != 0 || len(back.Remediations) != 0 {
		t.Fatalf("empty lists decoded as %v %v %v", back.HoldTypes, back.PrivilegeEvents, back.Remediations)
	}
}

type plainSnapshotMeta snapshotMeta

// The snapshot header's hand-listed fields are its own, in order.
func TestSnapshotMetaCodecMatchesReflection(t *testing.T) {
	m := snapshotMeta{ModelVersion: ModelVersion, Index: 3, Seq: 2, Now: 9, Digest: []byte{1}, Policy: DefaultPolicy(), Tree: [][]byte{{2}},
		Principals: 4, Dedup: 5, Producers: 6, NextProducerSweep: 7, ProducerHorizon: 8}
	if got, want := arrayEncode(t, m), arrayEncode(t, plainSnapshotMeta(m)); !bytes.Equal(got, want) {
		t.Fatalf("custom encoding differs from the reflective one")
	}
}
