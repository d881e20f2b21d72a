package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// hostile is what an old ledger entry may hold: ESC[2J (clear the screen),
// an OSC window title, a C1 CSI, a bidi override, a line separator, a
// zero-width joiner, DEL and a byte that is not UTF-8.
const hostile = "x\x1b[2J\x1b]0;owned\x07\u009b31m\u202eabc\u2028\u200d\x7f\xff\r"

// terminalUnsafe reports the first character of s a terminal could act on
// (tab and newline aside), or -1.
func terminalUnsafe(s string) int {
	for i, r := range s {
		if r != '\t' && r != '\n' && !printable(r) {
			return i
		}
	}
	return -1
}

func TestEscapeText(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"alice", "alice"},
		{"Zoë — 東京 a\u00a0b", "Zoë — 東京 a\u00a0b"},
		{"\x1b[2J", `\x1b[2J`},
		{"a\rb", `a\x0db`},
		{"\u009b", `\u009b`},
		{"abc\u202edef", `abc\u202edef`},
		{"\u2066\u2069\u200e\u061c", `\u2066\u2069\u200e\u061c`},
		{"\u2028", `\u2028`},
		{"\U000e0041", `\U000e0041`}, // a tag character
		{"ok\xff", `ok\xff`},
		{"del\x7f", `del\x7f`},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
	}
	for _, c := range cases {
		if got := escapeText(c.in, true); got != c.want {
			t.Errorf("escapeText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := escapeText("a\tb\nc", false); got != `a\x09b\x0ac` {
		t.Errorf("escapeText without layout = %q", got)
	}
}

// escapeJSONText keeps the JSON's meaning and leaves nothing a terminal
// acts on.
func TestEscapeJSONText(t *testing.T) {
	t.Parallel()
	v := map[string]any{"message": strings.ToValidUTF8(hostile, "\ufffd"), "emoji": "😀 \U0001F9D1\u200d\U0001F4BB", "plain": "é"}
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := escapeJSONText(raw)
	if i := terminalUnsafe(string(out)); i >= 0 {
		t.Fatalf("escaped JSON still holds %q at %d: %s", string(out)[i:], i, out)
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("the JSON changed meaning: %v %v\n%s", err, back, out)
	}
	if !strings.Contains(string(out), `\u202e`) || !strings.Contains(string(out), "é") {
		t.Errorf("unexpected escaping: %s", out)
	}
}

// trustctl prints server-provided strings (here an alert of an old ledger
// entry) without anything a terminal could act on, in tables, in JSON and
// in the policy document.
func TestOutputEscapesServerText(t *testing.T) {
	clearEnv(t)
	msg, err := json.Marshal(hostile[:len(hostile)-2] + "\r") // encoding/json makes the stray byte U+FFFD
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := fakeServer(t, map[string]answer{
		"GET /v1/alerts": {200, `{"alerts":[{"alertId":"al-1","principalId":"alice","type":"sharp_drop","severity":"high",` +
			`"raisedAt":"2026-03-01T11:00:00.000Z","message":` + string(msg) + `,"status":"open"}]}`},
		"GET /v1/policy": {200, `{"version":0,"decision":{"permissions":[{"name":` + string(msg) + `,"minScore":30}]}}`},
	})
	for _, args := range [][]string{{"alerts"}, {"alerts", "-o", "json"}, {"policy", "get"}} {
		code, out, errOut := runCLI("", append([]string{"--addr", addr, "--token", "tl_x"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if i := terminalUnsafe(out); i >= 0 {
			t.Errorf("%v: output holds %q at byte %d:\n%s", args, out[i:], i, out)
		}
		if !strings.Contains(out, `1b[2J`) || !strings.Contains(out, `202e`) {
			t.Errorf("%v: the escapes are not shown:\n%s", args, out)
		}
	}
}
