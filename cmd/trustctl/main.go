// Command trustctl is the command-line client of trustledger: it registers
// principals, sends signals and factor reports, asks for decisions, reviews
// alerts, and administers policy and tokens on a trustd node.
//
// It is a thin layer over the api/client package: it parses flags, calls
// the client and formats the answer, as a table for people or as JSON
// (--output json) for machines. Run "trustctl help" for the commands.
//
// Exit codes: 0 success, 1 an error from the server or the network (or a
// signal batch with rejected signals), 2 a usage error.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one trustctl invocation and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := newCLI(os.Stdin, stdout, stderr)
	if isTerminal(stderr) {
		c.progress = stderr
	}
	return c.run(ctx, args)
}
