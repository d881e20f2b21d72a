package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// number checks that s is a JSON number and returns it unchanged, so it
// is sent exactly as typed.
func number(flagName, s string) (json.Number, error) {
	if s == "" {
		return "", nil
	}
	s = strings.TrimPrefix(s, "+")
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return "", usagef("--%s: %q is not a number", flagName, s)
	}
	n, ok := v.(json.Number)
	if !ok {
		return "", usagef("--%s: %q is not a number", flagName, s)
	}
	return n, nil
}

// jsonValue reads a JSON flag value: inline JSON, @FILE for a file's
// contents, or @- for standard input. kind is '{' or '[' to require an
// object or an array, 0 for any value.
func (c *cli) jsonValue(flagName, s string, kind byte) (json.RawMessage, error) {
	if s == "" {
		return nil, nil
	}
	b := []byte(s)
	if strings.HasPrefix(s, "@") {
		var err error
		if b, err = c.readInput(s[1:]); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
	}
	b = []byte(strings.TrimSpace(string(b)))
	if !json.Valid(b) {
		return nil, usagef("--%s: not valid JSON", flagName)
	}
	if kind != 0 && (len(b) == 0 || b[0] != kind) {
		what := map[byte]string{'{': "a JSON object", '[': "a JSON array"}[kind]
		return nil, usagef("--%s: must be %s", flagName, what)
	}
	return json.RawMessage(b), nil
}

// maxInput bounds a file or standard input read whole.
const maxInput = 64 << 20

// readInput reads a whole file, or standard input for "-".
func (c *cli) readInput(name string) ([]byte, error) {
	r, closeFn, err := c.open(name)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", displayName(name), err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("read %s: larger than %d MiB", displayName(name), maxInput>>20)
	}
	return b, nil
}

// open opens a file, or standard input for "-".
func (c *cli) open(name string) (io.Reader, func(), error) {
	if name == "-" {
		return c.stdin, func() {}, nil
	}
	f, err := os.Open(name) // #nosec G304 -- the user names the file to read
	if err != nil {
		return nil, nil, err
	}
	return bufio.NewReader(f), func() { _ = f.Close() }, nil
}

func displayName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// instant parses --at: RFC 3339, "now", or an offset from now such as
// "+48h", "-30m", "36h" or "+7d" (days of 24 hours).
func (c *cli) instant(flagName, s string) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return c.now(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := offset(s); err == nil {
		return c.now().Add(d), nil
	}
	return time.Time{}, usagef("--%s: %q is neither an RFC 3339 time nor an offset like +48h or +7d", flagName, s)
}

// offset parses a signed Go duration, or a whole number of days ("7d").
func offset(s string) (time.Duration, error) {
	s = strings.TrimPrefix(s, "+")
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 36500 || n < -36500 {
			return 0, fmt.Errorf("bad day count %q", days)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// instantString is instant formatted for a request body ("" when unset).
func (c *cli) instantString(flagName, s string) (string, error) {
	t, err := c.instant(flagName, s)
	if err != nil || t.IsZero() {
		return "", err
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00"), nil
}

// newEventID returns a random event id for signals given without one.
func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "trustctl-" + hex.EncodeToString(b[:])
}

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends the comma-separated values of one occurrence.
func (l *stringList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// optBool is a bool flag that remembers whether it was given.
type optBool struct {
	set, v bool
}

func (b *optBool) String() string {
	if !b.set {
		return ""
	}
	return fmt.Sprint(b.v)
}

// Set parses the flag's value.
func (b *optBool) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		b.v = true
	case "false", "0", "no":
		b.v = false
	default:
		return fmt.Errorf("%q is not true or false", s)
	}
	b.set = true
	return nil
}

// IsBoolFlag lets the flag be given as --name alone.
func (b *optBool) IsBoolFlag() bool { return true }

func (b *optBool) ptr() *bool {
	if !b.set {
		return nil
	}
	v := b.v
	return &v
}

// jsonNum converts a checked number string.
func jsonNum(s string) json.Number { return json.Number(s) }
