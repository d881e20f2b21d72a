package main

import (
	"regexp"
	"strings"
	"testing"
)

// leaves lists the leaf commands under list with their paths.
func leaves(prefix string, list []*command) map[string]*command {
	out := map[string]*command{}
	for _, cmd := range list {
		path := strings.TrimSpace(prefix + " " + cmd.name)
		if cmd.subs == nil {
			out[path] = cmd
			continue
		}
		for p, leaf := range leaves(path, cmd.subs) {
			out[p] = leaf
		}
	}
	return out
}

// Each command's usage names it by its place in the command tree, with
// its synopsis; the sub-command an inner command falls back to can be
// shown under the inner command's name.
func TestEveryCommandUsageNamesItsPlace(t *testing.T) {
	clearEnv(t)
	shownAs := map[string]string{"endorse add": "endorse"}
	all := leaves("", newCLI(nil, nil, nil).commands())
	if len(all) < 40 {
		t.Fatalf("only %d commands", len(all))
	}
	for path, cmd := range all {
		name := path
		if s, ok := shownAs[path]; ok {
			name = s
		}
		code, out, errOut := runCLI("", append(strings.Fields(path), "-h")...)
		want := "Usage: trustctl " + name + " " + cmd.args + "\n"
		if code != exitOK || !strings.HasPrefix(out, want) || errOut != "" {
			t.Errorf("%s -h: exit %d, usage %q (stderr %q), want it to start %q on stdout", path, code, out, errOut, want)
		}
		// Flags as they are typed: --name, never the flag package's -name.
		if singleDash.MatchString(out) {
			t.Errorf("%s -h shows a single-dash flag:\n%s", path, out)
		}
	}
}

// A command checks its flags and arguments before it connects: a
// mistake in them is reported even when --addr is unusable too.
func TestCommandChecksComeBeforeConnecting(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"decide", "alice"}, "--action is required"},
		{[]string{"org", "set", "acme", "--base", "high"}, `--base: "high" is not a number`},
		{[]string{"snapshot", "restore", "/nonexistent/backup.snap"}, "/nonexistent/backup.snap: no such file"},
		{[]string{"status"}, "--addr: "},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI("", append([]string{"--addr", "ftp://node"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

// transfer-leadership takes the node id or nothing.
func TestTransferLeadershipTakesAtMostOneNode(t *testing.T) {
	clearEnv(t)
	code, _, errOut := runCLI("", "--addr", "http://127.0.0.1:1", "cluster", "transfer-leadership", "n2", "n3")
	if code != exitUsage || !strings.Contains(errOut, "too many arguments: n3") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

var singleDash = regexp.MustCompile(`\n  -[^-]`)
