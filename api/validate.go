package api

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/input"
)

// Validation helpers: each checks one value, records a fault under its
// field name when it is wrong, and returns the value in ledger units.

const maxPoints = 100 * fsm.Point

// idRule says what fsm.ValidID accepts, for error messages.
var idRule = fmt.Sprintf("must be 1-%d characters of letters, digits and - _ . : @, not dots only", fsm.MaxIDLen)

// id checks an identifier (fsm.ValidID); empty is a fault only when
// required.
func (f *fieldErrors) id(field, v string, required bool) string {
	switch {
	case v == "" && required:
		f.required(field)
	case v != "" && !fsm.ValidID(v):
		f.invalid(field, "%s", idRule)
	}
	return v
}

// text checks free text (and the names that are not identifiers: event
// ids and names, actions, issuers, audiences): at most maxLen bytes that
// pass the text rule (input.CheckText: valid UTF-8 without control, line
// separator or bidirectional formatting characters; see docs/api.md).
func (f *fieldErrors) text(field, v string, required bool, maxLen int) string {
	switch {
	case v == "" && required:
		f.required(field)
	case len(v) > maxLen:
		f.invalid(field, "must be at most %d bytes", maxLen)
	default:
		if e := input.CheckText(v); e != nil {
			f.invalid(field, "must be %s; found %v", input.TextRule, e)
		}
	}
	return v
}

// maxSequence is the largest ledger sequence or Raft index a query
// parameter may name. Larger values are refused rather than wrapped: a
// reader asking for what follows 2^64-1 would otherwise be served the
// ledger from its start.
const maxSequence = math.MaxInt64

// parseSequence parses a ledger sequence number or a Raft index given as
// a query parameter or header: decimal digits only, within
// [0, maxSequence].
func parseSequence(v string) (uint64, bool) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > maxSequence {
		return 0, false
	}
	return n, true
}

// sequence checks a query parameter naming a ledger sequence number (or a
// Raft index) and returns it (0 when empty).
func (f *fieldErrors) sequence(field, v string) uint64 {
	if v == "" {
		return 0
	}
	n, ok := parseSequence(v)
	if !ok {
		f.invalid(field, "must be a ledger sequence number, an integer within [0, %d], got %q", uint64(maxSequence), v)
	}
	return n
}

// oneOf checks that v is one of the allowed values (or empty when not
// required).
func (f *fieldErrors) oneOf(field, v string, required bool, allowed []string) string {
	switch {
	case v == "" && required:
		f.add(field, "required", "is required: one of %s", strings.Join(allowed, ", "))
	case v != "" && !slices.Contains(allowed, v):
		f.invalid(field, "must be one of %s", strings.Join(allowed, ", "))
	}
	return v
}

// scaled converts a decimal to fixed point with 6 decimals (µpt, ppm) and
// checks it lies within [lo, hi] (in the same units).
func (f *fieldErrors) scaled(field string, d decimal, required bool, lo, hi int64) fsm.Opt {
	if !d.set() {
		if required {
			f.required(field)
		}
		return fsm.Opt{}
	}
	v, ok := fsm.ParseDecimal(d.text, 6)
	if !ok {
		f.invalid(field, "%s is not a number this API can represent", d.text)
		return fsm.Opt{}
	}
	if v < lo || v > hi {
		f.invalid(field, "must be within [%s, %s], got %s", fsm.FormatDecimal(lo, 6), fsm.FormatDecimal(hi, 6), d.text)
		return fsm.Opt{}
	}
	return fsm.Some(v)
}

// points checks a score in points within [0, 100].
func (f *fieldErrors) points(field string, d decimal, required bool) fsm.Opt {
	return f.scaled(field, d, required, 0, maxPoints)
}

// timestamp parses an RFC 3339 time into Unix milliseconds (0 when empty
// and not required).
func (f *fieldErrors) timestamp(field, v string, required bool) int64 {
	if v == "" {
		if required {
			f.required(field)
		}
		return 0
	}
	ms, err := parseTime(v)
	if err != nil {
		f.invalid(field, "%v", err)
		return 0
	}
	return ms
}

// parseTime parses an RFC 3339 time into Unix milliseconds from 1970 to
// 9999.
func parseTime(v string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("must be an RFC 3339 time such as 2024-03-15T12:00:00Z, got %q", v)
	}
	ms := t.UnixMilli()
	if ms < 0 || t.Year() > 9999 {
		return 0, fmt.Errorf("must be between 1970 and 9999, got %q", v)
	}
	return ms, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// categoryCodes maps category names to their code in fsm.Signal.Category.
var categoryCodes = func() map[string]uint8 {
	m := make(map[string]uint8, len(fsm.Categories))
	var code uint8
	for _, c := range fsm.Categories {
		m[c] = code
		code++
	}
	return m
}()

// category checks a category name and returns its code.
func (f *fieldErrors) category(field, v string, required bool) uint8 {
	if f.oneOf(field, v, required, fsm.Categories[:]) == "" {
		return 0
	}
	return categoryCodes[v]
}
