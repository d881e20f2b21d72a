package fsm

import (
	"bytes"
	"encoding/json"
)

// checkJSON accepts an empty value or valid JSON whose first byte is kind
// ('{' object, '[' array) and that fits MaxJSONFieldBytes.
func checkJSON(field string, b []byte, kind byte) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) > MaxJSONFieldBytes {
		return reject(field, "invalid", "at most %d bytes", MaxJSONFieldBytes)
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != kind || !json.Valid(b) {
		if kind == '[' {
			return reject(field, "invalid", "must be a JSON array")
		}
		return reject(field, "invalid", "must be a JSON object")
	}
	return nil
}

func compactJSON(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil
	}
	return out.Bytes()
}

func jsonObject(b []byte) map[string]json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// anomalyScore extracts "anomaly_score" (0-100) from a JSON object, in µpt.
func anomalyScore(b []byte) (int64, bool) {
	if len(b) == 0 || !bytes.Contains(b, []byte(`"anomaly_score"`)) {
		return 0, false
	}
	raw, ok := jsonObject(b)["anomaly_score"]
	if !ok {
		return 0, false
	}
	return ParseDecimal(string(bytes.TrimSpace(raw)), 6)
}

// factorAdjustments evaluates the policy's factor rules against a
// principal's factor reports. Reports are stored as authenticationFactors,
// behaviorMetrics, complianceStatus, riskIndicators, context; a rule for
// component c reads report c ("has" rules read riskIndicators). The history
// component has no report: it moves with signals only.
func factorAdjustments(rules []FactorRule, f *[NumComponents][]byte) [NumComponents]int64 {
	var adj [NumComponents]int64
	if f == nil {
		return adj
	}
	var objs [NumComponents]map[string]json.RawMessage
	for _, i := range []int{0, 1, 2, 4} {
		objs[i] = jsonObject(f[i])
	}
	risks := map[string]bool{}
	if len(f[3]) > 0 {
		var list []json.RawMessage
		if json.Unmarshal(f[3], &list) == nil {
			for _, r := range list {
				var s string
				if json.Unmarshal(r, &s) == nil {
					risks[s] = true
				}
			}
		}
	}
	for _, r := range rules {
		c := int(r.Component)
		if c >= NumComponents {
			continue
		}
		match := false
		if r.Op == "has" {
			match = risks[r.Key]
		} else if c != 3 {
			raw, ok := objs[c][r.Key] // #nosec G602 -- c < NumComponents is checked above
			if !ok {
				continue
			}
			raw = bytes.TrimSpace(raw)
			switch r.Op {
			case "eq":
				match = string(compactJSON(raw)) == r.Value
			case "gte", "lte":
				v, ok1 := ParseDecimal(string(raw), 6)
				t, ok2 := ParseDecimal(r.Value, 6)
				match = ok1 && ok2 && (r.Op == "gte" && v >= t || r.Op == "lte" && v <= t)
			}
		}
		if match {
			adj[c] += r.Points // #nosec G602 -- c < NumComponents is checked above
		}
	}
	return adj
}
