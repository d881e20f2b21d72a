// Package outbound is the HTTP client a node uses to call the outside
// world: Shared Signals Framework transmitters and receivers (their
// /.well-known/ssf-configuration, JWKS, stream management, pushed and
// polled Security Event Tokens). Nothing else in a node should open an
// outbound HTTP connection to an address a partner or receiver gave it.
//
// # The policy
//
// A URL must be absolute, http or https, with a host, and without userinfo
// or a fragment; it is at most 2048 bytes (Policy.CheckURL says why one is
// refused, in words an API caller can act on).
//
// https is required. Plain http is allowed only to a loopback host (a
// literal in 127.0.0.0/8, ::1, or the name localhost), so that two clusters
// on one machine federate with no set-up, and the rule is enforced again
// at dial time: every address a plain-http connection is made to must be a
// loopback address, so that a resolver answering "localhost" with another
// address cannot turn it into a plaintext request off the machine. An
// operator who sets Policy.AllowInsecure allows http to any host; a name
// that resolves to loopback is always fine over https.
//
// # The client
//
// Client never reads a proxy from the environment (requests carry bearer
// tokens), requires TLS 1.2 or later, bounds every request by a timeout
// and every response body by a size (ErrTooLarge past it), and by default
// follows no redirect (ErrRedirect): a redirect could carry the request's
// Authorization header to an address nobody verified. When redirects are
// allowed (Options.MaxRedirects), each target must pass the policy, a
// redirect from https to http is refused, and the Authorization header is
// dropped as soon as a redirect leaves the origin (scheme, host and port)
// of the first request.
//
// Errors name the method and the URL without its query, and never contain
// the credentials sent.
package outbound
