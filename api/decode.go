package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/trustledger/trustledger/internal/input"
)

// readBody reads the request body, at most the configured size, and checks
// that it is JSON. It returns a problem on any failure.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, newProblem(ProblemUnsupportedMedia, "", "send the body as application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var (
			tooLarge *http.MaxBytesError
			late     *Problem // the body deadline passed (see limitBodyTime)
		)
		if errors.As(err, &tooLarge) || errors.As(err, &late) {
			return nil, err
		}
		return nil, newProblem(ProblemMalformedJSON, "", "the request body could not be read: %v", err)
	}
	return body, nil
}

// decodeBody reads the request body and decodes it strictly into v, which
// must point to a struct: the body must be one JSON object with no unknown
// fields.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v, "")
}

// decodeStrict decodes one JSON object from data into v: numbers keep
// their text, unknown fields are errors, nothing may follow the value, and
// the body follows bodyRules (no member twice, no control characters...).
// prefix is put before field names in problems ("signals[3].").
func decodeStrict(data []byte, v any, prefix string) error {
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 {
		return newProblem(ProblemMalformedJSON, strings.TrimSuffix(prefix, "."), "the request body is empty")
	}
	if t[0] != '{' {
		if json.Valid(data) {
			return withCode(newProblem(ProblemInvalidField, strings.TrimSuffix(prefix, "."),
				"must be a JSON object"), "type")
		}
		return malformed(prefix, data, nil)
	}
	// The rules are checked first, so that no problem ever quotes a member
	// name holding a control character (as "unknown field" would); syntax
	// errors are left to encoding/json, which explains them better.
	fault := input.CheckJSON(data, bodyRules)
	if fault != nil && fault.Kind != input.Syntax {
		return inputProblem(fault, prefix)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err, prefix, data)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newProblem(ProblemMalformedJSON, "", "unexpected data after the JSON value")
	}
	return inputProblem(fault, prefix)
}

// bodyRules are the rules every JSON body follows beyond syntax (see
// "Inputs" in docs/api.md): no member twice in an object, compared the way
// encoding/json matches field names (case-insensitively), so that what
// this API reads is what any other parser reads; valid Unicode; member
// names and string values free of control characters, line separators and
// bidirectional formatting characters. Tab, newline and carriage return
// are let through in values here, where they may be the white space of a
// JSON document sent as a string; every text field refuses them itself
// (fieldErrors.text, jsonDoc.bytesOf).
var bodyRules = input.Options{FoldCase: true, Text: true, Whitespace: true}

// docRules are the rules of a JSON-typed property (metadata, factor
// reports, attributes, a JWKS): those of a body, with no control
// characters at all in its strings.
var docRules = input.Options{FoldCase: true, Text: true}

// checkBody applies bodyRules to a JSON text that decoded without error,
// naming the field at fault after prefix.
func checkBody(data []byte, prefix string) error {
	return inputProblem(input.CheckJSON(data, bodyRules), prefix)
}

// inputProblem turns a fault input.CheckJSON found into a problem whose
// field is the fault's path after prefix ("signals[3]." or "metadata.").
func inputProblem(f *input.Fault, prefix string) error {
	if f == nil {
		return nil
	}
	field := prefix + f.Path
	if f.Path == "" || strings.HasPrefix(f.Path, "[") {
		field = strings.TrimSuffix(prefix, ".") + f.Path
	}
	switch f.Kind {
	case input.Duplicate:
		return withCode(newProblem(ProblemInvalidField, field, "%s: given more than once; a member may appear once "+
			"in its object (names differing only in case are the same member)", field), "duplicate")
	case input.BadText:
		return withCode(newProblem(ProblemInvalidField, field, "%s: must be %s; found %v", field, input.TextRule, f.Text),
			"invalid")
	}
	return newProblem(ProblemMalformedJSON, field, "invalid JSON at byte %d", f.Offset)
}

func malformed(prefix string, data []byte, err error) *Problem {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return newProblem(ProblemMalformedJSON, strings.TrimSuffix(prefix, "."), "invalid JSON at byte %d: %v", syn.Offset, syn)
	}
	if !json.Valid(data) {
		return newProblem(ProblemMalformedJSON, strings.TrimSuffix(prefix, "."), "the body is not valid JSON")
	}
	return newProblem(ProblemMalformedJSON, strings.TrimSuffix(prefix, "."), "the body could not be decoded: %v", err)
}

// decodeProblem turns an encoding/json error into a problem naming the
// field at fault.
func decodeProblem(err error, prefix string, data []byte) error {
	var (
		typ *json.UnmarshalTypeError
		syn *json.SyntaxError
	)
	switch {
	case errors.As(err, &typ):
		field := prefix + typ.Field
		return withCode(newProblem(ProblemInvalidField, field, "%s: must be %s, got %s", field, describeType(typ.Type),
			typ.Value), "type")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return malformed(prefix, data, err)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return withCode(newProblem(ProblemUnknownField, prefix+name, "%s: unknown field; see the API reference for the accepted fields",
			prefix+name), "unknown")
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return malformed(prefix, data, err)
}

var (
	decimalType = reflect.TypeFor[decimal]()
	docType     = reflect.TypeFor[jsonDoc]()
	durType     = reflect.TypeFor[duration]()
)

// describeType names a Go type the way an API user thinks of it.
func describeType(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t {
	case decimalType:
		return "a JSON number"
	case docType:
		return "a JSON object or array (or a string holding one)"
	case durType:
		return "a duration string such as \"24h\""
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.String()
}

// jsonKind names the kind of a JSON value from its first byte.
func jsonKind(b []byte) string {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// decimal is a JSON number kept as its literal text, so that no precision
// is lost to float64. null counts as absent.
type decimal struct {
	text string
}

// UnmarshalJSON accepts a JSON number or null.
func (d *decimal) UnmarshalJSON(b []byte) error {
	switch k := jsonKind(b); k {
	case "null":
		d.text = ""
		return nil
	case "number":
		d.text = string(bytes.TrimSpace(b))
		return nil
	default:
		return &json.UnmarshalTypeError{Value: k, Type: decimalType}
	}
}

// MarshalJSON writes the number (0 when unset).
func (d decimal) MarshalJSON() ([]byte, error) {
	if d.text == "" {
		return []byte("0"), nil
	}
	return []byte(d.text), nil
}

// set reports whether the number was given.
func (d decimal) set() bool { return d.text != "" }

// jsonDoc is a JSON object or array given natively or as a string holding
// it (the PrincipalTrust "JSON-in-a-string" form). null counts as absent.
type jsonDoc struct {
	raw []byte // the JSON text, unwrapped from its string if need be
}

// UnmarshalJSON accepts an object, an array, a string holding one, or null.
func (d *jsonDoc) UnmarshalJSON(b []byte) error {
	switch k := jsonKind(b); k {
	case "null":
		d.raw = nil
		return nil
	case "object", "array":
		d.raw = append([]byte(nil), bytes.TrimSpace(b)...)
		return nil
	case "string":
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		d.raw = []byte(s)
		return nil
	default:
		return &json.UnmarshalTypeError{Value: k, Type: docType}
	}
}

// set reports whether the document was given.
func (d jsonDoc) set() bool { return len(bytes.TrimSpace(d.raw)) > 0 }

// bytesOf returns the document's compact form if it is JSON of the wanted
// kind ('{' or '['), recording a fault under field otherwise.
func (d jsonDoc) bytesOf(errs *fieldErrors, field string, kind byte, maxLen int) []byte {
	if !d.set() {
		return nil
	}
	b := relaxNumbers(d.raw)
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		errs.invalid(field, "not valid JSON: %v", err)
		return nil
	}
	want := "a JSON object"
	if kind == '[' {
		want = "a JSON array"
	}
	if out.Len() == 0 || out.Bytes()[0] != kind {
		errs.invalid(field, "must be %s", want)
		return nil
	}
	if out.Len() > maxLen {
		errs.invalid(field, "must be at most %d bytes", maxLen)
		return nil
	}
	if err := inputProblem(input.CheckJSON(out.Bytes(), docRules), field+"."); err != nil {
		errs.merge(err)
		return nil
	}
	return out.Bytes()
}

// relaxNumbers drops a '+' sign in front of a number outside strings
// ("impact":+5), which records in the original format contain but JSON
// does not allow. Anything else is left as is.
func relaxNumbers(b []byte) []byte {
	if !bytes.Contains(b, []byte{'+'}) || json.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
		}
		if c == '+' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9' && prevSignificant(out) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// prevSignificant reports whether the last non-space byte starts a value
// position (after ':', ',' or '[').
func prevSignificant(b []byte) bool {
	t := bytes.TrimRight(b, " \t\r\n")
	if len(t) == 0 {
		return false
	}
	switch t[len(t)-1] {
	case ':', ',', '[':
		return true
	}
	return false
}
