package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
)

func policyCommand() *command {
	return &command{name: "policy", subs: []*command{
		{name: "get", args: "", summary: "print the scoring and decision policy (JSON)", run: policyGet},
		{name: "set", args: "FILE|-", summary: "change the policy with a JSON document shaped like 'policy get' prints (fields left out are kept)", run: policySet},
	}}
}

func policyGet(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl policy get")
	rf := addReadFlags(fs, false)
	_, err := c.parseArgs(fs, args, "", 0, "")
	if err != nil {
		return err
	}
	opts, err := rf.options(c)
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	raw, _, err := cl.GetPolicy(ctx, opts)
	if err != nil {
		return err
	}
	// The policy is a document, shown as indented JSON in both formats.
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("policy: the server sent invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err = c.stdout.Write(escapeJSONText(buf.Bytes()))
	return err
}

func policySet(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl policy set")
	pos, err := c.parseArgs(fs, args, "FILE|-", 1, "FILE (or - for standard input)")
	if err != nil {
		return err
	}
	b, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	if !json.Valid(b) {
		return usagef("%s: not valid JSON", displayName(pos[0]))
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.SetPolicy(ctx, bytes.TrimSpace(b))
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		if !res.Changed {
			fmt.Fprintf(w, "Policy unchanged (in force since index %d).\n", res.Index)
			return
		}
		fmt.Fprintf(w, "Policy set at index %d.\n", res.Index)
	})
}
