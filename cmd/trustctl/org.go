package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func orgCommand() *command {
	return group("org",
		&command{name: "set", args: "ORG --base N [--name NAME]",
			summary: "set an organization's baseline, inherited by principals registered in it", pos: one("ORG"), setup: orgSet},
		&command{name: "get", args: "ORG", summary: "show an organization", pos: one("ORG"), setup: reads(false, orgGet)},
	)
}

func orgSet(fs *flag.FlagSet, _ *cli) prepare {
	base := fs.String("base", "", "baseTrustScore in points (required)")
	name := fs.String("name", "", "display name")
	return func(pos []string) (call, error) {
		if *base == "" {
			return nil, usagef("--base is required")
		}
		b, err := number("base", *base)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.PutOrg(ctx, pos[0], client.OrgSpec{BaseTrustScore: b, Name: *name})
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Organization %s baseline set to %s at index %d.\n", pos[0], b, res.Index)
			})
		}, nil
	}
}

func orgGet(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
	o, _, err := cl.GetOrg(ctx, pos[0], opts)
	return show(o, err, func(w io.Writer) {
		row(w, "ORG", "NAME", "BASELINE", "UPDATED")
		row(w, o.OrgID, o.Name, o.BaseTrustScore, o.UpdatedAt)
	})
}
