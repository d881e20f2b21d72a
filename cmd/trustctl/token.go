package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func tokenCommand() *command {
	return group("token",
		&command{name: "create", args: "--role admin|operator|writer|reader|partner|auditor [--partner ID] [--org ORG]... [--description TEXT]",
			summary: "create an API token (its secret is shown once)", setup: tokenCreate},
		&command{name: "list", args: "", summary: "list API tokens (never their secrets)", setup: noFlags(tokenList)},
		&command{name: "revoke", args: "TOKEN_ID", summary: "revoke an API token", pos: one("TOKEN_ID"), setup: noFlags(tokenRevoke)},
	)
}

func tokenCreate(fs *flag.FlagSet, _ *cli) prepare {
	var req client.TokenRequest
	var orgs stringList
	fs.StringVar(&req.Role, "role", "", "admin, operator, writer, reader, partner or auditor (required)")
	fs.StringVar(&req.PartnerID, "partner", "", "federation partner `ID` a partner token is bound to")
	fs.Var(&orgs, "org", "organization a writer token is limited to (repeatable, or comma-separated)")
	fs.StringVar(&req.Description, "description", "", "what the token is for")
	fs.StringVar(&req.ID, "id", "", "token `ID` (default: a random one)")
	return func([]string) (call, error) {
		if req.Role == "" {
			return nil, usagef("--role is required")
		}
		req.Orgs = orgs
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			tok, err := cl.CreateToken(ctx, req)
			return show(tok, err, func(w io.Writer) {
				row(w, "ID", tok.ID)
				row(w, "Role", req.Role)
				row(w, "Token", tok.Secret)
				fmt.Fprintln(w, "\nThe token is shown only this once: store it now.")
			})
		}, nil
	}
}

func tokenList(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	toks, err := cl.ListTokens(ctx)
	if toks == nil {
		toks = []client.Token{}
	}
	return show(map[string]any{"tokens": toks}, err, func(w io.Writer) {
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

func tokenRevoke(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RevokeToken(ctx, pos[0])
	return show(res, err, func(w io.Writer) { fmt.Fprintf(w, "Token %s revoked at index %d.\n", pos[0], res.Index) })
}
