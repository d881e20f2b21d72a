package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest URL, in bytes, that Policy.CheckURL accepts.
const MaxURLLength = 2048

// Policy says which URLs a node may call.
type Policy struct {
	// AllowInsecure allows plain http to any host: an operator's explicit
	// choice. Without it, http is allowed only to a loopback host.
	AllowInsecure bool
}

// URLError is a URL the policy refuses. Its message is meant for the
// person who supplied the URL, and does not repeat the URL.
type URLError struct {
	// Reason says what is wrong with the URL and what would be accepted.
	Reason string
}

// Error returns the reason.
func (e *URLError) Error() string { return e.Reason }

func refuse(format string, args ...any) error {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// CheckURL parses raw and checks it against the policy: an absolute http
// or https URL of at most MaxURLLength bytes, with a host, no userinfo and
// no fragment, and https unless the host is loopback or AllowInsecure is
// set. A refused URL gets a *URLError.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, refuse("the URL is empty")
	case len(raw) > MaxURLLength:
		return nil, refuse("the URL is %d bytes long; at most %d are allowed", len(raw), MaxURLLength)
	case strings.Contains(raw, "#"):
		return nil, refuse("the URL must not have a fragment (#...)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, refuse("not a valid URL: %v", parseReason(err))
	}
	if err := p.check(u); err != nil {
		return nil, err
	}
	return u, nil
}

// parseReason is url.Parse's complaint without the URL it quotes.
func parseReason(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// check applies the policy to a parsed URL (Client.Do's requests come
// parsed).
func (p Policy) check(u *url.URL) error {
	if err := checkShape(u); err != nil {
		return err
	}
	if u.Scheme == "http" && !p.AllowInsecure && !isLoopbackHost(u.Hostname()) {
		return refuse("http:// is allowed only to a loopback host (127.0.0.0/8, ::1 or localhost): use https://")
	}
	return nil
}

// checkShape checks what any URL must be, whatever the policy.
func checkShape(u *url.URL) error {
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return refuse("the URL must start with https:// (scheme %q is not allowed)", u.Scheme)
	case u.User != nil:
		return refuse("the URL must not carry a user name or password: credentials go in a header")
	case u.Fragment != "" || u.RawFragment != "":
		return refuse("the URL must not have a fragment (#...)")
	case u.Opaque != "" || u.Hostname() == "":
		return refuse("the URL has no host")
	}
	return checkPort(u.Port())
}

// checkPort accepts no port (the scheme's default) or one in 1-65535.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return refuse("the URL's port %q is not a port number (1-65535)", port)
	}
	return nil
}

// isLoopbackHost reports whether a URL's host (without brackets or port)
// is the name localhost or a loopback IP literal. Other names, even ones
// that resolve to loopback, are not: what they resolve to can change.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && isLoopbackAddr(addr)
}

// isLoopbackAddr reports whether addr is in 127.0.0.0/8 (also written as
// an IPv4-mapped IPv6 address) or is ::1.
func isLoopbackAddr(addr netip.Addr) bool {
	return addr.Unmap().IsLoopback()
}
