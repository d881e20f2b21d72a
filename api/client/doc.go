// Package client is the Go client of the trustledger HTTP API (/v1).
//
// It is what trustctl, scripts and tests use to talk to a trustd node, and
// it is meant to be imported by integrators too: it depends on the standard
// library only, never on the server's packages, and defines its own types
// mirroring the JSON the API speaks.
//
// A minimal use:
//
//	c, err := client.New(client.DefaultConfig()) // TRUSTLEDGER_ADDR, TRUSTLEDGER_TOKEN
//	if err != nil { ... }
//	rec, meta, err := c.GetPrincipal(ctx, "alice", nil)
//	var problem *client.Error
//	if errors.As(err, &problem) && problem.StatusCode == http.StatusNotFound { ... }
//
// Every method takes a context.Context first; cancel it to abandon the
// request. Errors are *Error when the server answered with an RFC 7807
// problem (or any other non-2xx status), and *UnreachableError when no
// answer could be had at all.
//
// Scores and other decimal quantities are carried as json.Number, so they
// are sent and shown exactly as the server writes them (the server computes
// in integer fixed point; nothing here rounds through float64).
package client
