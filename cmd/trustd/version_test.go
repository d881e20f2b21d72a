package main

import (
	"bytes"
	"strings"
	"testing"
)

// --version and -h answer on standard output with exit 0; a mistake is
// one error line on standard error with exit 2, no usage dump.
func TestVersionHelpAndMistakes(t *testing.T) {
	for _, c := range []struct {
		args          []string
		code          int
		stdout, error string
	}{
		{[]string{"--version"}, 0, "trustd ", ""},
		{[]string{"-h"}, 0, "Usage: trustd [flags]", ""},
		{[]string{"--bogus"}, 2, "", "trustd: unknown flag --bogus (see trustd -h)"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.HasPrefix(out.String(), c.stdout) || c.stdout == "" && out.Len() > 0 ||
			!strings.Contains(errb.String(), c.error) || c.error == "" && errb.Len() > 0 {
			t.Errorf("trustd %v: exit %d\nstdout %q\nstderr %q", c.args, code, out.String(), errb.String())
		}
	}
	var out bytes.Buffer
	run([]string{"-h"}, &out, &out)
	if !strings.Contains(out.String(), "\n  --version\n") {
		t.Errorf("-h does not list --version:\n%s", out.String())
	}
}

// Every configuration fault is reported at once, from flags, the
// environment and validation alike.
func TestEveryConfigFaultReported(t *testing.T) {
	env := map[string]string{"TRUSTLEDGER_TRAILING_LOGS": "y"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := loadConfig([]string{"--snapshot-threshold", "x", "--node-id", "bad id"}, lookup, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"--snapshot-threshold", "TRUSTLEDGER_TRAILING_LOGS", "--node-id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s:\n%v", want, err)
		}
	}
}
