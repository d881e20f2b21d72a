package main

import (
	"context"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func endorseCommand() *command {
	return &command{name: "endorse", fallback: "add", subs: []*command{
		{name: "add", args: "ENDORSER ENDORSEE [--weight N] [--reason TEXT] [--expires TIME]",
			summary: "have ENDORSER vouch for ENDORSEE (also: trustctl endorse ENDORSER ENDORSEE)", run: endorseAdd},
		{name: "revoke", args: "ENDORSEMENT_ID", summary: "revoke an endorsement", run: endorseRevoke},
	}}
}

func endorseAdd(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl endorse")
	weight := fs.String("weight", "", "bonus in points (default: the policy's)")
	reason := fs.String("reason", "", "why")
	expires := fs.String("expires", "", "end of the endorsement: RFC 3339 or an offset like +720h")
	pos, err := c.parseArgs(fs, args, endorseCommand().subs[0].args, 2, "ENDORSER ENDORSEE")
	if err != nil {
		return err
	}
	wt, err := number("weight", *weight)
	if err != nil {
		return err
	}
	exp, err := c.instantString("expires", *expires)
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.Endorse(ctx, client.EndorsementRequest{EndorserID: pos[0], EndorseeID: pos[1], Weight: wt,
		Reason: *reason, ExpiresAt: exp})
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "%s endorses %s: endorsement %s at index %d.\n", pos[0], pos[1], res.EndorsementID, res.Index)
	})
}

func endorseRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl endorse revoke")
	pos, err := c.parseArgs(fs, args, "ENDORSEMENT_ID", 1, "ENDORSEMENT_ID")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.RevokeEndorsement(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Endorsement %s revoked at index %d.\n", pos[0], res.Index)
	})
}
