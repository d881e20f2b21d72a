// Package federation verifies Security Event Tokens (RFC 8417) that
// federation partners push (RFC 8935) and maps the events they carry to
// ledger commands.
//
// A delivery goes through three steps, each of which refuses with an
// *Error carrying an RFC 8935 error code:
//
//   - Parse reads the compact JWS and its claims without trusting them,
//     refusing anything but EdDSA (Ed25519), ES256 and RS256 (RSA of 2048
//     to 4096 bits), a typ other than secevent+jwt, and a missing kid;
//   - Verifier.Verify checks the signature against the partner's
//     registered keys (looked up by kid), then iss, aud, iat, jti and the
//     events claim;
//   - SET.Command maps the one understood event to an fsm.FederatedEvent,
//     or to nothing when no event type is understood (acknowledged and
//     ignored, as RFC 8935 asks).
//
// Replay protection is the ledger's: fsm.FederatedEvent is deduplicated by
// (partner, jti) for the replicated dedup window. Limiter bounds the rate
// of deliveries per partner on one node. docs/federation.md describes the
// protocol and every event mapping.
//
// The package depends on fsm types only; it reads no clock of its own
// (callers pass the time) and keeps no state but caches.
package federation
