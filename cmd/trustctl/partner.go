package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trustledger/trustledger/api/client"
)

func partnerCommand() *command {
	return &command{name: "partner", subs: []*command{
		{name: "add", args: "PARTNER_ID --issuer URL --audience AUD --keys FILE... --weight W --max-influence POINTS " +
			"[--rate-limit N] [--suspended]",
			summary: "register or replace a federation partner (keys from JWK or JWKS files)", run: partnerAdd},
		{name: "list", args: "", summary: "list federation partners", run: partnerList},
		{name: "suspend", args: "PARTNER_ID",
			summary: "suspend a partner: its SETs are refused and its assessments stop counting", run: partnerSuspend},
		{name: "resume", args: "PARTNER_ID", summary: "reactivate a suspended partner", run: partnerResume},
		{name: "remove", args: "PARTNER_ID", summary: "remove a partner; its assessments stop counting", run: partnerRemove},
	}}
}

func partnerAdd(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl partner add")
	var spec client.PartnerSpec
	var keyFiles stringList
	var weight, maxInfluence string
	var rate int64
	var suspended bool
	fs.StringVar(&spec.Issuer, "issuer", "", "the `iss` the partner's SETs carry (required)")
	fs.StringVar(&spec.Audience, "audience", "", "the `aud` value its SETs must contain (required)")
	fs.Var(&keyFiles, "keys", "JWK or JWKS `FILE` of the partner's public keys (repeatable; required)")
	fs.StringVar(&weight, "weight", "", "weight 0-1: how much its assessments count (required)")
	fs.StringVar(&maxInfluence, "max-influence", "", "most `points` it may move a score (required)")
	fs.Int64Var(&rate, "rate-limit", 0, "SETs per second per node (0: the server's default)")
	fs.BoolVar(&suspended, "suspended", false, "register it suspended")
	pos, err := c.parseArgs(fs, args, partnerCommand().subs[0].args, 1, "PARTNER_ID")
	if err != nil {
		return err
	}
	switch {
	case spec.Issuer == "" || spec.Audience == "":
		return usagef("--issuer and --audience are required")
	case len(keyFiles) == 0:
		return usagef("--keys is required: a JWK or JWKS file of the partner's public keys")
	case weight == "" || maxInfluence == "":
		return usagef("--weight and --max-influence are required")
	}
	spec.Weight, spec.MaxInfluence = json.Number(weight), json.Number(maxInfluence)
	if spec.JWKS, err = readKeySet(keyFiles); err != nil {
		return err
	}
	if rate != 0 {
		spec.RateLimit = &rate
	}
	if suspended {
		spec.Status = "suspended"
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.PutPartner(ctx, pos[0], spec)
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Partner %s registered at index %d.\n", pos[0], res.Index)
		if res.Partner != nil {
			partnerRows(w, []client.Partner{*res.Partner})
		}
	})
}

// readKeySet merges JWK and JWKS files into one {"keys": [...]}.
func readKeySet(files []string) (json.RawMessage, error) {
	keys := []json.RawMessage{}
	for _, f := range files {
		b, err := os.ReadFile(f) // #nosec G304 -- a file the operator names
		if err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: not a JWK or JWKS (a JSON object): %v", f, err)
		}
		if _, private := doc["d"]; private {
			return nil, fmt.Errorf("%s: is a private key; register the partner's public key only", f)
		}
		raw, isSet := doc["keys"]
		if !isSet {
			keys = append(keys, json.RawMessage(b))
			continue
		}
		var set []json.RawMessage
		if err := json.Unmarshal(raw, &set); err != nil {
			return nil, fmt.Errorf("%s: \"keys\" must be an array of JWKs", f)
		}
		keys = append(keys, set...)
	}
	return json.Marshal(map[string]any{"keys": keys})
}

func partnerList(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl partner list")
	_, err := c.parseArgs(fs, args, "", 0, "")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	ps, _, err := cl.ListPartners(ctx, nil)
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []client.Partner{}
	}
	return c.emit(map[string]any{"partners": ps}, func(w io.Writer) { partnerRows(w, ps) })
}

func partnerRows(w io.Writer, ps []client.Partner) {
	row(w, "ID", "ISSUER", "AUDIENCE", "WEIGHT", "MAX-INFLUENCE", "STATUS", "RATE", "KEYS", "UPDATED")
	for _, p := range ps {
		rate := "default"
		if p.RateLimit > 0 {
			rate = fmt.Sprintf("%d/s", p.RateLimit)
		}
		row(w, p.PartnerID, p.Issuer, p.Audience, string(p.Weight), string(p.MaxInfluence), p.Status, rate,
			strings.Join(keyIDs(p.JWKS), ","), p.UpdatedAt)
	}
}

// keyIDs lists the kids of a JWKS.
func keyIDs(jwks json.RawMessage) []string {
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(jwks, &set)
	ids := []string{}
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	return ids
}

func partnerSuspend(ctx context.Context, c *cli, args []string) error {
	return partnerSetStatus(ctx, c, args, "suspend", "suspended")
}

func partnerResume(ctx context.Context, c *cli, args []string) error {
	return partnerSetStatus(ctx, c, args, "resume", "active")
}

// partnerSetStatus reads the partner and writes it back with status.
func partnerSetStatus(ctx context.Context, c *cli, args []string, verb, status string) error {
	fs := c.flagSet("trustctl partner " + verb)
	pos, err := c.parseArgs(fs, args, "PARTNER_ID", 1, "PARTNER_ID")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	p, _, err := cl.GetPartner(ctx, pos[0], nil)
	if err != nil {
		return err
	}
	rate := p.RateLimit
	res, err := cl.PutPartner(ctx, p.PartnerID, client.PartnerSpec{Issuer: p.Issuer, Audience: p.Audience, JWKS: p.JWKS,
		Weight: p.Weight, MaxInfluence: p.MaxInfluence, Status: status, RateLimit: &rate})
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) { fmt.Fprintf(w, "Partner %s is %s (index %d).\n", p.PartnerID, status, res.Index) })
}

func partnerRemove(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl partner remove")
	pos, err := c.parseArgs(fs, args, "PARTNER_ID", 1, "PARTNER_ID")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.RemovePartner(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Partner %s removed at index %d; revoke its partner tokens too.\n", pos[0], res.Index)
	})
}
