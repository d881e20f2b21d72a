package api

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/trustledger/trustledger/fsm"
)

// The decoders of external input never panic, and whatever they accept
// is within the limits the ledger enforces.

func FuzzParseSignals(f *testing.F) {
	f.Add([]byte(`{"eventId":"e1","principalId":"alice","event":"x","category":"context","impact":-2.5}`))
	f.Add([]byte(`{"signals":[{"eventId":"e1","principalId":"a","event":"x","category":"behavior","impact":1e1,"observedAt":"2024-03-15T10:00:00Z","attributes":"{\"anomaly_score\":90}"}]}`))
	f.Add([]byte(`{"signals":[{"eventId":"e1"},{"impact":"1"}],"x":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sigs, _, err := parseSignals(body, true)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) || p.Status != 400 {
				t.Fatalf("error is not a 400 problem: %v", err)
			}
			return
		}
		for _, s := range sigs {
			if s.EventID == "" || !fsm.ValidID(s.PrincipalID) || s.Impact < -maxPoints || s.Impact > maxPoints ||
				int(s.Category) >= fsm.NumComponents || (len(s.Attributes) > 0 && !json.Valid(s.Attributes)) {
				t.Fatalf("accepted a bad signal: %+v", s)
			}
		}
	})
}

func FuzzImportRecord(f *testing.F) {
	for _, file := range []string{"testdata/seed_example1.json", "testdata/seed_example2.json"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"principalId":"x","principalType":"user","trustScore":"50","positiveSignals":"[{\"event\":\"a\",\"timestamp\":\"2024-01-01T00:00:00Z\",\"impact\":+5}]"}`))
	f.Add([]byte(`{"records":[{"principalId":"x"}]}`))
	pol := fsm.DefaultPolicy()
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, batch, err := splitImport(body)
		if err != nil {
			return
		}
		var errs fieldErrors
		for _, raw := range raws {
			rec := parseImportRecord(raw, "", &pol, 1_700_000_000_000, &errs)
			if rec == nil || !errs.ok() {
				continue
			}
			c := rec.cmd
			if !fsm.ValidID(c.PrincipalID) || c.Score < 0 || c.Score > maxPoints {
				t.Fatalf("accepted a bad record (batch %v): %+v", batch, c)
			}
			if len(c.Components) != 0 {
				var sum int64
				for _, v := range c.Components {
					sum += v
				}
				if sum != c.Score {
					t.Fatalf("components %v do not add up to %d", c.Components, c.Score)
				}
			}
		}
	})
}

func FuzzPolicyDoc(f *testing.F) {
	p := fsm.DefaultPolicy()
	if b, err := json.Marshal(policyToDoc(&p)); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"caps":{"context":9},"decayGrace":"-1h","rules":[{"op":"eq","value":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cur := fsm.DefaultPolicy()
		doc := policyToDoc(&cur)
		if decodeStrict(body, doc, "") != nil {
			return
		}
		var errs fieldErrors
		pol := doc.policy(&errs)
		if errs.ok() && pol.Validate() == nil {
			// What passes here is what the ledger accepts.
			if pol.Caps[0]+pol.Caps[1]+pol.Caps[2]+pol.Caps[3]+pol.Caps[4] != 100*fsm.Point {
				t.Fatalf("caps accepted: %v", pol.Caps)
			}
		}
	})
}

func FuzzRelaxNumbers(f *testing.F) {
	f.Add([]byte(`[{"impact":+5,"s":"+5"}]`))
	f.Add([]byte(`{"a":"\"+","b":+1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := relaxNumbers(b)
		if json.Valid(b) && string(out) != string(b) {
			t.Fatalf("changed valid JSON %q into %q", b, out)
		}
	})
}
