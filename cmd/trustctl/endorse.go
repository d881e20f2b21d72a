package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func endorseCommand() *command {
	endorse := group("endorse",
		&command{name: "add", args: "ENDORSER ENDORSEE [--weight N] [--reason TEXT] [--expires TIME]",
			summary: "have ENDORSER vouch for ENDORSEE (also: trustctl endorse ENDORSER ENDORSEE)",
			pos:     positional{n: 2, names: "ENDORSER ENDORSEE"}, usage: "trustctl endorse", setup: endorseAdd},
		&command{name: "revoke", args: "ENDORSEMENT_ID", summary: "revoke an endorsement", pos: one("ENDORSEMENT_ID"),
			setup: noFlags(endorseRevoke)},
	)
	endorse.fallback = "add"
	return endorse
}

func endorseAdd(fs *flag.FlagSet, c *cli) prepare {
	weight := fs.String("weight", "", "bonus in points (default: the policy's)")
	reason := fs.String("reason", "", "why")
	expires := fs.String("expires", "", "end of the endorsement: RFC 3339 or an offset like +720h")
	return func(pos []string) (call, error) {
		wt, err := number("weight", *weight)
		if err != nil {
			return nil, err
		}
		exp, err := c.instantString("expires", *expires)
		if err != nil {
			return nil, err
		}
		req := client.EndorsementRequest{EndorserID: pos[0], EndorseeID: pos[1], Weight: wt, Reason: *reason, ExpiresAt: exp}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.Endorse(ctx, req)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "%s endorses %s: endorsement %s at index %d.\n", pos[0], pos[1], res.EndorsementID, res.Index)
			})
		}, nil
	}
}

func endorseRevoke(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RevokeEndorsement(ctx, pos[0])
	return show(res, err, func(w io.Writer) { fmt.Fprintf(w, "Endorsement %s revoked at index %d.\n", pos[0], res.Index) })
}
