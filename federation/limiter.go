package federation

import (
	"sync"
	"time"
)

// DefaultRateLimit is the SETs per second a partner registered with rate
// limit 0 may deliver to one node.
const DefaultRateLimit = 100

// Limiter is a token bucket per partner: a partner with rate limit r may
// deliver r SETs per second, in bursts of up to r (at least 1). It keeps
// its buckets in memory, so the limit is per node and a restart refills
// them. The zero value is ready to use; it is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket holds tokens in nano-tokens (1e9 per SET), so refilling needs no
// floating point.
type bucket struct {
	rate   int64 // SETs per second
	tokens int64 // nano-tokens, at most rate × 1e9
	last   time.Time
}

const nano = int64(time.Second)

// Allow takes one token from partnerID's bucket at time now, the bucket
// refilling at rate per second (DefaultRateLimit when rate ≤ 0). When the
// bucket is empty it returns false and how long until a token is due.
func (l *Limiter) Allow(partnerID string, rate int64, now time.Time) (bool, time.Duration) {
	if rate <= 0 {
		rate = DefaultRateLimit
	}
	capacity := rate * nano
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[partnerID]
	if b == nil || b.rate != rate {
		b = &bucket{rate: rate, tokens: capacity, last: now}
		l.buckets[partnerID] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		// A full refill takes one second; capping elapsed keeps the
		// product within int64 (rate ≤ 1e6 per partner registration).
		b.tokens = min(capacity, b.tokens+min(int64(elapsed), nano)*rate)
		b.last = now
	}
	if b.tokens >= nano {
		b.tokens -= nano
		return true, 0
	}
	wait := (nano - b.tokens + rate - 1) / rate // ns until one whole token
	return false, time.Duration(wait)
}
