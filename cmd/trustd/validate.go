package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/pki"
)

// validate checks the configuration as a whole, naming the flag at fault.
func (c *config) validate() error {
	v := &validation{}
	c.validateIdentity(v)
	c.validateAddrs(v)
	c.validateSecurity(v)
	c.validateMembership(v)
	c.validateOperation(v)
	return errors.Join(v.errs...)
}

// validation collects configuration errors, each naming its flag.
type validation struct{ errs []error }

func (v *validation) bad(flag, format string, a ...any) {
	v.errs = append(v.errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, a...)))
}

func (v *validation) add(err error) {
	if err != nil {
		v.errs = append(v.errs, err)
	}
}

func (c *config) validateIdentity(v *validation) {
	if !fsm.ValidID(c.NodeID) {
		v.bad("node-id", "%q: use 1-%d letters, digits and - _ . : @", c.NodeID, fsm.MaxIDLen)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		v.bad("data-dir", "must not be empty")
	}
}

// listenAddrs are the addresses the node binds, with their flags.
func (c *config) listenAddrs() []struct{ flag, addr string } {
	return []struct{ flag, addr string }{{"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}, {"gossip-addr", c.GossipAddr}}
}

func (c *config) validateAddrs(v *validation) {
	ports := map[string]string{}
	for _, a := range c.listenAddrs() {
		host, port, err := splitHostPort(a.addr)
		if err != nil {
			v.bad(a.flag, "%q: %v", a.addr, err)
			continue
		}
		if other, dup := ports[port]; dup && port != "0" {
			v.bad(a.flag, "port %s is also used by --%s", port, other)
		}
		ports[port] = a.flag
		if a.flag == "raft-addr" && isWildcard(host) && c.Advertise == "" {
			v.bad("advertise", "required when --raft-addr binds all interfaces (%s): give the address other nodes reach this one at", a.addr)
		}
	}
	if c.Advertise != "" {
		if _, err := c.raftAdvertise(); err != nil {
			v.bad("advertise", "%q: %v", c.Advertise, err)
		}
	}
	for _, j := range c.Join {
		u, err := url.Parse(j)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.bad("join", "%q: want the URL of a member, such as http://10.0.0.1:8470", j)
		}
	}
}

func (c *config) validateSecurity(v *validation) {
	if key, err := c.gossipKey(); err != nil {
		v.add(err)
	} else if key == nil && !c.GossipInsecure && c.tlsEnabled() {
		// With the operator's PKI, the gossip key is the operator's too
		// (with the automatic identity the cluster makes one).
		if host, _, err := splitHostPort(c.GossipAddr); err == nil && !loopbackHost(host) {
			v.bad("gossip-addr", "%q is not a loopback address: set --gossip-key-file (openssl rand -base64 32), or --gossip-insecure on a network you fully control", c.GossipAddr)
		}
	}
	if c.Insecure {
		if c.tlsEnabled() {
			v.bad("insecure", "excludes --tls-cert-file: choose one")
		}
		for _, a := range c.listenAddrs() {
			if host, _, err := splitHostPort(a.addr); err == nil && !loopbackHost(host) {
				v.bad("insecure", "refused with --%s %s: unauthenticated Raft and gossip run on loopback addresses only", a.flag, a.addr)
			}
		}
		if c.Advertise != "" && !loopbackHost(hostOf(c.Advertise)) {
			v.bad("insecure", "refused with --advertise %s: unauthenticated Raft and gossip run on loopback addresses only", c.Advertise)
		}
	}
	if c.CAFingerprint != "" {
		if _, err := pki.ParseFingerprint(c.CAFingerprint); err != nil {
			v.bad("ca-fingerprint", "%v", err)
		}
		if len(c.Join) == 0 {
			v.bad("ca-fingerprint", "only means something with --join")
		}
	}
	if _, err := c.encryptionKeys(); err != nil {
		v.add(err)
	}
	if _, err := c.tlsSetup(); err != nil {
		v.add(err)
	}
}

func (c *config) validateMembership(v *validation) {
	if len(c.Join) > 0 && c.Token == "" && c.TokenFile == "" {
		v.bad("join", "needs an operator token: set --token-file (or --token, TRUSTLEDGER_TOKEN_FILE, TRUSTLEDGER_TOKEN)")
	}
	if c.Advertise != "" {
		if _, err := c.gossipAdvertise(); err != nil {
			v.bad("advertise", "%q: %v", c.Advertise, err)
		}
	}
	if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil && isWildcard(host) && c.Advertise == "" {
		v.bad("advertise", "required when --http-addr binds all interfaces (%s): give the address other nodes reach this one at", c.HTTPAddr)
	}
	if c.Bootstrap != nil && *c.Bootstrap && len(c.Join) > 0 {
		v.bad("bootstrap", "a node started with --join never bootstraps a cluster of its own; drop one of them")
	}
	if c.bootstrap() && !c.Voter {
		v.bad("voter", "a non-voter cannot bootstrap a cluster; use --join (or --bootstrap=false) with --voter=false")
	}
	if c.Region == "" {
		v.bad("region", "must not be empty")
	}
}

func (c *config) validateOperation(v *validation) {
	if c.LogFormat != "text" && c.LogFormat != "json" {
		v.bad("log-format", "%q: want text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		v.bad("log-level", "%v", err)
	}
	if c.ShutdownTimeout <= 0 {
		v.bad("shutdown-timeout", "must be positive")
	}
}
