package main

import (
	"context"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func orgCommand() *command {
	return &command{name: "org", subs: []*command{
		{name: "set", args: "ORG --base N [--name NAME]",
			summary: "set an organization's baseline, inherited by principals registered in it", run: orgSet},
		{name: "get", args: "ORG", summary: "show an organization", run: orgGet},
	}}
}

func orgSet(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl org set")
	base := fs.String("base", "", "baseTrustScore in points (required)")
	name := fs.String("name", "", "display name")
	pos, err := c.parseArgs(fs, args, orgCommand().subs[0].args, 1, "ORG")
	if err != nil {
		return err
	}
	if *base == "" {
		return usagef("--base is required")
	}
	b, err := number("base", *base)
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.PutOrg(ctx, pos[0], client.OrgSpec{BaseTrustScore: b, Name: *name})
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Organization %s baseline set to %s at index %d.\n", pos[0], b, res.Index)
	})
}

func orgGet(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl org get")
	rf := addReadFlags(fs, false)
	pos, err := c.parseArgs(fs, args, "ORG", 1, "ORG")
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
	o, _, err := cl.GetOrg(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	return c.emit(o, func(w io.Writer) {
		row(w, "ORG", "NAME", "BASELINE", "UPDATED")
		row(w, o.OrgID, o.Name, o.BaseTrustScore, o.UpdatedAt)
	})
}
