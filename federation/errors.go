package federation

import "fmt"

// RFC 8935 §2.4 error codes, the "err" member of a failed delivery's
// response.
const (
	// ErrInvalidRequest: the body is not a SET, or an event payload does
	// not conform to its definition.
	ErrInvalidRequest = "invalid_request"
	// ErrInvalidKey: the signing key or algorithm is unknown or
	// unacceptable.
	ErrInvalidKey = "invalid_key"
	// ErrInvalidIssuer: the SET's issuer is not one the recipient accepts.
	ErrInvalidIssuer = "invalid_issuer"
	// ErrInvalidAudience: the SET is not addressed to the recipient.
	ErrInvalidAudience = "invalid_audience"
	// ErrAuthenticationFailed: the signature does not verify.
	ErrAuthenticationFailed = "authentication_failed"
	// ErrAccessDenied: the transmitter may not deliver this SET.
	ErrAccessDenied = "access_denied"
)

// Error is a refused SET: Code is one of the RFC 8935 error codes above
// and Description says what was wrong, for the transmitter's operator.
type Error struct {
	Code        string `json:"err"`
	Description string `json:"description"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, a ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, a...)}
}
