package api

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// randomSignalBody is a signal batch body with random white space, member
// order and values, sometimes with what the scanner must not accept
// (escapes, non-ASCII, control characters, other spellings, a member twice,
// null, numbers JSON does not have, trailing data).
func randomSignalBody(rng *rand.Rand) string {
	ws := func() string { return []string{"", "", " ", "\n\t", "\r\n  "}[rng.IntN(5)] }
	// Mostly what the scanner reads, sometimes what it must leave alone.
	mostly := func(good, bad []string) string {
		if rng.IntN(8) == 0 {
			return bad[rng.IntN(len(bad))]
		}
		return good[rng.IntN(len(good))]
	}
	str := func() string {
		return `"` + mostly([]string{"evt-1", "alice", "login_success", "authentication", "2026-11-23T08:04:46.888Z", "x y", "",
			strconv.Itoa(rng.IntN(1000))}, []string{`a\"b`, `caf\u00e9`, "café", "tab\there", "\u202e", "a\\nb"}) + `"`
	}
	num := func() string {
		return mostly([]string{"1", "-5", "0", "2.5", "-0.125", "1e2", "1E-2", "12345678901234567890", "3.0001"},
			[]string{"01", "+3", ".5", "1.", "-"})
	}
	var attr func(depth int) string
	attr = func(depth int) string {
		switch k := rng.IntN(6); {
		case k == 0 && depth < 3:
			var b strings.Builder
			b.WriteString("{" + ws())
			for i := rng.IntN(3); i > 0; i-- {
				b.WriteString(`"` + []string{"ip", "IP", "device", "mfa", "ip"}[rng.IntN(5)] + `"` + ws() + ":" + ws() + attr(depth+1))
				if i > 1 {
					b.WriteString("," + ws())
				}
			}
			return b.String() + ws() + "}"
		case k == 1 && depth < 3:
			return "[" + attr(depth+1) + "," + ws() + attr(depth+1) + "]"
		case k == 2:
			return []string{"true", "false", "null"}[rng.IntN(3)]
		case k == 3:
			return num()
		}
		return str()
	}
	names := []string{"eventId", "principalId", "event", "category", "impact", "observedAt", "attributes"}
	var b strings.Builder
	b.WriteString(ws() + "{" + ws() + mostly([]string{`"signals"`}, []string{`"Signals"`, `"signal"`}) + ws() + ":" + ws() + "[")
	for n := 1 + rng.IntN(3); n > 0; n-- {
		b.WriteString(ws() + "{")
		fields := rng.Perm(len(names))[:1+rng.IntN(len(names))]
		if rng.IntN(30) == 0 {
			fields = append(fields, fields[0]) // a member twice
		}
		for i, f := range fields {
			name := names[f]
			if rng.IntN(60) == 0 {
				name = strings.ToUpper(name[:1]) + name[1:]
			}
			var v string
			switch {
			case rng.IntN(60) == 0:
				v = "null"
			case name == "impact":
				v = num()
			case name == "attributes":
				v = attr(0)
				if rng.IntN(3) > 0 {
					v = `{"ip":"10.0.0.1","mfa":true,"n":[1,2.5,{"k":"v"}]}`
				}
			default:
				v = str()
			}
			b.WriteString(ws() + `"` + name + `"` + ws() + ":" + ws() + v)
			if i < len(fields)-1 {
				b.WriteString("," + ws())
			}
		}
		b.WriteString(ws() + "}")
		if n > 1 {
			b.WriteString(",")
		}
	}
	b.WriteString("]" + ws() + "}" + ws())
	if rng.IntN(30) == 0 {
		b.WriteString("x")
	}
	return b.String()
}

// Whatever the scanner accepts, the strict decoder accepts and reads the
// same way: the scanner only ever saves the reflection, never decides
// differently.
func TestSignalScanAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
	accepted := 0
	const n = 20000
	for i := 0; i < n; i++ {
		body := randomSignalBody(rng)
		got, ok := scanSignalBatch([]byte(body))
		if !ok {
			continue
		}
		accepted++
		var batch struct {
			Signals []signalInput `json:"signals"`
		}
		if err := decodeStrict([]byte(body), &batch, ""); err != nil {
			t.Fatalf("the scanner accepted what the decoder refuses (%v):\n%s", err, body)
		}
		if !reflect.DeepEqual(got, batch.Signals) {
			t.Fatalf("the scanner read\n%+v\nthe decoder\n%+v\nfrom\n%s", got, batch.Signals, body)
		}
	}
	if accepted < n/20 {
		t.Fatalf("the scanner accepted only %d of %d bodies: the test exercises too little", accepted, n)
	}
	t.Logf("%d of %d random bodies scanned; the rest left to the decoder", accepted, n)
	// The benchmark's production-shaped body is scanned, not decoded.
	if _, ok := scanSignalBatch(signalBatchBody(100)); !ok {
		t.Fatal("a production-shaped batch was not scanned")
	}
}

// A batch's producer parses the same on both paths: the exact member name
// only, an object only, whatever else the batch holds.
func TestSignalBatchProducerBothPaths(t *testing.T) {
	good := `{"eventId":"e1","principalId":"p","event":"x","category":"authentication","impact":1}`
	bad := `{"eventId":"e1","principalId":"p","event":"x","category":"nope","impact":1}`
	for _, prod := range []string{`null`, `"x"`, `{"id":"p","epoch":1}`} {
		for _, key := range []string{"producer", "Producer"} {
			for _, sig := range []string{good, bad} {
				body := `{"signals":[` + sig + `],"` + key + `":` + prod + `}`
				if c, _, err := parseSignalBatch([]byte(body), true); err == nil {
					t.Errorf("%s: accepted, producer %+v", body, c.Producer)
				}
			}
		}
	}
	body := `{"producer":{"sequence":2,"id":"p","epoch":5},"signals":[` + good + `]}`
	c, _, err := parseSignalBatch([]byte(body), true)
	if err != nil || c.Producer == nil || c.Producer.ID != "p" || c.Producer.Epoch != 5 || c.Producer.Sequence != 2 {
		t.Fatalf("a producer before the signals: %+v %v", c, err)
	}
}
