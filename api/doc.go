// Package api serves the trustledger HTTP API (docs/api.md; its design in
// docs/architecture.md, "The API") on top of a node.
//
// The router is chi; every route is declared once in the route table
// (routes.go) together with the role it needs, and both the router and the
// tests are built from that table. Requests carry a bearer token that is
// looked up by its SHA-256 hash in the replicated state; the token's role
// decides what it may call (401 for a missing, unknown or revoked token,
// 403 for a role or organization scope that does not allow the call).
//
// Inputs are decoded strictly (unknown fields are errors, numbers keep
// their decimal text and are converted to fixed point with
// fsm.ParseDecimal, never through float64) and validated before anything
// is proposed, so bad input never reaches the ledger. Every error is an
// RFC 7807 problem document with a stable type URI; the mapping from typed
// errors to problems lives in problem.go and nowhere else.
//
// Reads evaluate trust at ?at= (RFC 3339) or at the serving node's clock and
// say which; they honour ?consistency=default|stale|linearizable and
// blocking reads (?index=N&wait=30s), and answer with the X-Trust-Index,
// X-Trust-Known-Leader and X-Trust-Last-Contact headers. Writes answer with
// the Raft index they committed at.
package api
