package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trustledger/trustledger/cluster"
)

// config is trustd's configuration. Each setting comes, lowest precedence
// first, from its default, the --config JSON file, the TRUSTLEDGER_*
// environment, then the command line.
type config struct {
	NodeID     string
	DataDir    string
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	// Advertise is the host (or host:port for Raft) other nodes reach this
	// one at; empty means the bind addresses themselves.
	Advertise string
	// Bootstrap is nil when not given: then true unless Join is set.
	Bootstrap *bool
	Join      []string
	Region    string
	Voter     bool
	// Token or TokenFile is the operator token --join presents.
	Token     string
	TokenFile string
	// TLSCertFile and TLSKeyFile are the node's PEM certificate and key:
	// with them the API serves HTTPS and Raft runs over mutual TLS.
	TLSCertFile string
	TLSKeyFile  string
	// ReloadInterval is how often the certificate files and the
	// encryption key file are checked for changes (0: only on SIGHUP).
	ReloadInterval time.Duration
	// TLSClientCAFile is the PEM CA bundle API client certificates are
	// verified against (certificates stay optional: tokens authenticate).
	TLSClientCAFile string
	// TLSCAFile is the PEM CA bundle other nodes' certificates are verified
	// against (Raft, forwarding, --join); default TLSClientCAFile.
	TLSCAFile string
	// GossipKeyFile holds the base64 gossip encryption key.
	GossipKeyFile string
	// EncryptionKeyFile holds the base64 key for encryption at rest.
	EncryptionKeyFile string
	// GossipInsecure allows, with the operator's own PKI (--tls-*),
	// gossip on a non-loopback address without --gossip-key-file.
	GossipInsecure bool
	// Insecure runs Raft and gossip without authentication (loopback
	// only).
	Insecure bool
	// CAFingerprint pins the cluster CA a --join node expects.
	CAFingerprint string
	// DeadServerGrace: how long gossip must report a server dead before
	// the leader removes it (0: never automatically).
	DeadServerGrace time.Duration
	// SnapshotThreshold, SnapshotInterval and TrailingLogs tune Raft
	// snapshots and log compaction; zero means cluster's defaults.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	LogFormat         string
	LogLevel          string
	AuditLog          string
	// AuditLogMaxMB and AuditLogMaxFiles rotate the audit log file: at
	// AuditLogMaxMB MiB it becomes audit.log.1 (and .1 .2, …), and only
	// AuditLogMaxFiles rotated files are kept.
	AuditLogMaxMB, AuditLogMaxFiles uint64
	ShutdownTimeout                 time.Duration
	// SSFIssuer is the SSF transmitter's issuer, the same on every node
	// (default: the node's API address); SSFAllowHTTP allows plain http
	// receiver and partner endpoints off loopback; SSFSigningAlg is RS256
	// or ES256.
	SSFIssuer     string
	SSFAllowHTTP  bool
	SSFSigningAlg string

	// explicit records the settings given in the file, environment or on
	// the command line, by option name.
	explicit map[string]bool
}

// Defaults (docs/operations.md, "Configuring a node" and "Ports"). The node
// id defaults to "node1", which suits the single-node default; it is stored
// in the data directory at first start and reused, so a later start with a
// different --node-id is refused rather than silently becoming a different
// Raft member.
func defaultConfig() config {
	return config{
		NodeID:            "node1",
		DataDir:           "./trustledger-data",
		HTTPAddr:          "127.0.0.1:8470",
		RaftAddr:          "127.0.0.1:8471",
		GossipAddr:        "127.0.0.1:8472",
		Region:            "local",
		SSFSigningAlg:     "RS256",
		Voter:             true,
		LogFormat:         "text",
		LogLevel:          "info",
		ShutdownTimeout:   15 * time.Second,
		ReloadInterval:    time.Second,
		SnapshotThreshold: cluster.DefaultSnapshotThreshold,
		AuditLogMaxMB:     100,
		AuditLogMaxFiles:  10,
		SnapshotInterval:  cluster.DefaultSnapshotInterval,
		TrailingLogs:      cluster.DefaultTrailingLogs,
		explicit:          map[string]bool{},
	}
}

// bootstrap reports whether the node forms a cluster of its own when its
// data directory is empty.
func (c *config) bootstrap() bool {
	if c.Bootstrap != nil {
		return *c.Bootstrap
	}
	return len(c.Join) == 0
}

// option is one setting: its flag name, the JSON key in the config file and
// the environment variable derive from it.
type option struct {
	name    string
	usage   string
	isBool  bool
	set     func(c *config, v string) error
	show    func(c *config) string // the default, for usage
	comment string                 // shown instead of a default
}

func (o option) env() string {
	return "TRUSTLEDGER_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

// jsonKey is the option's key in the config file: its name in camelCase
// ("node-id" → "nodeId").
func (o option) jsonKey() string {
	parts := strings.Split(o.name, "-")
	for i := 1; i < len(parts); i++ {
		switch parts[i] {
		case "http":
			parts[i] = "HTTP"
		default:
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func str(p func(c *config) *string) (func(*config, string) error, func(*config) string) {
	return func(c *config, v string) error { *p(c) = v; return nil }, func(c *config) string { return *p(c) }
}

func boolSetting(p func(c *config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*p(c) = b
		return nil
	}
}

// opt is a setting holding a string.
func opt(name, usage string, p func(c *config) *string) option {
	set, show := str(p)
	return option{name: name, usage: usage, set: set, show: show}
}

// options lists every setting trustd accepts.
func options() []option {
	opts := []option{
		opt("node-id", "the node's Raft server id; fixed for a data directory", func(c *config) *string { return &c.NodeID }),
		opt("data-dir", "directory for the Raft log, snapshots, ledger archive and admin.token", func(c *config) *string { return &c.DataDir }),
		opt("http-addr", "host:port the HTTP API listens on", func(c *config) *string { return &c.HTTPAddr }),
		opt("raft-addr", "host:port the Raft transport listens on", func(c *config) *string { return &c.RaftAddr }),
		opt("gossip-addr", "host:port for memberlist gossip", func(c *config) *string { return &c.GossipAddr }),
		opt("advertise", "host (or host:port for Raft) other nodes reach this one at; required when binding a wildcard address",
			func(c *config) *string { return &c.Advertise }),
		{name: "bootstrap", isBool: true, usage: "form a single-node cluster when the data directory is empty",
			comment: "true unless --join",
			set: func(c *config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("want true or false, got %q", v)
				}
				c.Bootstrap = &b
				return nil
			}},
		{name: "join", usage: "comma-separated URLs of cluster members to join (implies --bootstrap=false)",
			set: func(c *config, v string) error {
				c.Join = nil
				for _, s := range strings.Split(v, ",") {
					if s = strings.TrimSpace(s); s != "" {
						c.Join = append(c.Join, s)
					}
				}
				return nil
			}},
		{name: "token", usage: "operator token --join presents (prefer --token-file: a flag shows in the process list)",
			set: func(c *config, v string) error { c.Token = v; return nil }},
		{name: "token-file", usage: "file holding the operator token --join presents",
			set: func(c *config, v string) error { c.TokenFile = v; return nil }},
		opt("region", "region reported to clients and peers", func(c *config) *string { return &c.Region }),
		{name: "voter", isBool: true, usage: "take part in elections and quorum; false makes a read replica",
			set: boolSetting(func(c *config) *bool { return &c.Voter }), show: func(c *config) string { return strconv.FormatBool(c.Voter) }},
		{name: "insecure", isBool: true, usage: "run Raft over plain TCP and gossip unencrypted, with no peer authentication (anyone who reaches the ports can take over the cluster); loopback addresses only",
			set: boolSetting(func(c *config) *bool { return &c.Insecure }), show: func(c *config) string { return strconv.FormatBool(c.Insecure) }},
		{name: "ca-fingerprint", usage: "with --join: the cluster CA's fingerprint (sha256:…, printed by the first node and by trustctl cluster ca); without it the joiner trusts the CA it is shown on first contact, with a warning",
			set: func(c *config, v string) error { c.CAFingerprint = v; return nil }},
		{name: "gossip-insecure", isBool: true, usage: "with --tls-cert-file (the operator's PKI): allow unencrypted gossip on a non-loopback address without --gossip-key-file",
			set: boolSetting(func(c *config) *bool { return &c.GossipInsecure }), show: func(c *config) string { return strconv.FormatBool(c.GossipInsecure) }},
		durationOption("dead-server-grace", "remove a server from the cluster once gossip has reported it dead this long, if a quorum remains (0: only an operator removes servers)",
			"want a duration such as 72h, or 0 to keep dead servers, got %q", false, func(c *config) *time.Duration { return &c.DeadServerGrace }),
		{name: "config", usage: "JSON file of settings (keys are the flag names in camelCase, e.g. \"dataDir\")",
			set: func(*config, string) error { return nil }},
		opt("log-format", "log format: text or json", func(c *config) *string { return &c.LogFormat }),
		opt("log-level", "log level: debug, info, warn or error", func(c *config) *string { return &c.LogLevel }),
		{name: "audit-log", usage: "file for the audit log (OCSF JSON lines: API requests, decisions, alerts), or - for standard output",
			comment: "<data-dir>/audit.log", set: func(c *config, v string) error { c.AuditLog = v; return nil }},
		uintOption("audit-log-max-size", "rotate the audit log file when it reaches this many MiB (audit.log → audit.log.1 …)",
			func(c *config) *uint64 { return &c.AuditLogMaxMB }),
		uintOption("audit-log-max-files", "keep this many rotated audit log files; older ones are deleted",
			func(c *config) *uint64 { return &c.AuditLogMaxFiles }),
		durationOption("shutdown-timeout", "how long shutdown waits for HTTP requests to finish",
			"want a duration such as 15s, got %q", true, func(c *config) *time.Duration { return &c.ShutdownTimeout }),
		opt("ssf-issuer", "the SSF transmitter's issuer: the base URL receivers reach the cluster at, the same on every node (default: this node's API address)",
			func(c *config) *string { return &c.SSFIssuer }),
		{name: "ssf-allow-http", isBool: true, usage: "allow plain http:// SSF receiver and partner endpoints off loopback (https is required otherwise)",
			set: boolSetting(func(c *config) *bool { return &c.SSFAllowHTTP }), show: func(c *config) string { return strconv.FormatBool(c.SSFAllowHTTP) }},
		{name: "ssf-signing-alg", usage: "the algorithm SETs are signed with: RS256 (the CAEP Interoperability Profile's) or ES256",
			set: func(c *config, v string) error {
				if v != "RS256" && v != "ES256" {
					return fmt.Errorf("want RS256 or ES256, got %q", v)
				}
				c.SSFSigningAlg = v
				return nil
			}, show: func(c *config) string { return c.SSFSigningAlg }},
	}
	return append(append(opts, raftOptions()...), tlsOptions()...)
}

// raftOptions tune Raft snapshots and log compaction
// (docs/operations.md, "Snapshots and compaction").
func raftOptions() []option {
	return []option{
		uintOption("snapshot-threshold", "take a Raft snapshot once this many log entries were applied since the last",
			func(c *config) *uint64 { return &c.SnapshotThreshold }),
		durationOption("snapshot-interval", "how often Raft checks whether to take a snapshot",
			"want a positive duration such as 30s, got %q", false, func(c *config) *time.Duration { return &c.SnapshotInterval }),
		uintOption("trailing-logs", "log entries kept behind a snapshot, so a follower a little behind catches up from the log rather than a snapshot install",
			func(c *config) *uint64 { return &c.TrailingLogs }),
	}
}

// uintOption is a setting holding a positive integer.
func uintOption(name, usage string, p func(c *config) *uint64) option {
	return option{name: name, usage: usage,
		set: func(c *config, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("want a positive integer, got %q", v)
			}
			*p(c) = n
			return nil
		},
		show: func(c *config) string { return strconv.FormatUint(*p(c), 10) }}
}

// tlsOptions are the settings of the operator's own PKI and of the keys
// kept outside the data directory.
func tlsOptions() []option {
	return []option{
		opt("tls-cert-file", "PEM certificate of this node: with --tls-key-file, the API serves HTTPS and Raft runs over mutual TLS",
			func(c *config) *string { return &c.TLSCertFile }),
		opt("tls-key-file", "PEM private key of --tls-cert-file", func(c *config) *string { return &c.TLSKeyFile }),
		durationOption("reload-interval", "how often --tls-cert-file, --tls-key-file and --encryption-key-file are checked for changes (0: only on SIGHUP)",
			"want a duration such as 1s, or 0, got %q", false, func(c *config) *time.Duration { return &c.ReloadInterval }),
		opt("tls-client-ca-file", "PEM CA bundle: the API asks clients for a certificate and verifies any given against it (tokens are still required)",
			func(c *config) *string { return &c.TLSClientCAFile }),
		option{name: "tls-ca-file", usage: "PEM CA bundle other nodes' certificates are verified against (Raft, forwarding to the leader, --join)",
			comment: "--tls-client-ca-file", set: func(c *config, v string) error { c.TLSCAFile = v; return nil }},
		option{name: "gossip-key-file", usage: "file holding the gossip encryption key: 16, 24 or 32 random bytes in base64 (openssl rand -base64 32), the same on every node",
			set: func(c *config, v string) error { c.GossipKeyFile = v; return nil }},
		option{name: "encryption-key-file", usage: "file holding this node's keys for encryption at rest (AES-256-GCM): one key of 32 random bytes in base64 a line (openssl rand -base64 32), the first sealing what is written; reloaded on SIGHUP or change; back it up apart from the data directory",
			set: func(c *config, v string) error { c.EncryptionKeyFile = v; return nil }}}
}

// durationOption is a setting holding a duration; negative durations are
// refused, and with allowNegative the parse error alone counts.
func durationOption(name, usage, wrong string, allowNegative bool, p func(c *config) *time.Duration) option {
	return option{name: name, usage: usage,
		set: func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || (!allowNegative && d < 0) {
				return fmt.Errorf(wrong, v)
			}
			*p(c) = d
			return nil
		},
		show: func(c *config) string { return p(c).String() }}
}

// loadConfig builds the configuration from args, the environment (lookup)
// and the file named by --config or TRUSTLEDGER_CONFIG.
func loadConfig(args []string, lookup func(string) (string, bool), stderr io.Writer) (config, error) {
	c := defaultConfig()
	opts := options()
	byName := map[string]option{}
	for _, o := range opts {
		byName[o.name] = o
	}

	type flagValue struct{ name, value string }
	var given []flagValue
	fs := flag.NewFlagSet("trustd", flag.ContinueOnError)
	// The caller prints: usage on standard output for -h, the error alone
	// (with a pointer to -h) on standard error for a mistake.
	fs.SetOutput(io.Discard)
	for _, o := range opts {
		record := func(v string) error { given = append(given, flagValue{o.name, v}); return nil }
		if o.isBool {
			fs.BoolFunc(o.name, o.usage, record)
		} else {
			fs.Func(o.name, o.usage, record)
		}
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			msg := strings.Replace(err.Error(), "flag provided but not defined: -", "unknown flag --", 1)
			err = fmt.Errorf("%s (see trustd -h)", msg)
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (settings are flags, see trustd -h)", fs.Arg(0))
	}

	apply := func(o option, v, source string) error {
		if err := o.set(&c, v); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		c.explicit[o.name] = true
		return nil
	}

	// The file first, then the environment, then the flags.
	path, _ := lookup(byName["config"].env())
	for _, g := range given {
		if g.name == "config" {
			path = g.value
		}
	}
	// Every fault is reported, not only the first: a bad value keeps the
	// setting's earlier value and the rest is still read and checked.
	var faults []error
	if path != "" {
		if err := applyFile(path, opts, apply); err != nil {
			faults = append(faults, err)
		}
	}
	for _, o := range opts {
		if v, ok := lookup(o.env()); ok && o.name != "config" {
			if err := apply(o, v, o.env()); err != nil {
				faults = append(faults, err)
			}
		}
	}
	for _, g := range given {
		if err := apply(byName[g.name], g.value, "--"+g.name); err != nil {
			faults = append(faults, err)
		}
	}
	return c, errors.Join(append(faults, c.validate())...)
}

// applyFile reads a JSON object of settings. Values may be strings,
// booleans or numbers; unknown keys are errors.
func applyFile(path string, opts []option, apply func(option, string, string) error) error {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the file
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config file %s: not a JSON object: %w", path, err)
	}
	byKey := map[string]option{}
	for _, o := range opts {
		if o.name != "config" {
			byKey[o.jsonKey()] = o
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config file %s: unknown setting %q", path, k)
		}
		var v string
		switch x := raw[k].(type) {
		case string:
			v = x
		case bool:
			v = strconv.FormatBool(x)
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			v = strings.Join(parts, ",")
		default:
			return fmt.Errorf("config file %s: %q: want a string, boolean or number", path, k)
		}
		if err := apply(o, v, fmt.Sprintf("config file %s: %q", path, k)); err != nil {
			return err
		}
	}
	return nil
}

func usage(w io.Writer, opts []option) {
	d := defaultConfig()
	fmt.Fprint(w, "Usage: trustd [flags]\n\nRuns a trustledger node. With no flags: a single-node cluster on loopback,\n"+
		"data in ./trustledger-data, and an admin token created at first start.\n\nFlags (environment variable in brackets):\n")
	for _, o := range opts {
		arg := " value"
		if o.isBool {
			arg = "[=bool]"
		}
		fmt.Fprintf(w, "  --%s%s  [%s]\n      %s", o.name, arg, o.env(), o.usage)
		switch {
		case o.comment != "":
			fmt.Fprintf(w, " (default: %s)", o.comment)
		case o.show != nil && o.show(&d) != "":
			fmt.Fprintf(w, " (default: %s)", o.show(&d))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "  --version\n      print the version (module version, VCS revision, Go version) and exit")
}

func splitHostPort(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", "", fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return host, port, nil
}

func isWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// raftAdvertise returns the Raft address to advertise: --advertise as is
// when it has a port, else its host with --raft-addr's port; "" when
// --advertise is not set.
func (c *config) raftAdvertise() (string, error) {
	if c.Advertise == "" {
		return "", nil
	}
	if host, _, err := net.SplitHostPort(c.Advertise); err == nil {
		if isWildcard(host) {
			return "", fmt.Errorf("must name a reachable host, not a wildcard")
		}
		_, _, err := splitHostPort(c.Advertise)
		return c.Advertise, err
	}
	if isWildcard(c.Advertise) || strings.ContainsAny(c.Advertise, "/ ") {
		return "", fmt.Errorf("want a host or host:port that other nodes can reach")
	}
	_, port, err := splitHostPort(c.RaftAddr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(c.Advertise, port), nil
}

// gossipKey reads --gossip-key-file: base64 of 16, 24 or 32 bytes; nil
// when not set.
func (c *config) gossipKey() ([]byte, error) {
	if c.GossipKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.GossipKeyFile) // #nosec G304 G703 -- the operator names the key file
	if err != nil {
		return nil, fmt.Errorf("--gossip-key-file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("--gossip-key-file %s: not base64: %w", c.GossipKeyFile, err)
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("--gossip-key-file %s: the key is %d bytes; want 16, 24 or 32 (openssl rand -base64 32)", c.GossipKeyFile, n)
	}
	return key, nil
}

// encryptionKeys reads --encryption-key-file: one base64 key of 32 bytes
// per line (blank lines and lines starting with # ignored), the primary
// first; nil when not set.
func (c *config) encryptionKeys() ([][]byte, error) {
	if c.EncryptionKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.EncryptionKeyFile) // #nosec G304 G703 -- the operator names the key file
	if err != nil {
		return nil, fmt.Errorf("--encryption-key-file: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("--encryption-key-file %s line %d: not base64: %w", c.EncryptionKeyFile, i+1, err)
		}
		if n := len(key); n != cluster.EncryptionKeySize {
			return nil, fmt.Errorf("--encryption-key-file %s line %d: the key is %d bytes; want %d (openssl rand -base64 32)", c.EncryptionKeyFile, i+1, n, cluster.EncryptionKeySize)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--encryption-key-file %s: no key in the file (openssl rand -base64 32)", c.EncryptionKeyFile)
	}
	return keys, nil
}

// gossipAdvertise returns the gossip address to advertise: --advertise's
// host with --gossip-addr's port; "" when --advertise is not set (the bind
// address is advertised).
func (c *config) gossipAdvertise() (string, error) {
	if c.Advertise == "" {
		return "", nil
	}
	host := c.Advertise
	if h, _, err := net.SplitHostPort(c.Advertise); err == nil {
		host = h
	}
	_, port, err := splitHostPort(c.GossipAddr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// apiURL is the API base URL this node advertises: http:// (https:// with
// TLS) and --advertise's host (else the bound host) with the bound HTTP
// port.
func (c *config) apiURL(bound net.Addr) string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return ""
	}
	if c.Advertise != "" {
		host = c.Advertise
		if h, _, err := net.SplitHostPort(c.Advertise); err == nil {
			host = h
		}
	}
	scheme := "http://"
	if c.apiTLSOnly() {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// apiTLSOnly reports whether the API serves HTTPS only: with the
// operator's certificate, or with the cluster's when it is reached off
// loopback. On loopback it serves plain HTTP to local clients and TLS to
// other nodes on the same port.
func (c *config) apiTLSOnly() bool {
	if c.tlsEnabled() {
		return true
	}
	if c.Insecure {
		return false
	}
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || !loopbackHost(host) {
		return true // bound where the network reaches it (a wildcard included)
	}
	return c.Advertise != "" && !loopbackHost(hostOf(c.Advertise))
}

// hostOf is the host of host:port, or s itself when it has no port.
func hostOf(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}

// loopbackHost reports whether host is a loopback name or address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
