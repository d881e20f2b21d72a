package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/version"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// cli is one invocation of trustctl: its streams, global options and the
// client built from them.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	g              globals
	now            func() time.Time
	client         *client.Client
	// progress receives progress lines of long operations: standard error
	// when it is a terminal, else nothing (nil).
	progress io.Writer
}

// globals are the options every command accepts.
type globals struct {
	addr, token, tokenFile string
	output                 string
	timeout                time.Duration
	caCert, clientCert     string
	clientKey              string
	tlsSkipVerify          bool
	caFingerprint          string
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	// Errors quote what servers said: escaped like every other output.
	return &cli{stdin: stdin, stdout: stdout, stderr: terminalWriter{stderr}, now: time.Now, g: globals{output: "table"}}
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run executes args and returns the exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	fs := c.flagSet("trustctl")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.stdout)
			return exitOK
		}
		fmt.Fprintf(c.stderr, "Error: %s\nRun 'trustctl help' for the commands and global flags.\n", doubleDash(err.Error()))
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(c.stdout, version.String("trustctl"))
		return exitOK
	}
	args = fs.Args()
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return exitUsage
	}
	if args[0] == "help" {
		return c.help(args[1:])
	}
	cmd, rest, path, err := c.find(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		fmt.Fprintln(c.stderr, "Run 'trustctl help' for the commands.")
		return exitUsage
	}
	code := c.report(path, cmd.run(ctx, c, rest))
	if c.client != nil {
		if why := c.client.ClientCertificateIgnored(); why != "" {
			fmt.Fprintf(c.stderr, "Warning: trustd did not use --client-cert (%s)\n", why)
		}
	}
	return code
}

// find walks the command tree along args.
func (c *cli) find(args []string) (cmd *command, rest []string, path string, err error) {
	list := c.commands()
	path = "trustctl"
	for {
		name := args[0]
		if cmd = named(list, name); cmd == nil {
			return nil, nil, "", usagef("unknown command %q for %s", name, path)
		}
		path += " " + name
		args = args[1:]
		if cmd.subs == nil {
			return cmd, args, path, nil
		}
		if len(args) > 0 && isHelpFlag(args[0]) && cmd.fallback == "" {
			fmt.Fprintf(c.stdout, "Usage: %s <%s> ...\nRun '%s <sub-command> -h' for its flags.\n", path,
				strings.ReplaceAll(subNames(cmd), ", ", "|"), path)
			return nil, nil, path, flag.ErrHelp
		}
		if len(args) == 0 || strings.HasPrefix(args[0], "-") || named(cmd.subs, args[0]) == nil {
			if cmd.fallback == "" {
				if len(args) == 0 {
					return nil, nil, "", usagef("%s needs a sub-command: %s", path, subNames(cmd))
				}
				return nil, nil, "", usagef("unknown sub-command %q for %s (one of %s)", args[0], path, subNames(cmd))
			}
			args = append([]string{cmd.fallback}, args...)
		}
		list = cmd.subs
	}
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func subNames(cmd *command) string {
	var names []string
	for _, s := range cmd.subs {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// report prints err the way a user can act on and returns the exit code.
func (c *cli) report(path string, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "Error: %s\nRun '%s -h' for its usage.\n", ue.msg, path)
		return exitUsage
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	fmt.Fprintln(c.stderr, "Error: "+c.explain(err))
	return exitError
}

// silentError ends a command with an exit code after the command has
// already said what went wrong.
type silentError struct{ code int }

func (e *silentError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// explain turns an error into a message that says what to do.
func (c *cli) explain(err error) string {
	var unreachable *client.UnreachableError
	if errors.As(err, &unreachable) {
		if hint := tlsHint(unreachable.Err); hint != "" {
			return fmt.Sprintf("cannot talk to trustd at %s: %s", unreachable.Address, hint)
		}
		return fmt.Sprintf("cannot reach trustd at %s: %s — is it running? set --addr or %s",
			unreachable.Address, unreachable.Reason(), client.EnvAddr)
	}
	var pe *client.Error
	if !errors.As(err, &pe) {
		return err.Error()
	}
	p := pe.Problem
	if pe.StatusCode == 400 && strings.Contains(p.Detail, "HTTP request to an HTTPS server") {
		return "trustd speaks HTTPS on that port — use an https:// address, with --ca-fingerprint sha256:… (trustctl cluster ca) or --ca-cert FILE"
	}
	detail := p.Detail
	if detail == "" {
		detail = p.Title
	}
	var msg string
	switch pe.StatusCode {
	case 401:
		msg = "token rejected: " + detail
		if c.client != nil && !c.hasToken() {
			msg = "no token given: " + detail
		}
		msg += " — set --token, --token-file or " + client.EnvToken
	case 403:
		msg = "permission denied: " + detail
	case 404:
		msg = "not found: " + detail
	case 503:
		msg = "service unavailable: " + detail
		if pe.RetryAfter > 0 {
			msg += fmt.Sprintf(" (retry after %s)", pe.RetryAfter)
		}
	default:
		msg = p.Title
		if p.Detail != "" && p.Detail != p.Title {
			msg += ": " + p.Detail
		}
	}
	if p.Field != "" && !strings.Contains(msg, p.Field) {
		msg += " [field " + p.Field + "]"
	}
	if len(p.Errors) > 1 {
		if i := strings.LastIndex(msg, " (and "); i > 0 && strings.HasSuffix(msg, "see errors)") {
			msg = msg[:i]
		}
		msg += fmt.Sprintf(" — %d faults:", len(p.Errors))
		for _, fe := range p.Errors {
			msg += "\n  - " + fe.Field + ": " + fe.Detail
		}
	}
	if p.LeaderID != "" {
		msg += fmt.Sprintf("\n  the leader is %s (%s)", p.LeaderID, p.LeaderAddr)
	}
	if p.Type != "" && p.Type != "about:blank" && c.g.output != "json" {
		msg += fmt.Sprintf("\n  (%d %s, %s %s)", pe.StatusCode, p.Type, pe.Method, pe.Path)
	}
	return msg
}

func (c *cli) hasToken() bool {
	return c.g.token != "" || c.g.tokenFile != "" || os.Getenv(client.EnvTokenFile) != "" || client.DefaultConfig().Token != ""
}

// flagSet returns a flag set with the global flags registered.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// trustctl prints usage and errors itself (parse): once, usage on
	// standard output for -h, the error alone on standard error.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	g := &c.g
	fs.StringVar(&g.addr, "addr", g.addr, "trustd `URL` (default $"+client.EnvAddr+" or "+client.DefaultAddress+")")
	fs.StringVar(&g.token, "token", g.token, "API token (default $"+client.EnvToken+")")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "read the API token from `FILE`, e.g. ./trustledger-data/admin.token")
	fs.StringVar(&g.output, "output", g.output, "output `format`: table or json")
	fs.StringVar(&g.output, "o", g.output, "short for --output")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "request timeout (default 30s)")
	fs.StringVar(&g.caCert, "ca-cert", g.caCert, "PEM `FILE` of CAs to verify an https trustd (default $"+client.EnvCACert+")")
	fs.StringVar(&g.clientCert, "client-cert", g.clientCert, "PEM client certificate `FILE` for mutual TLS")
	fs.StringVar(&g.clientKey, "client-key", g.clientKey, "PEM client key `FILE` for mutual TLS")
	fs.BoolVar(&g.tlsSkipVerify, "tls-skip-verify", g.tlsSkipVerify, "do not verify the server's certificate (testing only)")
	fs.StringVar(&g.caFingerprint, "ca-fingerprint", g.caFingerprint, "pin the cluster CA of an https trustd by its `FINGERPRINT` (sha256:…, from trustd's log or trustctl cluster ca; default $"+client.EnvCAFingerprint+")")
	return fs
}

// parse parses a command's flags, which may come before, between or after
// its positional arguments ("--" ends the flags), checks the global
// options and returns the positional arguments.
func (c *cli) parse(fs *flag.FlagSet, args []string, synopsis string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.commandUsage(c.stdout, fs, synopsis)
				return nil, err
			}
			return nil, &usageError{doubleDash(err.Error())}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.g.output != "table" && c.g.output != "json" {
		return nil, usagef("--output must be table or json, not %q", c.g.output)
	}
	return pos, nil
}

// connect builds the client from the global options.
func (c *cli) connect() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	c.client = cl
	return cl, nil
}

// clientConfig is the client configuration the global options and the
// environment give.
func (c *cli) clientConfig() (client.Config, error) {
	cfg := client.DefaultConfig()
	g := c.g
	if g.addr != "" {
		cfg.Address = g.addr
	}
	switch {
	case g.token != "":
		cfg.Token, cfg.TokenFile = g.token, ""
	case g.tokenFile != "":
		cfg.Token, cfg.TokenFile = "", g.tokenFile
	}
	cfg.Timeout = g.timeout
	if g.caCert != "" {
		cfg.TLS.CAFile = g.caCert
	}
	if g.clientCert != "" {
		cfg.TLS.CertFile = g.clientCert
	}
	if g.clientKey != "" {
		cfg.TLS.KeyFile = g.clientKey
	}
	cfg.TLS.InsecureSkipVerify = g.tlsSkipVerify
	if g.caFingerprint != "" {
		cfg.TLS.CAFingerprint = g.caFingerprint
	}
	cfg.UserAgent = "trustctl"
	if _, err := client.ParseAddress(cfg.Address); err != nil {
		return cfg, usagef("--addr: %v", err)
	}
	return cfg, nil
}

// parseArgs parses a command's flags and checks its positional arguments
// against want.
func (c *cli) parseArgs(fs *flag.FlagSet, args []string, synopsis string, want positional) ([]string, error) {
	pos, err := c.parse(fs, args, synopsis)
	if err != nil {
		return nil, err
	}
	return pos, want.check(pos)
}

// need checks that args are exactly n positional arguments (named names
// when some are missing).
func need(args []string, n int, names string) error {
	if len(args) != n {
		if len(args) < n {
			return usagef("missing argument: %s", names)
		}
		return usagef("too many arguments: %s", strings.Join(args[n:], " "))
	}
	return nil
}

func (c *cli) help(args []string) int {
	if len(args) == 0 {
		c.printUsage(c.stdout)
		return exitOK
	}
	cmd, _, path, err := c.find(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitUsage
	}
	return c.report(path, cmd.run(context.Background(), c, []string{"-h"}))
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `trustctl — the command-line client of trustledger.

Usage: trustctl [global flags] <command> [sub-command] [arguments] [flags]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var walk func(prefix string, list []*command)
	walk = func(prefix string, list []*command) {
		for _, cmd := range list {
			if cmd.subs != nil {
				walk(prefix+cmd.name+" ", cmd.subs)
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\n", prefix+cmd.name, cmd.summary)
		}
	}
	walk("", c.commands())
	_ = tw.Flush()
	fmt.Fprintf(w, `
Global flags (accepted by every command, before or after it):
  --addr URL          trustd address (default $%s or %s)
  --token TOKEN       API token (default $%s)
  --token-file FILE   read the token from FILE (e.g. ./trustledger-data/admin.token)
  --output, -o FMT    table (default) or json
  --timeout D         request timeout (default 30s)
  --ca-cert, --client-cert, --client-key FILE, --tls-skip-verify   TLS to an https trustd
  --version           print the version (module version, VCS revision, Go version) and exit

Exit codes: 0 success, 1 error from the server or network, 2 usage error.
Run 'trustctl <command> -h' for a command's flags.
`, client.EnvAddr, client.DefaultAddress, client.EnvToken)
}

// tlsHint says what to do about a TLS failure, "" for other errors: the
// node was reached, so "is it running?" would mislead.
func tlsHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	switch {
	case errors.As(err, &host):
		return fmt.Sprintf("its certificate does not name this address (%v) — connect to a name or IP it names, or pin the cluster CA with --ca-fingerprint", host)
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return "its certificate is not signed by a CA this client trusts — pass --ca-cert FILE (your CA) or --ca-fingerprint sha256:… " +
			"(the cluster CA: trustd logs it at first start; trustctl cluster ca shows it), or $" + client.EnvCACert + " / $" + client.EnvCAFingerprint
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "it answers plain HTTP on that port — use an http:// address, or enable TLS on trustd"
	case strings.Contains(err.Error(), "tls: "):
		return "the TLS handshake failed (" + err.Error() + ") — check --ca-cert, --client-cert and --client-key"
	}
	return ""
}
