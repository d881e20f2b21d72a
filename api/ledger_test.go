package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

func TestLedgerEntries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	auditor := h.token("auditor")
	var page struct {
		Entries []client.LedgerEntry `json:"entries"`
		Next    uint64               `json:"next"`
	}
	h.mustJSON("GET", "/v1/ledger?limit=2", auditor, nil, http.StatusOK, &page)
	if len(page.Entries) != 2 || page.Entries[0].Sequence != 1 || page.Entries[0].Kind != "create_token" || page.Next != 2 {
		t.Fatalf("first page: %+v", page)
	}
	if strings.Contains(string(page.Entries[0].Command), h.admin) {
		t.Error("the ledger shows a token secret")
	}
	page.Next = 0
	h.mustJSON("GET", "/v1/ledger?after=2", auditor, nil, http.StatusOK, &page)
	if len(page.Entries) == 0 || page.Entries[0].Sequence != 3 || page.Next != 0 {
		t.Errorf("second page: %+v", page)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event string
	entry     client.LedgerEntry
}

// readEvents parses server-sent events from a stream into ch.
func readEvents(t *testing.T, sc *bufio.Scanner, ch chan<- sseEvent) {
	defer close(ch)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.id != "" {
				ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.entry); err != nil {
				t.Errorf("event data: %v", err)
			}
		}
	}
}

// The stream replays entries after ?after= and then delivers live ones,
// in sequence order without gaps.
func TestLedgerStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	auditor, writer := h.token("auditor"), h.token("writer")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+"/v1/ledger/stream?after=1", nil)
	req.Header.Set("Authorization", "Bearer "+auditor)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 64)
	go readEvents(t, bufio.NewScanner(resp.Body), events)

	var out signalsResult
	h.mustJSON("POST", "/v1/signals", writer, signal("live-1", "alice", -2), http.StatusOK, &out)
	next := uint64(2)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.event != "entry" || ev.id != strconv.FormatUint(ev.entry.Sequence, 10) || ev.entry.Sequence != next {
				t.Fatalf("event %+v, want sequence %d", ev, next)
			}
			next++
			if ev.entry.Kind == "record_signals" {
				if ev.entry.Index != out.Index {
					t.Errorf("live entry at index %d, the write was at %d", ev.entry.Index, out.Index)
				}
				return
			}
		case <-ctx.Done():
			t.Fatalf("no live entry for the signal (next sequence %d)", next)
		}
	}
}
