package api

import (
	"github.com/trustledger/trustledger/internal/input"
)

// scanSignalBatch reads a signal batch, {"signals": [{...}, ...]}, without
// reflection, for the common case: member names exactly as documented,
// each at most once; strings of printable ASCII without escapes; impacts
// as JSON numbers; attributes an object of such values. It gives up (ok
// false) on anything else — other spellings, escapes, non-ASCII text, null,
// a malformed body — and the strict decoder then reads the body and names
// what is wrong: whatever it accepts, the strict decoder accepts the same
// way (TestSignalScanAgreesWithDecoder).
func scanSignalBatch(body []byte) (out []signalInput, ok bool) {
	out, producer, ok := scanSignalBatchProducer(body)
	if !ok || producer != nil {
		return nil, false
	}
	return out, true
}

// scanSignalBatchProducer is scanSignalBatch for a batch that may end with
// its producer: {"signals": [...], "producer": {"id": "...", "epoch": N,
// "sequence": N}}, members in that order (other orders take the strict
// decoder).
func scanSignalBatchProducer(body []byte) (out []signalInput, producer *producerInput, ok bool) {
	// One copy of the body as a string: the strings read are slices of it
	// rather than an allocation each (they live as long as the request).
	s := &jsonScan{b: body, src: string(body)}
	if !s.lit('{') || !s.key("signals") || !s.lit('[') {
		return nil, nil, false
	}
	for {
		var in signalInput
		if !s.signal(&in) {
			return nil, nil, false
		}
		out = append(out, in)
		if s.lit(',') {
			continue
		}
		if !s.lit(']') {
			return nil, nil, false
		}
		if s.lit(',') {
			if producer = s.producer(); producer == nil {
				return nil, nil, false
			}
		}
		if !s.lit('}') {
			return nil, nil, false
		}
		s.ws()
		return out, producer, s.i == len(s.b)
	}
}

// producer consumes "producer": {"id": "...", "epoch": N, "sequence": N},
// members in that order, numbers as plain non-negative integers.
func (s *jsonScan) producer() *producerInput {
	var p producerInput
	if !s.key("producer") || !s.lit('{') || !s.key("id") {
		return nil
	}
	id, ok := s.str()
	if !ok || !s.lit(',') || !s.key("epoch") {
		return nil
	}
	epoch, ok := s.uint()
	if !ok || epoch > 1<<62 || !s.lit(',') || !s.key("sequence") {
		return nil
	}
	seq, ok := s.uint()
	if !ok || !s.lit('}') {
		return nil
	}
	p.ID, p.Epoch, p.Sequence = id, int64(epoch), seq // #nosec G115 -- epoch bounded above
	return &p
}

// uint consumes a JSON number that is a non-negative integer without
// exponent or fraction, of at most 18 digits.
func (s *jsonScan) uint() (uint64, bool) {
	n, ok := s.num()
	if !ok || len(n) > 18 || n[0] == '-' {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(n[i]-'0')
	}
	return v, true
}

// jsonScan is a cursor over a JSON text; src is b as a string.
type jsonScan struct {
	b   []byte
	src string
	i   int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// lit consumes white space and then c.
func (s *jsonScan) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key consumes "name" and the colon after it.
func (s *jsonScan) key(name string) bool {
	k, ok := s.str()
	return ok && k == name && s.lit(':')
}

// str consumes a string of printable ASCII without escapes.
func (s *jsonScan) str() (string, bool) {
	if !s.lit('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.src[start : s.i-1], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
		s.i++
	}
	return "", false
}

// num consumes a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScan) num() (string, bool) {
	s.ws()
	start := s.i
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	first := s.i
	if n := digits(); n == 0 || (n > 1 && s.b[first] == '0') {
		return "", false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return "", false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return "", false
		}
	}
	return s.src[start:s.i], true
}

// value consumes a JSON value of the kinds str and num read, true, false,
// or objects and arrays of them, at most 16 deep.
func (s *jsonScan) value(depth int) bool {
	s.ws()
	if s.i >= len(s.b) || depth > 16 {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		s.i++
		end, obj := byte('}'), c == '{'
		if !obj {
			end = ']'
		}
		if s.lit(end) {
			return true
		}
		for {
			if obj {
				if _, ok := s.str(); !ok || !s.lit(':') {
					return false
				}
			}
			if !s.value(depth + 1) {
				return false
			}
			if s.lit(',') {
				continue
			}
			return s.lit(end)
		}
	case c == 't':
		return s.word("true")
	case c == 'f':
		return s.word("false")
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.num()
		return ok
	}
	return false
}

func (s *jsonScan) word(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// signal consumes one signal object into in.
func (s *jsonScan) signal(in *signalInput) bool {
	if !s.lit('{') {
		return false
	}
	var seen [7]bool
	if s.lit('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		f := signalMember(k)
		if f < 0 || seen[f] {
			return false
		}
		seen[f] = true
		switch f {
		case 4:
			if in.Impact.text, ok = s.num(); !ok {
				return false
			}
		case 6:
			s.ws()
			start := s.i
			if s.i >= len(s.b) || s.b[s.i] != '{' || !s.value(0) {
				return false
			}
			raw := s.b[start:s.i]
			// The body rules (no member twice, compared case-insensitively)
			// hold inside attributes too.
			if fault := input.CheckJSON(raw, bodyRules); fault != nil {
				return false
			}
			in.Attributes.raw = append([]byte(nil), raw...)
		default:
			v, ok := s.str()
			if !ok {
				return false
			}
			*[...]*string{&in.EventID, &in.PrincipalID, &in.Event, &in.Category, nil, &in.ObservedAt}[f] = v
		}
		if s.lit(',') {
			continue
		}
		return s.lit('}')
	}
}

// signalMember is the index of a signal's member name, -1 for another.
func signalMember(k string) int {
	switch k {
	case "eventId":
		return 0
	case "principalId":
		return 1
	case "event":
		return 2
	case "category":
		return 3
	case "impact":
		return 4
	case "observedAt":
		return 5
	case "attributes":
		return 6
	}
	return -1
}
