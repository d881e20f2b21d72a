package api

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Every read answers with the X-Trust-* headers.
func TestReadHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	reader := h.token("reader")
	for _, path := range []string{"/v1/principals/alice", "/v1/principals", "/v1/policy", "/v1/alerts", "/v1/status",
		"/v1/principals/alice?consistency=stale", "/v1/principals/alice?consistency=linearizable",
		"/v1/principals/alice?consistency=stale&max_stale=5s"} {
		r := h.do("GET", path, reader, nil)
		if r.status != http.StatusOK {
			t.Errorf("%s: %d %s", path, r.status, r.body)
			continue
		}
		idx, err := strconv.ParseUint(r.header.Get(HeaderIndex), 10, 64)
		if err != nil || idx < h.state().Index-1 || idx == 0 {
			t.Errorf("%s: %s %q", path, HeaderIndex, r.header.Get(HeaderIndex))
		}
		if r.header.Get(HeaderKnownLeader) != "true" || r.header.Get(HeaderLastContact) != "0" {
			t.Errorf("%s: known leader %q, last contact %q", path, r.header.Get(HeaderKnownLeader), r.header.Get(HeaderLastContact))
		}
	}
	var st statusView
	h.mustJSON("GET", "/v1/status", h.token("operator"), nil, http.StatusOK, &st)
	if st.NodeID != "n1" || st.State != "leader" || st.LeaderID != "n1" || st.Region != "test" || st.Digest == "" ||
		st.AppliedIndex == 0 || st.ModelVersion == 0 {
		t.Errorf("status: %+v", st)
	}
}

// A blocking read returns when the applied index passes the one asked
// for, or when the wait ends.
func TestBlockingRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.register("alice", "user", "")
	reader, writer := h.token("reader"), h.token("writer")
	idx := h.node.AppliedIndex()

	start := time.Now()
	r := h.do("GET", "/v1/principals/alice?index="+strconv.FormatUint(idx, 10)+"&wait=300ms", reader, nil)
	if el := time.Since(start); r.status != http.StatusOK || el < 250*time.Millisecond {
		t.Errorf("wait without writes: %d after %s", r.status, el)
	}

	start = time.Now()
	r = h.do("GET", "/v1/principals/alice?index="+strconv.FormatUint(idx-1, 10)+"&wait=30s", reader, nil)
	if el := time.Since(start); r.status != http.StatusOK || el > 5*time.Second {
		t.Errorf("index already passed: %d after %s", r.status, el)
	}

	done := make(chan response, 1)
	go func() {
		done <- h.do("GET", "/v1/principals/alice?index="+strconv.FormatUint(idx, 10)+"&wait=30s", reader, nil)
	}()
	var out signalsResult
	h.mustJSON("POST", "/v1/signals", writer, signal("b1", "alice", -5), http.StatusOK, &out)
	select {
	case r := <-done:
		got, _ := strconv.ParseUint(r.header.Get(HeaderIndex), 10, 64)
		if r.status != http.StatusOK || got < out.Index {
			t.Errorf("blocked read: %d at index %d, the write was at %d", r.status, got, out.Index)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the blocking read did not return after a write")
	}
}
