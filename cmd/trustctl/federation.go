package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/federation"
)

// eventURI resolves a short event name (the last segment of a URI
// federation.EventTypes lists, e.g. "session-revoked") or returns the URI
// given.
func eventURI(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	for _, uri := range federation.EventTypes() {
		if strings.HasSuffix(uri, "/"+name) {
			return uri
		}
	}
	return name
}

// setFlags are the flags of trustctl federation send: the SET to sign.
type setFlags struct {
	keyFile, kid                      string
	issuer, audience, subject, format string
	score, event, payload, jti        string
	validFor                          time.Duration
	dryRun                            bool
}

func federationSend(fs *flag.FlagSet, c *cli) prepare {
	var f setFlags
	fs.StringVar(&f.keyFile, "key", "", "the partner's private key `FILE`: PEM (openssl genpkey) or JWK (required)")
	fs.StringVar(&f.kid, "kid", "", "key id in the JWS header (default: the JWK's kid)")
	fs.StringVar(&f.issuer, "issuer", "", "the SET's iss: the partner's registered issuer (required)")
	fs.StringVar(&f.audience, "audience", "", "the SET's aud: the partner's registered audience (required)")
	fs.StringVar(&f.subject, "subject", "", "the principal the event is about (required)")
	fs.StringVar(&f.format, "subject-format", "opaque", "sub_id format: opaque, email or iss_sub (sub under --issuer)")
	fs.StringVar(&f.score, "score", "", "send a trust-assessment event with this score (0-100)")
	fs.DurationVar(&f.validFor, "valid-for", 24*time.Hour, "how long a --score assessment is valid")
	fs.StringVar(&f.event, "event", "", "event `TYPE`: a URI or a short name such as session-revoked, account-disabled")
	fs.StringVar(&f.payload, "payload", "{}", "event payload `JSON` for --event")
	fs.StringVar(&f.jti, "jti", "", "the SET's jti (default: random)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the signed SET instead of sending it")
	return func([]string) (call, error) {
		set, err := f.sign(c.now())
		if err != nil {
			return nil, err
		}
		if f.dryRun {
			fmt.Fprintln(c.stdout, set)
			return nil, nil
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.PushSET(ctx, set)
			if err != nil {
				return nil, err
			}
			out := map[string]any{"index": res.Index, "jti": f.jti, "event": f.event, "recorded": res.Index != 0}
			return show(out, nil, func(w io.Writer) {
				if res.Index == 0 {
					fmt.Fprintf(w, "Acknowledged (jti %s): the ledger does not act on %s; nothing recorded.\n", f.jti, f.event)
					return
				}
				fmt.Fprintf(w, "Accepted (jti %s) at index %d.\n", f.jti, res.Index)
			})
		}, nil
	}
}

// sign checks the flags and returns the signed SET, issued at now; it
// settles the event type and the jti.
func (f *setFlags) sign(now time.Time) (string, error) {
	switch {
	case f.keyFile == "" || f.issuer == "" || f.audience == "" || f.subject == "":
		return "", usagef("--key, --issuer, --audience and --subject are required")
	case (f.score == "") == (f.event == ""):
		return "", usagef("give --score (a trust assessment) or --event, not both")
	}
	data, err := os.ReadFile(f.keyFile) // #nosec G304 -- a file the operator names
	if err != nil {
		return "", fmt.Errorf("read key: %w", err)
	}
	key, jwkKid, err := federation.ParseSigningKey(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.keyFile, err)
	}
	if f.kid == "" {
		f.kid = jwkKid
	}
	if f.kid == "" {
		return "", usagef("--kid is required with a PEM key: the kid the partner's key is registered under")
	}
	sub, err := subjectID(f.format, f.subject, f.issuer)
	if err != nil {
		return "", err
	}
	body, err := f.eventBody(now)
	if err != nil {
		return "", err
	}
	if f.jti == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		f.jti = hex.EncodeToString(b[:])
	}
	claims := map[string]any{"iss": f.issuer, "aud": f.audience, "iat": now.Unix(), "jti": f.jti, "sub_id": sub,
		"events": map[string]json.RawMessage{f.event: body}}
	return federation.Sign(key, f.kid, claims)
}

// subjectID is the SET's sub_id for subject in format.
func subjectID(format, subject, issuer string) (map[string]any, error) {
	sub := map[string]any{"format": format}
	switch format {
	case "opaque":
		sub["id"] = subject
	case "email":
		sub["email"] = subject
	case "iss_sub":
		sub["iss"], sub["sub"] = issuer, subject
	default:
		return nil, usagef("--subject-format must be opaque, email or iss_sub")
	}
	return sub, nil
}

// eventBody settles the event type (a trust assessment for --score) and
// returns its payload.
func (f *setFlags) eventBody(now time.Time) (json.RawMessage, error) {
	if f.score != "" {
		f.event = federation.EventTrustAssessment
		// A --score that is no JSON number leaves the payload null, for
		// the receiver to judge.
		body, _ := json.Marshal(map[string]any{"score": json.Number(f.score), "validUntil": now.Add(f.validFor).Unix()})
		return body, nil
	}
	f.event = eventURI(f.event)
	body := json.RawMessage(f.payload)
	if !json.Valid(body) || !strings.HasPrefix(strings.TrimSpace(f.payload), "{") {
		return nil, usagef("--payload must be a JSON object")
	}
	return body, nil
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
