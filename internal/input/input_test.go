package input

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	good := []string{"", "alice", "login_success", "Acme Corp", "Zoë", "日本語", "👩‍💻 dev", "a\u00a0b", "x:y@z.-_", "\u200d", "\ufffd"}
	for _, s := range good {
		if e := CheckText(s); e != nil {
			t.Errorf("CheckText(%q) = %v, want nil", s, e)
		}
	}
	bad := []struct {
		s       string
		offset  int
		r       rune
		invalid bool
	}{
		{"\x1b[2J", 0, 0x1b, false},
		{"a\tb", 1, '\t', false},
		{"a\nb", 1, '\n', false},
		{"a\rb", 1, '\r', false},
		{"\x00", 0, 0, false},
		{"del\x7f", 3, 0x7f, false},
		{"next\u0085line", 4, 0x85, false},
		{"csi\u009b2J", 3, 0x9b, false},
		{"evil\u202eexe.txt", 4, 0x202e, false},
		{"\u202a", 0, 0x202a, false},
		{"\u2066isolate", 0, 0x2066, false},
		{"\u2069", 0, 0x2069, false},
		{"rtl\u200f", 3, 0x200f, false},
		{"\u200e", 0, 0x200e, false},
		{"\u061c", 0, 0x061c, false},
		{"line\u2028sep", 4, 0x2028, false},
		{"\u2029", 0, 0x2029, false},
		{"ok\xff", 2, utf8.RuneError, true},
		{"\xc0\x80", 0, utf8.RuneError, true},     // overlong NUL
		{"\xed\xa0\x80", 0, utf8.RuneError, true}, // an encoded surrogate
		{"trunc\xe2\x80", 5, utf8.RuneError, true},
	}
	for _, c := range bad {
		e := CheckText(c.s)
		if e == nil || e.Offset != c.offset || e.Rune != c.r || e.Invalid != c.invalid {
			t.Errorf("CheckText(%q) = %+v, want offset %d rune %U invalid %v", c.s, e, c.offset, c.r, c.invalid)
			continue
		}
		if msg := e.Error(); !strings.Contains(msg, fmt.Sprint(c.offset)) {
			t.Errorf("CheckText(%q): message %q does not say where", c.s, msg)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	strict := Options{FoldCase: true, Text: true}
	jose := Options{}
	spaced := Options{FoldCase: true, Text: true, Whitespace: true}
	many := func(dupAt int) string {
		var b strings.Builder
		b.WriteString(`{"m":{`)
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		fmt.Fprintf(&b, `"K%d":0}}`, dupAt)
		return b.String()
	}
	cases := []struct {
		name string
		doc  string
		opt  Options
		kind FaultKind // 0: no fault
		path string
	}{
		{"plain object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, strict, 0, ""},
		{"scalars and white space", " \t\r\n[1, -0.5e+3, 2E7, \"x\", {}]\n", strict, 0, ""},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`, strict, 0, ""},
		{"duplicate at the top", `{"iss":"a","iss":"b"}`, jose, Duplicate, "iss"},
		{"duplicate nested", `{"a":{"b":{"c":1,"c":2}}}`, strict, Duplicate, "a.b.c"},
		{"duplicate in an array element", `{"signals":[{"event":"x"},{"event":"x","event":"y"}]}`, strict, Duplicate, "signals[1].event"},
		{"duplicate in a top-level array", `[{"a":1},{"a":1,"a":1}]`, strict, Duplicate, "[1].a"},
		{"duplicate after a nested object", `{"a":{"a":1},"b":2,"a":3}`, strict, Duplicate, "a"},
		{"duplicate through an escape", `{"alg":"EdDSA","\u0061lg":"none"}`, jose, Duplicate, "alg"},
		{"case differs, exact", `{"iss":"a","ISS":"b"}`, jose, 0, ""},
		{"case differs, folded", `{"eventId":"a","EVENTID":"b"}`, strict, Duplicate, "EVENTID"},
		{"kelvin sign folds to k", `{"kid":"a","\u212aid":"b"}`, strict, Duplicate, "\u212aid"},
		{"long s folds to s", `{"sub":"a","\u017fub":"b"}`, strict, Duplicate, "\u017fub"},
		{"large object without duplicates", many(-1), strict, 0, ""},
		{"large object with a folded duplicate", many(7), strict, Duplicate, "m.K7"},
		{"large object, exact names", many(7), jose, 0, ""},
		{"escaped control character", `{"event":"\u001b[2J"}`, strict, BadText, "event"},
		{"escaped newline", `{"reason":"a\nb"}`, strict, BadText, "reason"},
		{"escaped tab", `{"a":["ok","\t"]}`, strict, BadText, "a[1]"},
		{"raw C1 control", "{\"m\":{\"k\":\"\u009b31m\"}}", strict, BadText, "m.k"},
		{"raw bidi override", "{\"name\":\"\u202etxt.exe\"}", strict, BadText, "name"},
		{"escaped bidi isolate", `{"name":"\u2067x"}`, strict, BadText, "name"},
		{"control character in a name", `{"a":{"k\u001bx":1}}`, strict, BadText, `a.k\u001bx`},
		{"bidi in a raw name", "{\"k\u202ex\":1}", strict, BadText, `k\u202ex`},
		{"controls allowed without Text", `{"a":"\u001b\n"}`, jose, 0, ""},
		{"white space in a value with Whitespace", "{\"doc\":\"{\\n\\t\\\"a\\\": 1\\r\\n}\"}", spaced, 0, ""},
		{"other controls in a value with Whitespace", `{"a":"x\u001by"}`, spaced, BadText, "a"},
		{"white space in a name with Whitespace", `{"a\tb":1}`, spaced, BadText, `a\tb`},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", jose, BadText, "a"},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", jose, BadText, `\xc3`},
		{"unpaired high surrogate", `{"a":"\ud800"}`, jose, BadText, "a"},
		{"unpaired low surrogate", `{"a":"x\udc00"}`, jose, BadText, "a"},
		{"high surrogate then a letter", `{"a":"\ud800\u0041"}`, jose, BadText, "a"},
		{"surrogate pair", `{"a":"\ud83d\ude00"}`, strict, 0, ""},
		{"escaped replacement character", `{"a":"\ufffd"}`, strict, 0, ""},
		{"escaped quote and backslash", `{"a\"b":"c\\d\/"}`, strict, 0, ""},
		{"truncated", `{"a":`, strict, Syntax, "a"},
		{"trailing data", `{} {}`, strict, Syntax, ""},
		{"bad literal", `{"a":tru}`, strict, Syntax, "a"},
		{"leading zero", `[01]`, strict, Syntax, "[0]"},
		{"raw control in a string", "[\"a\x01\"]", strict, Syntax, "[0]"},
		{"bad escape", `["\x"]`, strict, Syntax, "[0]"},
		{"empty", ``, strict, Syntax, ""},
	}
	for _, c := range cases {
		f := CheckJSON([]byte(c.doc), c.opt)
		switch {
		case c.kind == 0 && f != nil:
			t.Errorf("%s: CheckJSON(%s) = %v, want no fault", c.name, c.doc, f)
		case c.kind != 0 && (f == nil || f.Kind != c.kind || f.Path != c.path):
			t.Errorf("%s: CheckJSON(%s) = %+v, want kind %d at %q", c.name, c.doc, f, c.kind, c.path)
		case f != nil && f.Error() == "":
			t.Errorf("%s: empty message", c.name)
		}
	}
}

func TestCheckJSONDeep(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":[`, 4000) + `{"x":1,"x":2}` + strings.Repeat(`]}`, 4000)
	f := CheckJSON([]byte(deep), Options{})
	if f == nil || f.Kind != Duplicate || !strings.HasSuffix(f.Path, "a[0].x") {
		t.Fatalf("deep duplicate: %+v", f)
	}
	tooDeep := strings.Repeat(`[`, maxDepth+2) + strings.Repeat(`]`, maxDepth+2)
	if f := CheckJSON([]byte(tooDeep), Options{}); f == nil || f.Kind != Syntax {
		t.Fatalf("nesting beyond encoding/json's limit: %+v", f)
	}
}

// hasDuplicate is the reference: encoding/json's tokenizer, and names
// compared pairwise with bytes.EqualFold (how encoding/json matches
// fields).
func hasDuplicate(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type obj struct {
		names  []string
		object bool
		key    bool // the next string token is a name
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &obj{object: d == '{', key: d == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top != nil && top.object && top.key {
			name := tok.(string)
			for _, n := range top.names {
				if strings.EqualFold(n, name) {
					return true
				}
			}
			top.names = append(top.names, name)
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}

// FuzzCheckJSON compares CheckJSON with encoding/json: it accepts every
// document encoding/json accepts (unless a string is not valid Unicode),
// refuses every document encoding/json refuses, and finds a duplicate
// exactly when the reference does.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[1,{"c":"\u0063","C":2}]}}`, `[1,2.5e-3,"x\ud83d\ude00",true,null]`,
		`{"\u212a":1,"k":2}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a" : [ ] , "b" : { } }`, `"\u001b"`, `-0`, `{"":1,"":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fault := CheckJSON(data, Options{FoldCase: true})
		valid := json.Valid(data)
		switch {
		case !valid && fault == nil:
			t.Fatalf("CheckJSON accepts %q, which encoding/json refuses", data)
		case valid && fault != nil && fault.Kind == Syntax:
			t.Fatalf("CheckJSON: syntax fault %v in %q, which encoding/json accepts", fault, data)
		case valid && (fault == nil || fault.Kind == Duplicate):
			if want := hasDuplicate(data); want != (fault != nil) {
				t.Fatalf("CheckJSON(%q) = %v; the reference finds a duplicate: %v", data, fault, want)
			}
		}
	})
}
