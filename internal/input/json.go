package input

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Options say how CheckJSON compares member names and which strings it
// checks.
type Options struct {
	// FoldCase compares member names the way encoding/json matches them to
	// struct fields (bytes.EqualFold: "eventId", "EventID" and "EVENTID"
	// are one member), so that no two members of an object can land in the
	// same field. Without it names compare exactly, as JOSE and JWT (RFC
	// 7515 §4, RFC 7519 §4) do.
	FoldCase bool
	// Text applies the text rule (Forbidden) to every string, member names
	// included, after escapes are decoded. Without it strings need only be
	// valid Unicode.
	Text bool
	// Whitespace, with Text, lets string values (not member names) hold
	// tab, newline and carriage return, the white space of JSON: a value
	// that is itself a JSON document sent as a string may be indented.
	Whitespace bool
}

// FaultKind says what CheckJSON found wrong.
type FaultKind uint8

// The faults CheckJSON reports.
const (
	// Duplicate: an object has the member Name twice.
	Duplicate FaultKind = iota + 1
	// BadText: a string breaks the text rule or is not valid Unicode
	// (Text says where and what).
	BadText
	// Syntax: the document is not one JSON value. Callers decode the
	// document with encoding/json first, which names syntax errors better.
	Syntax
)

// Fault is the first thing wrong in a JSON document.
type Fault struct {
	Kind FaultKind
	// Path is the JSON path of the value at fault ("signals[3].event"; ""
	// for the document itself). For a duplicate it is the path of the
	// repeated member; for a bad member name, the path of that member.
	Path string
	// Name is the repeated member name (Duplicate), as decoded.
	Name string
	// Text is the offending character (BadText); its Offset is the byte
	// offset in the document.
	Text *TextError
	// Offset is the byte offset in the document where the fault was
	// found.
	Offset int
}

// Error describes the fault, naming the path.
func (f *Fault) Error() string {
	where := f.Path
	if where == "" {
		where = "the document"
	}
	switch f.Kind {
	case Duplicate:
		return fmt.Sprintf("%s: the member %s appears more than once in its object", where, strconv.QuoteToASCII(f.Name))
	case BadText:
		return fmt.Sprintf("%s: %v", where, f.Text)
	}
	return fmt.Sprintf("%s: not valid JSON at byte %d", where, f.Offset)
}

// maxDepth is the nesting encoding/json accepts.
const maxDepth = 10000

// smallObject is the number of members up to which names are compared
// pairwise; larger objects switch to a map.
const smallObject = 32

// CheckJSON checks one JSON value (surrounding white space allowed): no
// object, at any depth, has the same member twice (compared as opt says),
// every string is valid Unicode (valid UTF-8, escapes that are not unpaired
// UTF-16 surrogates), and with opt.Text every string passes the text rule.
// It returns the first fault, or nil. It allocates only for a fault, for
// member names that hold escapes, for objects of more than 32 members and
// for documents nested deeper than the scanners it keeps have been.
func CheckJSON(data []byte, opt Options) *Fault {
	s := scanners.Get().(*scanner)
	s.data, s.opt, s.pos, s.fault = data, opt, 0, nil
	s.ws()
	if s.value(0) {
		s.ws()
		if s.pos != len(s.data) {
			s.syntax()
		}
	}
	fault := s.fault
	// Drop every reference into data before the scanner is reused.
	clear(s.path[:cap(s.path)])
	clear(s.names[:cap(s.names)])
	s.data, s.fault = nil, nil
	s.path, s.names = s.path[:0], s.names[:0]
	if cap(s.path) <= 64 && cap(s.names) <= 1024 { // not the stacks of a pathological document
		scanners.Put(s)
	}
	return fault
}

// scanners keeps scanners for reuse, so that checking the usual document
// allocates nothing.
var scanners = sync.Pool{New: func() any { return &scanner{path: make([]frame, 0, 8), names: make([]name, 0, 32)} }}

// scanner walks one JSON document. path holds the open containers, names
// the member names of the open objects (each object's names from its
// frame's first index on).
type scanner struct {
	data  []byte
	pos   int
	opt   Options
	path  []frame
	names []name
	fault *Fault
}

type frame struct {
	array bool
	index int
	name  []byte
	seen  map[string]struct{} // the folded names of an object too large for pairwise comparison
	first int                 // the object's first entry in names
}

type name struct {
	b     []byte
	ascii bool
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) syntax() bool {
	if s.fault == nil {
		s.fault = &Fault{Kind: Syntax, Path: s.pathString(), Offset: s.pos}
	}
	return false
}

func (s *scanner) value(depth int) bool {
	if s.pos >= len(s.data) || depth > maxDepth {
		return s.syntax()
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, ok := s.str(false)
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return s.syntax()
}

func (s *scanner) literal(lit string) bool {
	if end := s.pos + len(lit); end > len(s.data) || string(s.data[s.pos:end]) != lit {
		return s.syntax()
	}
	s.pos += len(lit)
	return true
}

// number accepts the JSON number grammar (RFC 8259 §6).
func (s *scanner) number() bool {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		s.digits()
	default:
		return s.syntax()
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			return s.syntax()
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return s.syntax()
		}
	}
	return true
}

func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

func (s *scanner) array(depth int) bool {
	s.pos++ // [
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return true
	}
	s.path = append(s.path, frame{array: true})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	for i := 0; ; i++ {
		s.path[len(s.path)-1].index = i
		if done, ok := s.element(depth, ']'); done || !ok {
			return ok
		}
	}
}

// element scans a container's value at s.pos and what follows it: a comma
// and white space, or end, which closes the container (done). ok is false
// once a fault is recorded.
func (s *scanner) element(depth int, end byte) (done, ok bool) {
	if !s.value(depth + 1) {
		return false, false
	}
	s.ws()
	if s.pos >= len(s.data) {
		return false, s.syntax()
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		s.ws()
		return false, true
	case end:
		s.pos++
		return true, true
	}
	return false, s.syntax()
}

func (s *scanner) object(depth int) bool {
	s.pos++ // {
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return true
	}
	s.path = append(s.path, frame{first: len(s.names)})
	top := len(s.path) - 1
	defer func() {
		s.names = s.names[:s.path[top].first]
		s.path = s.path[:top]
	}()
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax()
		}
		at := s.pos
		key, ascii, ok := s.str(true)
		if !ok {
			if s.fault.Kind == BadText {
				s.path[top].name = key
				s.fault.Path = s.pathString()
			}
			return false
		}
		s.path[top].name = key
		if s.duplicate(top, name{key, ascii}) {
			s.fault = &Fault{Kind: Duplicate, Path: s.pathString(), Name: string(key), Offset: at}
			return false
		}
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntax()
		}
		s.pos++
		s.ws()
		if done, ok := s.element(depth, '}'); done || !ok {
			return ok
		}
	}
}

// duplicate records n as a member of the object at path[top] and reports
// whether the object already had it.
func (s *scanner) duplicate(top int, n name) bool {
	f := &s.path[top]
	if f.seen != nil {
		k := s.key(n.b)
		if _, dup := f.seen[k]; dup {
			return true
		}
		f.seen[k] = struct{}{}
		return false
	}
	for _, m := range s.names[f.first:] {
		if s.same(m, n) {
			return true
		}
	}
	s.names = append(s.names, n)
	if len(s.names)-f.first > smallObject {
		f.seen = make(map[string]struct{}, 2*smallObject)
		for _, m := range s.names[f.first:] {
			f.seen[s.key(m.b)] = struct{}{}
		}
	}
	return false
}

func (s *scanner) same(a, b name) bool {
	if !s.opt.FoldCase {
		return bytes.Equal(a.b, b.b)
	}
	if a.ascii && b.ascii && len(a.b) != len(b.b) {
		return false
	}
	return bytes.EqualFold(a.b, b.b)
}

// key is a member name as a map key: folded when names fold, so that two
// names are the same key exactly when same reports them equal.
func (s *scanner) key(b []byte) string {
	if !s.opt.FoldCase {
		return string(b)
	}
	return string(foldName(b))
}

// foldName maps a name to one representative of its case-folding class:
// ASCII upper case, and each other rune to the smallest rune of its
// unicode.SimpleFold orbit (what encoding/json does to match names).
func foldName(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	return out
}

// str scans the string at s.pos. With decode it returns the string's
// decoded bytes (a slice of the document when the string has no escapes)
// and whether they are all ASCII; a string that breaks the rules sets a
// BadText fault (and returns the string's raw text, for the path).
func (s *scanner) str(decode bool) ([]byte, bool, bool) {
	d := s.data
	start := s.pos + 1
	i := start
	var buf []byte // the decoded name, once an escape is met
	ascii := true
	for i < len(d) {
		if buf == nil {
			for i < len(d) && plain[d[i]] {
				i++
			}
			if i == len(d) {
				break
			}
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			if !decode {
				return nil, ascii, true
			}
			if buf == nil {
				return d[start:i], ascii, true
			}
			return buf, ascii, true
		case c < 0x20:
			s.pos = i
			return nil, false, s.syntax()
		case c < utf8.RuneSelf && c != '\\':
			if buf != nil {
				buf = append(buf, c)
			}
			i++
		default: // an escape or a non-ASCII character
			if c == '\\' && decode && buf == nil {
				buf = append(make([]byte, 0, i-start+8), d[start:i]...)
			}
			r, n, e, ok := s.char(i, decode)
			if !ok {
				s.pos = i
				return nil, false, s.syntax()
			}
			if e != nil {
				return s.badString(start, i, e)
			}
			if r >= utf8.RuneSelf {
				ascii = false
			}
			if buf != nil {
				buf = utf8.AppendRune(buf, r)
			}
			i += n
		}
	}
	s.pos = i
	return nil, false, s.syntax()
}

// char decodes the escape or the non-ASCII character at s.data[i] of a
// string (of a member name: name) and applies the text rule to it. It
// returns the rune and the bytes it takes, or what is wrong with it, or ok
// false for a malformed escape.
func (s *scanner) char(i int, name bool) (r rune, n int, e *TextError, ok bool) {
	d := s.data
	if d[i] == '\\' {
		var status int
		r, n, status = escape(d[i:])
		switch status {
		case malformed:
			return 0, 0, nil, false
		case unpaired:
			return 0, 0, &TextError{Offset: i, Rune: utf8.RuneError, Invalid: true, Byte: '\\'}, true
		}
	} else {
		r, n = utf8.DecodeRune(d[i:])
		if r == utf8.RuneError && n == 1 {
			return 0, 0, &TextError{Offset: i, Rune: r, Invalid: true, Byte: d[i]}, true
		}
	}
	if s.forbidden(r, name) {
		return 0, 0, &TextError{Offset: i, Rune: r}, true
	}
	return r, n, nil, true
}

// badString records a BadText fault for the string that starts at start and
// breaks the rules at i, moves past the string and returns its raw text,
// which a caller reporting a bad member name shows in the path.
func (s *scanner) badString(start, i int, e *TextError) ([]byte, bool, bool) {
	d := s.data
	s.fault = &Fault{Kind: BadText, Path: s.pathString(), Text: e, Offset: e.Offset}
	end := i
	for end < len(d) && d[end] != '"' {
		if d[end] == '\\' {
			end++
		}
		end++
	}
	s.pos = min(end, len(d))
	return d[start:s.pos], false, false
}

// forbidden applies the text rule, as the options say, to r in a member
// name (name) or a string value.
func (s *scanner) forbidden(r rune, name bool) bool {
	if !s.opt.Text || !Forbidden(r) {
		return false
	}
	return name || !s.opt.Whitespace || (r != '\t' && r != '\n' && r != '\r')
}

// plain marks the bytes a string passes over without a second look:
// printable ASCII other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// The outcomes of escape.
const (
	wellFormed = iota
	malformed
	unpaired // a \uXXXX escape of a UTF-16 surrogate without its other half
)

// escape decodes the escape sequence at the start of b: the rune, the
// bytes it takes, and whether it is well formed.
func escape(b []byte) (rune, int, int) {
	if len(b) < 2 {
		return 0, 0, malformed
	}
	switch b[1] {
	case '"', '\\', '/':
		return rune(b[1]), 2, wellFormed
	case 'b':
		return '\b', 2, wellFormed
	case 'f':
		return '\f', 2, wellFormed
	case 'n':
		return '\n', 2, wellFormed
	case 'r':
		return '\r', 2, wellFormed
	case 't':
		return '\t', 2, wellFormed
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, 0, malformed
		}
		if r < 0xd800 || r > 0xdfff {
			return r, 6, wellFormed
		}
		if r >= 0xdc00 || len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0, 6, unpaired
		}
		lo, ok := hex4(b[8:])
		if !ok || lo < 0xdc00 || lo > 0xdfff {
			return 0, 6, unpaired
		}
		return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00), 12, wellFormed
	}
	return 0, 0, malformed
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// pathString renders the open containers as a JSON path.
func (s *scanner) pathString() string {
	var b strings.Builder
	for _, f := range s.path {
		if f.array {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(f.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		if CheckText(string(f.name)) != nil {
			q := strconv.QuoteToASCII(string(f.name))
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(string(f.name))
		}
	}
	return b.String()
}
