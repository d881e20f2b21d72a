// Package input holds the rules that text from outside the cluster must
// follow before trustledger accepts it: which characters a string may hold
// (CheckText) and what a JSON document may not do (CheckJSON: repeat a
// member name, hold invalid Unicode).
//
// The rules exist because what the ledger accepts is printed later — in
// terminals by trustctl, in logs, in consoles — and read by other JSON
// parsers. A control character in an event name can drive an operator's
// terminal (ESC[2J cleared one through trustctl alerts); a bidirectional
// override makes a name read differently from what it is; a member given
// twice is read one way by encoding/json (the last one wins) and another
// way by a parser that keeps the first.
package input

import (
	"fmt"
	"unicode/utf8"
)

// TextRule says in words what CheckText accepts, for error messages.
const TextRule = "valid UTF-8 without control characters (U+0000-U+001F and U+007F-U+009F, tab and newline " +
	"included), line or paragraph separators (U+2028, U+2029) or bidirectional formatting characters " +
	"(U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)"

// Forbidden reports whether r may not appear in text: a C0 or C1 control
// character (tab, newline and carriage return included), DEL, a line or
// paragraph separator, or a bidirectional formatting character (marks,
// embeddings, overrides and isolates).
func Forbidden(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r < 0x61c:
		return false
	}
	switch r {
	case 0x061c, // ARABIC LETTER MARK
		0x200e, 0x200f, // LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
		0x2028, 0x2029, // LINE SEPARATOR, PARAGRAPH SEPARATOR
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, // embeddings, pop, overrides
		0x2066, 0x2067, 0x2068, 0x2069: // isolates
		return true
	}
	return false
}

// TextError is the first character of a string that breaks the text rule.
type TextError struct {
	// Offset is the byte offset of the character in the string (in the
	// JSON document, for CheckJSON).
	Offset int
	// Rune is the character; utf8.RuneError when Invalid.
	Rune rune
	// Invalid is set when the bytes at Offset are not UTF-8 (or, in JSON,
	// an escape is an unpaired UTF-16 surrogate); Byte is then the first
	// of them.
	Invalid bool
	Byte    byte
}

// Error names the character and where it is.
func (e *TextError) Error() string {
	if e.Invalid {
		return fmt.Sprintf("invalid UTF-8 or an unpaired surrogate (byte 0x%02x at byte %d)", e.Byte, e.Offset)
	}
	return fmt.Sprintf("%s U+%04X at byte %d", runeKind(e.Rune), e.Rune, e.Offset)
}

func runeKind(r rune) string {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return "control character"
	case r == 0x2028, r == 0x2029:
		return "line or paragraph separator"
	}
	return "bidirectional formatting character"
}

// CheckText returns nil when s is valid UTF-8 and holds no character
// Forbidden refuses, and otherwise the first offending character.
func CheckText(s string) *TextError {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return &TextError{Offset: i, Rune: rune(c)}
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return &TextError{Offset: i, Rune: r, Invalid: true, Byte: c}
		}
		if Forbidden(r) {
			return &TextError{Offset: i, Rune: r}
		}
		i += n
	}
	return nil
}
