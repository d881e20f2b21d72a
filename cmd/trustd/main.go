// Command trustd runs a trustledger node: the Raft-replicated trust ledger
// and its HTTP API (docs/api.md, docs/operations.md).
//
// With no flags it runs a single-node cluster on loopback with its data in
// ./trustledger-data, bootstraps itself, and writes the bootstrap admin token
// to <data-dir>/admin.token at first start. Run trustd -h for the flags and
// their TRUSTLEDGER_* environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/trustledger/trustledger/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is trustd's whole life: configure, serve until SIGINT or SIGTERM, shut
// down gracefully. It returns the process exit code: 0 after a clean
// shutdown, 1 when the node failed, 2 for a bad configuration.
func run(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--version" || a == "-version" {
			fmt.Fprintln(stdout, version.String("trustd"))
			return 0
		}
	}
	cfg, err := loadConfig(args, os.LookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout, options())
		return 0
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "trustd: %s\n", line)
		}
		return 2
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once shutdown has begun, a second signal kills the process.
	context.AfterFunc(ctx, stop)

	if err := serve(ctx, cfg, log, stdout); err != nil {
		log.Error("trustd stopped with an error", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel) // validated
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
