package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// TestIdempotencyAcrossRestart: a signal's eventId sent twice — concurrently, or before and after a restart (after
// SIGKILL and after a clean shutdown) — is applied once.
func TestIdempotencyAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	if _, err := n.client.RegisterPrincipal(ctx, client.Registration{PrincipalID: "idem", PrincipalType: "service"}); err != nil {
		t.Fatal(err)
	}
	base := n.status(ctx).Counters

	if got := sendOne(ctx, t, n.client, "evt-restart"); got != client.SignalAccepted {
		t.Fatalf("first send of evt-restart: %s", got)
	}
	const senders = 16
	statuses := sendConcurrently(ctx, t, n.client, "evt-concurrent", senders)
	if statuses[client.SignalAccepted] != 1 || statuses[client.SignalDuplicate] != senders-1 {
		t.Fatalf("evt-concurrent sent by %d goroutines at once: %v, want 1 accepted and %d duplicate",
			senders, statuses, senders-1)
	}
	checkCounters(ctx, t, n, base, 2, senders-1)
	rec, _, err := n.client.GetPrincipal(ctx, "idem", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.PositiveSignals) != 2 {
		t.Fatalf("the record lists %d positive signals, want 2: %+v", len(rec.PositiveSignals), rec.PositiveSignals)
	}

	n.kill()
	n.restart()
	if got := sendOne(ctx, t, n.client, "evt-restart"); got != client.SignalDuplicate {
		t.Fatalf("evt-restart after SIGKILL and restart: %s, want duplicate", got)
	}
	statuses = sendConcurrently(ctx, t, n.client, "evt-concurrent", senders)
	if statuses[client.SignalDuplicate] != senders {
		t.Fatalf("evt-concurrent after the restart: %v, want %d duplicate", statuses, senders)
	}
	checkCounters(ctx, t, n, base, 2, 2*senders)

	if code := n.stop(); code != 0 {
		t.Fatalf("trustd exited %d after SIGTERM, want 0\n%s", code, tail(n.output(), 20))
	}
	n.restart()
	for _, id := range []string{"evt-restart", "evt-concurrent"} {
		if got := sendOne(ctx, t, n.client, id); got != client.SignalDuplicate {
			t.Fatalf("%s after a clean restart: %s, want duplicate", id, got)
		}
	}
	checkCounters(ctx, t, n, base, 2, 2*senders+2)
}

func idemSignal(eventID string) client.Signal {
	return client.Signal{EventID: eventID, PrincipalID: "idem", Event: "login_success",
		Category: client.CategoryAuthentication, Impact: "3"}
}

// sendOne sends one signal and returns its status.
func sendOne(ctx context.Context, t *testing.T, cl *client.Client, eventID string) string {
	t.Helper()
	res, err := cl.SendSignals(ctx, []client.Signal{idemSignal(eventID)})
	if err != nil {
		t.Fatalf("send %s: %v", eventID, err)
	}
	return res.Results[0].Status
}

// sendConcurrently sends the same signal from n goroutines released
// together and counts the statuses they got.
func sendConcurrently(ctx context.Context, t *testing.T, cl *client.Client, eventID string, n int) map[string]int {
	t.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[string]int{}
		errs     []error
		start    = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := cl.SendSignals(ctx, []client.Signal{idemSignal(eventID)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			statuses[res.Results[0].Status]++
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("send %s: %v", eventID, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return statuses
}

// checkCounters checks the node's signal counters against base.
func checkCounters(ctx context.Context, t *testing.T, n *trustd, base map[string]int64, accepted, duplicate int64) {
	t.Helper()
	c := n.status(ctx).Counters
	if got := c["signalsAccepted"] - base["signalsAccepted"]; got != accepted {
		t.Errorf("signalsAccepted grew by %d, want %d", got, accepted)
	}
	if got := c["signalsDuplicate"] - base["signalsDuplicate"]; got != duplicate {
		t.Errorf("signalsDuplicate grew by %d, want %d", got, duplicate)
	}
}

// TestProducerBatchAcrossRestart: a producer session's batch sent again —
// after SIGKILL and a restart, and after a clean restart — is a duplicate,
// and a fenced session's batch is refused, though the ledger kept none of
// the batch's event ids (fsm.TestProducerRetries covers a snapshot's
// restore).
func TestProducerBatchAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t)
	if _, err := n.client.RegisterPrincipal(ctx, client.Registration{PrincipalID: "idem", PrincipalType: "service"}); err != nil {
		t.Fatal(err)
	}
	epoch := time.Now().UnixMilli() - 1000
	batch := []client.Signal{idemSignal("p-1"), idemSignal("p-2")}
	send := func(p client.Producer) string {
		t.Helper()
		res, err := n.client.SendBatch(ctx, batch, p)
		if err != nil {
			return "refused: " + err.Error()
		}
		return res.Results[0].Status + "," + res.Results[1].Status
	}
	first := client.Producer{ID: "ingest", Epoch: epoch, Sequence: 1}
	if got := send(first); got != "accepted,accepted" {
		t.Fatalf("first send: %s", got)
	}
	n.kill()
	n.restart()
	if got := send(first); got != "duplicate,duplicate" {
		t.Fatalf("after SIGKILL and restart: %s, want duplicates", got)
	}
	if code := n.stop(); code != 0 {
		t.Fatalf("trustd exited %d after SIGTERM", code)
	}
	n.restart()
	if got := send(first); got != "duplicate,duplicate" {
		t.Fatalf("after a clean restart: %s, want duplicates", got)
	}
	if got := send(client.Producer{ID: "ingest", Epoch: epoch + 1, Sequence: 1}); got != "accepted,accepted" {
		t.Fatalf("a new session: %s", got)
	}
	if got := send(client.Producer{ID: "ingest", Epoch: epoch, Sequence: 2}); !strings.Contains(got, "409") && !strings.Contains(got, "newer session") {
		t.Fatalf("the fenced session's next batch: %s, want refused", got)
	}
	if st := n.status(ctx); st.Producers != 1 {
		t.Fatalf("the node keeps %d producer sessions, want 1", st.Producers)
	}
}
