package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows how far a long operation has come on one line of a
// terminal, redrawn at most every progressEvery; with no terminal it does
// nothing, so that output piped or captured stays clean.
type progress struct {
	w     io.Writer
	what  string
	total int
	last  time.Time
	drawn bool
}

const progressEvery = 100 * time.Millisecond

// startProgress begins a progress line for total items named what.
func (c *cli) startProgress(what string, total int) *progress {
	return &progress{w: c.progress, what: what, total: total}
}

// update shows done of total, unless the line was drawn moments ago.
func (p *progress) update(done int) {
	if p.w == nil || time.Since(p.last) < progressEvery && done < p.total {
		return
	}
	p.last, p.drawn = time.Now(), true
	pct := 100
	if p.total > 0 {
		pct = done * 100 / p.total
	}
	fmt.Fprintf(p.w, "\r%s: %d/%d (%d%%)", p.what, done, p.total, pct)
}

// finish ends the line, if one was drawn.
func (p *progress) finish() {
	if p.w != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
