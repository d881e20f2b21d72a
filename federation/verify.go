package federation

import (
	"encoding/json"
	"slices"
	"sort"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/trustledger/trustledger/fsm"
)

// Default iat window of a Window with zero fields.
const (
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultFutureSkew = 5 * time.Minute
)

// maxJTIBytes is the longest jti the ledger keeps (fsm: 2 × MaxIDLen).
const maxJTIBytes = 2 * fsm.MaxIDLen

// Window is the time a SET is checked at and how far its iat may be from
// it.
type Window struct {
	// Now is the recipient's clock.
	Now time.Time
	// MaxAge is how old iat may be (default DefaultMaxAge). Keep it within
	// the ledger's dedup window: a jti older than that is forgotten, and
	// only the iat check then stops a replay.
	MaxAge time.Duration
	// FutureSkew is how far ahead of Now iat may be (default
	// DefaultFutureSkew).
	FutureSkew time.Duration
}

// SET is a verified Security Event Token.
type SET struct {
	// ID is the jti.
	ID string
	// Issuer is the iss, equal to the partner's registered issuer.
	Issuer string
	// Audience is the aud, one or more values.
	Audience []string
	// IssuedAt is the iat in Unix milliseconds.
	IssuedAt int64
	// KeyID and Algorithm name the key and algorithm that signed it.
	KeyID, Algorithm string
	// Subject is the top-level sub_id (RFC 9493), nil when absent; events
	// may carry their own "subject" instead.
	Subject *Subject
	// Events are the members of the events claim, ordered by type URI.
	Events []Event
}

// Event is one member of a SET's events claim.
type Event struct {
	// Type is the event type URI.
	Type string
	// Payload is the event's JSON object, member by member.
	Payload map[string]json.RawMessage
}

// Verifier checks SETs against partners' registered keys. Its zero value
// is ready to use; it is safe for concurrent use. It caches each
// partner's parsed keys until the registered JWKS changes.
type Verifier struct {
	keys keyCache
}

// Verify checks a parsed SET as delivered by partner p: the signature,
// with the key of p's JWKS named by the header's kid, then iss (p's
// issuer), aud (must contain p's audience), iat (within w), exp (when
// present, not passed), jti (present, at most 256 bytes, printable) and
// events (an object of one or more event objects). It does not check
// whether p is suspended or whether the jti was seen before: the caller
// and the ledger do. Every refusal is an *Error.
func (v *Verifier) Verify(tok *Token, p fsm.PartnerView, w Window) (*SET, error) {
	if tok.Issuer != p.Issuer {
		return nil, refuse(ErrInvalidIssuer, "iss %q is not the issuer registered for partner %q", clip(tok.Issuer), p.PartnerID)
	}
	key, ok := v.keys.get(p.PartnerID, p.JWKS).lookup(tok.KeyID, jose.SignatureAlgorithm(tok.Algorithm))
	if !ok {
		return nil, refuse(ErrInvalidKey, "partner %q has no %s key with kid %q", p.PartnerID, tok.Algorithm, clip(tok.KeyID))
	}
	if _, err := tok.jws.Verify(key); err != nil {
		return nil, refuse(ErrAuthenticationFailed, "the signature does not verify with key %q", clip(tok.KeyID))
	}
	return checkClaims(tok, p, w)
}

func checkClaims(tok *Token, p fsm.PartnerView, w Window) (*SET, error) {
	c := tok.claims
	set := &SET{Issuer: tok.Issuer, KeyID: tok.KeyID, Algorithm: tok.Algorithm}

	aud, ok := audience(c["aud"])
	if !ok {
		return nil, refuse(ErrInvalidAudience, "aud is required: a string or an array of strings")
	}
	if !slices.Contains(aud, p.Audience) {
		return nil, refuse(ErrInvalidAudience, "aud does not contain %q, the audience registered for partner %q",
			p.Audience, p.PartnerID)
	}
	set.Audience = aud

	if w.MaxAge <= 0 {
		w.MaxAge = DefaultMaxAge
	}
	if w.FutureSkew <= 0 {
		w.FutureSkew = DefaultFutureSkew
	}
	now := w.Now.UnixMilli()
	iat, ok := numericDate(c, "iat")
	if !ok {
		return nil, refuse(ErrInvalidRequest, "iat is required: a NumericDate (seconds since the epoch)")
	}
	if iat < now-w.MaxAge.Milliseconds() || iat > now+w.FutureSkew.Milliseconds() {
		return nil, refuse(ErrInvalidRequest, "iat %s is outside the accepted window [now - %s, now + %s]",
			fsm.FormatTime(iat), w.MaxAge, w.FutureSkew)
	}
	set.IssuedAt = iat
	if _, present := c["exp"]; present {
		exp, ok := numericDate(c, "exp")
		if !ok {
			return nil, refuse(ErrInvalidRequest, "exp must be a NumericDate")
		}
		if exp <= now {
			return nil, refuse(ErrInvalidRequest, "the SET expired at %s", fsm.FormatTime(exp))
		}
	}

	jti, ok := stringMember(c, "jti")
	if !ok || !validJTI(jti) {
		return nil, refuse(ErrInvalidRequest, "jti is required: a string of 1 to %d printable bytes", maxJTIBytes)
	}
	set.ID = jti

	if raw, present := c["sub_id"]; present {
		sub, err := parseSubject(raw)
		if err != nil {
			return nil, refuse(ErrInvalidRequest, "sub_id: %v", err)
		}
		set.Subject = sub
	}

	events, err := parseEvents(c["events"])
	if err != nil {
		return nil, err
	}
	set.Events = events
	return set, nil
}

// audience decodes aud: a string or a non-empty array of strings.
func audience(raw json.RawMessage) ([]string, bool) {
	if raw == nil {
		return nil, false
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(raw, &many) != nil || len(many) == 0 {
		return nil, false
	}
	return many, true
}

// numericDate reads a NumericDate claim (seconds, possibly fractional) as
// Unix milliseconds, without floating point.
func numericDate(m map[string]json.RawMessage, key string) (int64, bool) {
	s, ok := numberMember(m, key)
	if !ok {
		return 0, false
	}
	ms, ok := fsm.ParseDecimal(s, 3)
	if !ok || ms < 0 {
		return 0, false
	}
	return ms, true
}

func validJTI(s string) bool {
	if s == "" || len(s) > maxJTIBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func parseEvents(raw json.RawMessage) ([]Event, error) {
	if raw == nil {
		return nil, refuse(ErrInvalidRequest, "events is required (RFC 8417 §2.2)")
	}
	members, err := decodeJSONObject(raw)
	if err != nil || len(members) == 0 {
		return nil, refuse(ErrInvalidRequest, "events must be an object with one or more event type URIs as members")
	}
	events := make([]Event, 0, len(members))
	for typ, body := range members {
		payload, err := decodeJSONObject(body)
		if err != nil {
			return nil, refuse(ErrInvalidRequest, "event %q: the payload must be a JSON object", clip(typ))
		}
		events = append(events, Event{Type: typ, Payload: payload})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].Type < events[j].Type })
	return events, nil
}
