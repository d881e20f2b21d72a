package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// emit writes v as indented JSON with --output json, and otherwise lets
// table write the human form through a tabwriter. Either way, characters
// a terminal could act on are escaped (terminalWriter, escapeJSONText):
// the strings come from the server, and ledger entries written before the
// API refused them may hold control or bidirectional formatting
// characters.
func (c *cli) emit(v any, table func(w io.Writer)) error {
	if c.g.output == "json" {
		return writeJSON(c.stdout, v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	table(terminalWriter{tw})
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeJSON writes v indented, with a trailing newline, without escaping
// HTML characters but with every non-printable character escaped
// (escapeJSONText).
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if _, err := w.Write(escapeJSONText(buf.Bytes())); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// printable reports whether r is shown as itself: a graphic character
// (letters, marks, numbers, punctuation, symbols, spaces) or a space.
// Everything else — C0 and C1 controls, DEL, bidirectional and other
// formatting characters, line separators, private-use and unassigned
// code points — could move the cursor, clear the screen, retitle the
// window or reorder the text around it.
func printable(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r < 0x7f
	}
	return r != utf8.RuneError && unicode.IsGraphic(r)
}

// escapeText returns s with every character that is not printable shown
// as a Go escape (\x1b, \u202e, \U000e0001; \xff for a byte that is
// not UTF-8). Tab and newline are kept when layout is set: they lay out
// the tables.
func escapeText(s string, layout bool) string {
	clean := true
	for _, r := range s {
		if !printable(r) && !(layout && (r == '\t' || r == '\n')) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case printable(r), layout && (r == '\t' || r == '\n'):
			b.WriteString(s[i : i+n])
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += n
	}
	return b.String()
}

// terminalWriter escapes what is written through it with escapeText,
// keeping tab and newline. Each Write is escaped on its own, which suits
// fmt's writes of whole strings.
type terminalWriter struct{ w io.Writer }

func (t terminalWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(t.w, escapeText(string(p), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeJSONText rewrites JSON text so that every non-printable character
// in it is a \u escape: DEL, C1 controls, bidirectional and other
// formatting characters, line separators. Such characters can only be
// inside strings, so the JSON keeps its meaning; bytes that are not UTF-8
// become \ufffd. encoding/json already escapes the C0 controls.
func escapeJSONText(b []byte) []byte {
	clean := true
	for _, r := range string(b) {
		if r >= 0x7f && !printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r < 0x7f, printable(r):
			out = append(out, b[i:i+n]...)
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += n
	}
	return out
}

// row writes one tab-separated table row.
func row(w io.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = cell(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

// cell formats one table cell: empty values show as "-".
func cell(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	case json.RawMessage:
		s = compactJSON(x)
	case []string:
		s = strings.Join(x, ",")
	case bool:
		s = yesNo(x)
	default:
		s = fmt.Sprint(x)
	}
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// compactJSON shows a JSON value on one line; empty objects and arrays
// show as "".
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	switch s := buf.String(); s {
	case "{}", "[]", "null":
		return ""
	default:
		return s
	}
}

// signed shows a decimal with an explicit sign.
func signed(n json.Number) string {
	s := string(n)
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return s
	}
	if strings.Trim(s, "0.") == "" {
		return s
	}
	return "+" + s
}
