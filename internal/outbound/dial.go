package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotLoopback is the error of a plain-http connection refused at dial
// time because the address it would connect to is not a loopback address.
var ErrNotLoopback = errors.New("plain http may connect only to a loopback address")

// ErrForbiddenAddress is the refusal to connect to a link-local,
// multicast or unspecified address — where cloud metadata services answer
// (169.254.169.254) — whatever the scheme.
var ErrForbiddenAddress = errors.New("refused to connect to a link-local, multicast or unspecified address")

// Resolver looks up the IP addresses of a host name. Options.Resolver
// replaces the system resolver with one (tests use it to point a name at a
// local server).
type Resolver func(ctx context.Context, host string) ([]net.IP, error)

// dialFunc is the signature of http.Transport.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// newDial returns the DialContext of a transport. With loopbackOnly, every
// address it connects to is checked, after resolution and just before the
// connection is made, to be a loopback address.
func newDial(timeout time.Duration, resolve Resolver, loopbackOnly bool) dialFunc {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: checkForbiddenDial}
	if loopbackOnly {
		d.Control = checkLoopbackDial
	}
	if resolve == nil {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialResolved(ctx, d, resolve, network, addr)
	}
}

// checkLoopbackDial is a net.Dialer Control function: it refuses to
// connect to an address that is not loopback. address is the resolved
// "ip:port" the socket is about to connect to.
func checkLoopbackDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q: %v", ErrNotLoopback, address, err)
	}
	if !isLoopbackAddr(ap.Addr()) {
		return fmt.Errorf("%w: refused to connect to %s over %s", ErrNotLoopback, address, network)
	}
	return nil
}

// checkForbiddenDial is a net.Dialer Control function: it refuses
// link-local, multicast and unspecified addresses.
func checkForbiddenDial(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read the address %q: %v", ErrForbiddenAddress, address, err)
	}
	if a := ap.Addr().Unmap(); a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("%w: %s over %s", ErrForbiddenAddress, address, network)
	}
	return nil
}

// dialResolved resolves addr's host with resolve (an IP literal is used as
// it is) and dials each address in turn until one connects.
func dialResolved(ctx context.Context, d *net.Dialer, resolve Resolver, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := lookup(ctx, resolve, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// lookup returns host's addresses: host itself when it is an IP literal.
func lookup(ctx context.Context, resolve Resolver, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	ips, err := resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no addresses", host)
	}
	return ips, nil
}
