package federation

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trustledger/trustledger/fsm"
)

// Subject is a subject identifier (RFC 9493) in one of the formats this
// recipient understands.
type Subject struct {
	// Format is "opaque", "email" or "iss_sub".
	Format string
	// ID is the opaque identifier (format opaque).
	ID string
	// Email is the address (format email).
	Email string
	// Issuer and Sub are the pair of format iss_sub.
	Issuer, Sub string
}

// ParseSubject reads a subject identifier (RFC 9493) in a format this
// package understands: opaque, email or iss_sub.
func ParseSubject(raw json.RawMessage) (*Subject, error) { return parseSubject(raw) }

func parseSubject(raw json.RawMessage) (*Subject, error) {
	m, err := decodeJSONObject(raw)
	if err != nil {
		return nil, errors.New("must be a subject identifier object (RFC 9493)")
	}
	format, _ := stringMember(m, "format")
	s := &Subject{Format: format}
	need := func(key string, dst *string) error {
		v, ok := stringMember(m, key)
		if !ok || v == "" {
			return fmt.Errorf("format %s needs a %q string", format, key)
		}
		*dst = v
		return nil
	}
	switch format {
	case "opaque":
		err = need("id", &s.ID)
	case "email":
		err = need("email", &s.Email)
	case "iss_sub":
		// "iss" as RFC 9493 names it; "issuer" as some libraries emit it.
		key := "iss"
		if _, ok := m["iss"]; !ok {
			if _, ok := m["issuer"]; ok {
				key = "issuer"
			}
		}
		if err = need(key, &s.Issuer); err == nil {
			err = need("sub", &s.Sub)
		}
	case "":
		err = errors.New("format is required")
	default:
		err = fmt.Errorf("format %q is not supported: use opaque, email or iss_sub", clip(format))
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// AliasKey is the subject as a partner's subject aliases name it:
// "email:<address>", "iss_sub:<iss> <sub>" or "opaque:<id>".
func (s *Subject) AliasKey() string {
	switch s.Format {
	case "email":
		return "email:" + s.Email
	case "iss_sub":
		return "iss_sub:" + s.Issuer + " " + s.Sub
	}
	return "opaque:" + s.ID
}

// PrincipalID maps the subject to a principal id, for a SET whose issuer
// is setIssuer:
//
//   - opaque: the id is the principal id;
//   - email: the address, exactly as sent, is the principal id (register
//     principals known by e-mail under their address);
//   - iss_sub: sub is the principal id when iss is the SET's own issuer
//     (the partner names a principal in its own namespace, as with
//     opaque); subjects of other issuers are refused, since their sub
//     values could collide with principal ids.
//
// The result must be a valid principal id (fsm.ValidID).
func (s *Subject) PrincipalID(setIssuer string) (string, error) {
	var id string
	switch s.Format {
	case "opaque":
		id = s.ID
	case "email":
		id = s.Email
	case "iss_sub":
		if s.Issuer != setIssuer {
			return "", fmt.Errorf("iss_sub subjects must have iss equal to the SET's iss %q; got %q", clip(setIssuer), clip(s.Issuer))
		}
		id = s.Sub
	}
	if !fsm.ValidID(id) {
		return "", fmt.Errorf("%q is not a principal id (1-%d characters of letters, digits and - _ . : @, not dots only)", clip(id), fsm.MaxIDLen)
	}
	return id, nil
}
