package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func policyCommand() *command {
	return group("policy",
		&command{name: "get", args: "", summary: "print the scoring and decision policy (JSON)", setup: readsWith(false, policyGet)},
		&command{name: "set", args: "FILE|-", summary: "change the policy with a JSON document shaped like 'policy get' prints (fields left out are kept)",
			pos: one("FILE (or - for standard input)"), setup: policySet},
	)
}

func policyGet(_ *flag.FlagSet, c *cli) query {
	return func(ctx context.Context, cl *client.Client, _ []string, opts *client.ReadOptions) (*output, error) {
		raw, _, err := cl.GetPolicy(ctx, opts)
		if err != nil {
			return nil, err
		}
		// The policy is a document, shown as indented JSON in both formats.
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, fmt.Errorf("policy: the server sent invalid JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err = c.stdout.Write(escapeJSONText(buf.Bytes()))
		return nil, err
	}
}

func policySet(_ *flag.FlagSet, c *cli) prepare {
	return func(pos []string) (call, error) {
		b, err := c.readInput(pos[0])
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, usagef("%s: not valid JSON", displayName(pos[0]))
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.SetPolicy(ctx, bytes.TrimSpace(b))
			return show(res, err, func(w io.Writer) {
				if !res.Changed {
					fmt.Fprintf(w, "Policy unchanged (in force since index %d).\n", res.Index)
					return
				}
				fmt.Fprintf(w, "Policy set at index %d.\n", res.Index)
			})
		}, nil
	}
}
