package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/trustledger/trustledger/api/client"
)

func partnerCommand() *command {
	return group("partner",
		&command{name: "add", args: "PARTNER_ID --issuer URL --audience AUD --keys FILE... --weight W --max-influence POINTS " +
			"[--rate-limit N] [--suspended]",
			summary: "register or replace a federation partner (keys from JWK or JWKS files)", pos: one("PARTNER_ID"), setup: partnerAdd},
		&command{name: "list", args: "", summary: "list federation partners", setup: noFlags(partnerList)},
		&command{name: "suspend", args: "PARTNER_ID", pos: one("PARTNER_ID"),
			summary: "suspend a partner: its SETs are refused and its assessments stop counting", setup: noFlags(partnerSetStatus("suspended"))},
		&command{name: "resume", args: "PARTNER_ID", summary: "reactivate a suspended partner", pos: one("PARTNER_ID"),
			setup: noFlags(partnerSetStatus("active"))},
		&command{name: "remove", args: "PARTNER_ID", summary: "remove a partner; its assessments stop counting", pos: one("PARTNER_ID"),
			setup: noFlags(partnerRemove)},
	)
}

func partnerAdd(fs *flag.FlagSet, _ *cli) prepare {
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
	return func(pos []string) (call, error) {
		switch {
		case spec.Issuer == "" || spec.Audience == "":
			return nil, usagef("--issuer and --audience are required")
		case len(keyFiles) == 0:
			return nil, usagef("--keys is required: a JWK or JWKS file of the partner's public keys")
		case weight == "" || maxInfluence == "":
			return nil, usagef("--weight and --max-influence are required")
		}
		spec.Weight, spec.MaxInfluence = json.Number(weight), json.Number(maxInfluence)
		var err error
		if spec.JWKS, err = readKeySet(keyFiles); err != nil {
			return nil, err
		}
		if rate != 0 {
			spec.RateLimit = &rate
		}
		if suspended {
			spec.Status = "suspended"
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.PutPartner(ctx, pos[0], spec)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Partner %s registered at index %d.\n", pos[0], res.Index)
				if res.Partner != nil {
					partnerRows(w, []client.Partner{*res.Partner})
				}
			})
		}, nil
	}
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

func partnerList(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	ps, _, err := cl.ListPartners(ctx, nil)
	if ps == nil {
		ps = []client.Partner{}
	}
	return show(map[string]any{"partners": ps}, err, func(w io.Writer) { partnerRows(w, ps) })
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

// partnerSetStatus reads the partner and writes it back with status.
func partnerSetStatus(status string) action {
	return func(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
		p, _, err := cl.GetPartner(ctx, pos[0], nil)
		if err != nil {
			return nil, err
		}
		rate := p.RateLimit
		res, err := cl.PutPartner(ctx, p.PartnerID, client.PartnerSpec{Issuer: p.Issuer, Audience: p.Audience, JWKS: p.JWKS,
			Weight: p.Weight, MaxInfluence: p.MaxInfluence, Status: status, RateLimit: &rate})
		return show(res, err, func(w io.Writer) { fmt.Fprintf(w, "Partner %s is %s (index %d).\n", p.PartnerID, status, res.Index) })
	}
}

func partnerRemove(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RemovePartner(ctx, pos[0])
	return show(res, err, func(w io.Writer) {
		fmt.Fprintf(w, "Partner %s removed at index %d; revoke its partner tokens too.\n", pos[0], res.Index)
	})
}
