//go:build brokendedup

package fsm

// dedupBroken, with the brokendedup build tag, makes the ledger forget
// every event id it has seen, so that a retried signal batch applies
// twice. Only the chaos suite's checker test builds with it; no product
// binary does (see dedup_sound.go).
const dedupBroken = true
