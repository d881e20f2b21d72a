package main

import (
	"context"
	"flag"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

// A leaf command states only what is its own: its place in the tree, its
// synopsis, its positional arguments and a setup, which registers its
// flags and returns the checks to make once they are parsed, which in
// turn return the call to make once connected. run does everything else,
// the same way for every leaf: the flag set and its usage, parsing, the
// positional-argument check, connecting, printing the output as a table
// or as JSON, and the error (and so the exit code) it ends with.

// setup registers a leaf's own flags on fs and returns its checks.
type setup func(fs *flag.FlagSet, c *cli) prepare

// prepare checks the parsed flags and the positional arguments before
// anything is sent, and returns the call to make; nil when the command
// has nothing to send (it printed what it had to).
type prepare func(pos []string) (call, error)

// call does the leaf's work with the client (nil for a leaf with
// ownClient) and returns what to print; nil when it printed its output
// itself.
type call func(ctx context.Context, cl *client.Client) (*output, error)

// output is what a leaf prints: v as JSON with --output json, table for
// people otherwise (see emit). status, when set, is the error the command
// ends with once its output is printed, such as a silentError when part
// of the work failed.
type output struct {
	v      any
	table  func(w io.Writer)
	status error
}

// failedIf is the status of an output whose work partly failed: exit code
// 1, the output having said what failed.
func failedIf(failed bool) error {
	if failed {
		return &silentError{exitError}
	}
	return nil
}

// show is the output of a request that answered v, or its error.
func show(v any, err error, table func(w io.Writer)) (*output, error) {
	if err != nil {
		return nil, err
	}
	return &output{v: v, table: table}, nil
}

// positional says how many positional arguments a leaf takes: exactly n
// (names says which, when some are missing), at most n with upTo, or any
// number, which the leaf checks itself, with free.
type positional struct {
	n     int
	names string
	upTo  bool
	free  bool
}

// one is a single positional argument.
func one(name string) positional { return positional{n: 1, names: name} }

func (p positional) check(pos []string) error {
	if p.free || p.upTo && len(pos) <= p.n {
		return nil
	}
	return need(pos, p.n, p.names)
}

// usageName is the name a leaf's usage and flag set show.
func (cmd *command) usageName() string {
	if cmd.usage != "" {
		return cmd.usage
	}
	return "trustctl " + cmd.path
}

// run runs a leaf with its arguments.
func (cmd *command) run(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet(cmd.usageName())
	prep := cmd.setup(fs, c)
	pos, err := c.parseArgs(fs, args, cmd.args, cmd.pos)
	if err != nil {
		return err
	}
	do, err := prep(pos)
	if err != nil || do == nil {
		return err
	}
	var cl *client.Client
	if !cmd.ownClient {
		if cl, err = c.connect(); err != nil {
			return err
		}
	}
	out, err := do(ctx, cl)
	if err != nil || out == nil {
		return err
	}
	if err := c.emit(out.v, out.table); err != nil {
		return err
	}
	return out.status
}

// action is the work of a leaf with no flags of its own and nothing to
// check before it connects.
type action func(ctx context.Context, c *cli, cl *client.Client, pos []string) (*output, error)

// noFlags is the setup of such a leaf.
func noFlags(a action) setup {
	return func(_ *flag.FlagSet, c *cli) prepare {
		return func(pos []string) (call, error) {
			return func(ctx context.Context, cl *client.Client) (*output, error) { return a(ctx, c, cl, pos) }, nil
		}
	}
}

// query is the work of a read, given the read options its flags ask for.
type query func(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error)

// reads is the setup of a read with no flags of its own beyond the read
// flags (addReadFlags; --at too when withAt).
func reads(withAt bool, q query) setup {
	return readsWith(withAt, func(*flag.FlagSet, *cli) query { return q })
}

// readsWith is the setup of a read whose own flags flags registers; it
// returns the query they shape.
func readsWith(withAt bool, flags func(fs *flag.FlagSet, c *cli) query) setup {
	return func(fs *flag.FlagSet, c *cli) prepare {
		q := flags(fs, c)
		rf := addReadFlags(fs, withAt)
		return func(pos []string) (call, error) {
			opts, err := rf.options(c)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, cl *client.Client) (*output, error) { return q(ctx, cl, pos, opts) }, nil
		}
	}
}
