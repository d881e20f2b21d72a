package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The audit log rotates by size, keeps the configured number of rotated
// files, never splits a line, and loses no line on the way.
func TestAuditLogRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	r, err := openRotating(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 20 {
		line := fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", 20)) + "\n" // 35-36 bytes
		lines = append(lines, line)
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range []string{path + ".2", path + ".1", path} {
		b, err := os.ReadFile(f) // #nosec G304 -- the test's own files
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(b) > 100 || !bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("%s: %d bytes, or a split line: %q", f, len(b), b)
		}
		fi, _ := os.Stat(f)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f, fi.Mode().Perm())
		}
		all = append(all, b...)
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third rotated file is kept: %v", err)
	}
	// The newest lines are all there, in order; the oldest went with the
	// deleted files.
	if want := strings.Join(lines[len(lines)-strings.Count(string(all), "\n"):], ""); string(all) != want {
		t.Errorf("kept lines:\n%s\nwant the newest, in order:\n%s", all, want)
	}
	if strings.Count(string(all), "\n") < 6 {
		t.Errorf("only %d lines kept in 3 files of 100 bytes", strings.Count(string(all), "\n"))
	}
}
