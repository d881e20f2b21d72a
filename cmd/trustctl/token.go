package main

import (
	"context"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func tokenCommand() *command {
	return &command{name: "token", subs: []*command{
		{name: "create", args: "--role admin|operator|writer|reader|partner|auditor [--partner ID] [--org ORG]... [--description TEXT]",
			summary: "create an API token (its secret is shown once)", run: tokenCreate},
		{name: "list", args: "", summary: "list API tokens (never their secrets)", run: tokenList},
		{name: "revoke", args: "TOKEN_ID", summary: "revoke an API token", run: tokenRevoke},
	}}
}

func tokenCreate(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl token create")
	var req client.TokenRequest
	var orgs stringList
	fs.StringVar(&req.Role, "role", "", "admin, operator, writer, reader, partner or auditor (required)")
	fs.StringVar(&req.PartnerID, "partner", "", "federation partner `ID` a partner token is bound to")
	fs.Var(&orgs, "org", "organization a writer token is limited to (repeatable, or comma-separated)")
	fs.StringVar(&req.Description, "description", "", "what the token is for")
	fs.StringVar(&req.ID, "id", "", "token `ID` (default: a random one)")
	_, err := c.parseArgs(fs, args, tokenCommand().subs[0].args, 0, "")
	if err != nil {
		return err
	}
	if req.Role == "" {
		return usagef("--role is required")
	}
	req.Orgs = orgs
	cl, err := c.connect()
	if err != nil {
		return err
	}
	tok, err := cl.CreateToken(ctx, req)
	if err != nil {
		return err
	}
	return c.emit(tok, func(w io.Writer) {
		row(w, "ID", tok.ID)
		row(w, "Role", req.Role)
		row(w, "Token", tok.Secret)
		fmt.Fprintln(w, "\nThe token is shown only this once: store it now.")
	})
}

func tokenList(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl token list")
	_, err := c.parseArgs(fs, args, "", 0, "")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	toks, err := cl.ListTokens(ctx)
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []client.Token{}
	}
	return c.emit(map[string]any{"tokens": toks}, func(w io.Writer) {
		row(w, "ID", "ROLE", "PARTNER", "ORGS", "CREATED", "REVOKED", "DESCRIPTION")
		for _, t := range toks {
			revoked := ""
			if t.Revoked {
				revoked = "yes " + t.RevokedAt
			}
			row(w, t.ID, t.Role, t.PartnerID, t.Orgs, t.CreatedAt, revoked, t.Description)
		}
	})
}

func tokenRevoke(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl token revoke")
	pos, err := c.parseArgs(fs, args, "TOKEN_ID", 1, "TOKEN_ID")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.RevokeToken(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) { fmt.Fprintf(w, "Token %s revoked at index %d.\n", pos[0], res.Index) })
}
