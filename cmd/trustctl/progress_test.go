package main

import (
	"bytes"
	"strings"
	"testing"
)

// A progress line is drawn only where trustctl was given a terminal (its
// progress writer), ends at the total, and is closed with a newline;
// without a terminal nothing is written.
func TestProgress(t *testing.T) {
	var term bytes.Buffer
	c := newCLI(nil, nil, nil)
	c.progress = &term
	p := c.startProgress("signals sent", 250)
	p.update(100)
	p.update(200) // within progressEvery of the last draw: skipped
	p.update(250) // the end is always drawn
	p.finish()
	if got := term.String(); got != "\rsignals sent: 100/250 (40%)\rsignals sent: 250/250 (100%)\n" {
		t.Errorf("terminal got %q", got)
	}
	quiet := newCLI(nil, nil, nil).startProgress("records imported", 3)
	quiet.update(3)
	quiet.finish() // no writer: nothing, and no panic
	if isTerminal(&term) || strings.Contains(term.String(), "records") {
		t.Error("a buffer is not a terminal")
	}
}
