package api

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every threat docs/threat-model.md lists names a test, and every test it
// names exists in the package it names.
func TestThreatModelNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile("../docs/threat-model.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{"api": "../api", "cluster": "../cluster", "clustertest": "../clustertest", "fsm": "../fsm",
		"federation": "../federation", "pki": "../internal/pki", "input": "../internal/input", "outbound": "../internal/outbound", "trustd": "../cmd/trustd",
		"trustctl": "../cmd/trustctl", "e2e": "../e2e"}
	defined := map[string]map[string]bool{}
	for pkg, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		defined[pkg] = map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f) // #nosec G304 -- the repository's own test files
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`(?m)^func (Test\w+)\(`).FindAllStringSubmatch(string(b), -1) {
				defined[pkg][m[1]] = true
			}
		}
	}
	ref := regexp.MustCompile("`(\\w+)\\.(Test\\w+)`")
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| STRIDE") || strings.HasPrefix(line, "| ---") {
			continue
		}
		rows++
		refs := ref.FindAllStringSubmatch(line, -1)
		if len(refs) == 0 {
			t.Errorf("a threat names no test: %s", line)
		}
		for _, r := range refs {
			tests, ok := defined[r[1]]
			if !ok {
				t.Errorf("unknown package %q in %s", r[1], r[0])
			} else if !tests[r[2]] {
				t.Errorf("%s: no such test in %s", r[0], dirs[r[1]])
			}
		}
	}
	if rows < 30 {
		t.Errorf("only %d threats listed", rows)
	}
}
