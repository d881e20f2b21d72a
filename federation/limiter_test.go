package federation

import (
	"testing"
	"time"
)

// A partner gets its rate per second, in bursts of up to its rate; each
// partner has its own bucket.
func TestLimiter(t *testing.T) {
	var l Limiter
	now := testNow
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("p1", 3, now); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i)
		}
	}
	ok, wait := l.Allow("p1", 3, now)
	if ok || wait <= 0 || wait > time.Second/3+time.Nanosecond {
		t.Fatalf("4th request: %v, wait %s", ok, wait)
	}
	if ok, _ := l.Allow("p2", 3, now); !ok {
		t.Fatal("another partner shares the bucket")
	}
	if ok, _ := l.Allow("p1", 3, now.Add(wait)); !ok {
		t.Fatal("refused after the announced wait")
	}
	if ok, _ := l.Allow("p1", 3, now.Add(wait)); ok {
		t.Fatal("two tokens after one refill interval")
	}
	// An hour idle refills to the burst, not beyond.
	later := now.Add(time.Hour)
	n := 0
	for ok, _ := l.Allow("p1", 3, later); ok; ok, _ = l.Allow("p1", 3, later) {
		n++
	}
	if n != 3 {
		t.Fatalf("after an idle hour: %d tokens, want 3", n)
	}
	// Rate 0 is the default; a changed rate starts a new bucket.
	for i := 0; i < DefaultRateLimit; i++ {
		if ok, _ := l.Allow("p3", 0, now); !ok {
			t.Fatalf("default rate: refused at %d", i)
		}
	}
	if ok, _ := l.Allow("p3", 0, now); ok {
		t.Fatal("default rate exceeded")
	}
	if ok, _ := l.Allow("p3", 1, now); !ok {
		t.Fatal("new rate did not start a new bucket")
	}
	// The highest registrable rate does not overflow.
	if ok, _ := l.Allow("p4", 1_000_000, now.Add(100*365*24*time.Hour)); !ok {
		t.Fatal("rate 1e6 refused")
	}
}
