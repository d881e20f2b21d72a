package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/trustledger/trustledger/federation"
)

func federationCommand() *command {
	return &command{name: "federation", subs: []*command{
		{name: "send", args: "--key FILE [--kid KID] --issuer URL --audience AUD --subject ID [--subject-format opaque|email|iss_sub] " +
			"(--score N [--valid-for DURATION] | --event TYPE [--payload JSON]) [--jti ID] [--dry-run]",
			summary: "sign a Security Event Token with a partner key and push it (test a partner integration)", run: federationSend},
	}}
}

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

func federationSend(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl federation send")
	var keyFile, kid, issuer, audience, subject, format, score, event, payload, jti string
	var validFor time.Duration
	var dryRun bool
	fs.StringVar(&keyFile, "key", "", "the partner's private key `FILE`: PEM (openssl genpkey) or JWK (required)")
	fs.StringVar(&kid, "kid", "", "key id in the JWS header (default: the JWK's kid)")
	fs.StringVar(&issuer, "issuer", "", "the SET's iss: the partner's registered issuer (required)")
	fs.StringVar(&audience, "audience", "", "the SET's aud: the partner's registered audience (required)")
	fs.StringVar(&subject, "subject", "", "the principal the event is about (required)")
	fs.StringVar(&format, "subject-format", "opaque", "sub_id format: opaque, email or iss_sub (sub under --issuer)")
	fs.StringVar(&score, "score", "", "send a trust-assessment event with this score (0-100)")
	fs.DurationVar(&validFor, "valid-for", 24*time.Hour, "how long a --score assessment is valid")
	fs.StringVar(&event, "event", "", "event `TYPE`: a URI or a short name such as session-revoked, account-disabled")
	fs.StringVar(&payload, "payload", "{}", "event payload `JSON` for --event")
	fs.StringVar(&jti, "jti", "", "the SET's jti (default: random)")
	fs.BoolVar(&dryRun, "dry-run", false, "print the signed SET instead of sending it")
	_, err := c.parseArgs(fs, args, federationCommand().subs[0].args, 0, "")
	if err != nil {
		return err
	}
	switch {
	case keyFile == "" || issuer == "" || audience == "" || subject == "":
		return usagef("--key, --issuer, --audience and --subject are required")
	case (score == "") == (event == ""):
		return usagef("give --score (a trust assessment) or --event, not both")
	}
	data, err := os.ReadFile(keyFile) // #nosec G304 -- a file the operator names
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	key, jwkKid, err := federation.ParseSigningKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	if kid == "" {
		kid = jwkKid
	}
	if kid == "" {
		return usagef("--kid is required with a PEM key: the kid the partner's key is registered under")
	}
	sub := map[string]any{"format": format}
	switch format {
	case "opaque":
		sub["id"] = subject
	case "email":
		sub["email"] = subject
	case "iss_sub":
		sub["iss"], sub["sub"] = issuer, subject
	default:
		return usagef("--subject-format must be opaque, email or iss_sub")
	}
	now := c.now()
	var body json.RawMessage
	if score != "" {
		event = federation.EventTrustAssessment
		body, _ = json.Marshal(map[string]any{"score": json.Number(score), "validUntil": now.Add(validFor).Unix()})
	} else {
		event = eventURI(event)
		body = json.RawMessage(payload)
		if !json.Valid(body) || !strings.HasPrefix(strings.TrimSpace(payload), "{") {
			return usagef("--payload must be a JSON object")
		}
	}
	if jti == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		jti = hex.EncodeToString(b[:])
	}
	claims := map[string]any{"iss": issuer, "aud": audience, "iat": now.Unix(), "jti": jti, "sub_id": sub,
		"events": map[string]json.RawMessage{event: body}}
	set, err := federation.Sign(key, kid, claims)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintln(c.stdout, set)
		return nil
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.PushSET(ctx, set)
	if err != nil {
		return err
	}
	out := map[string]any{"index": res.Index, "jti": jti, "event": event, "recorded": res.Index != 0}
	return c.emit(out, func(w io.Writer) {
		if res.Index == 0 {
			fmt.Fprintf(w, "Acknowledged (jti %s): the ledger does not act on %s; nothing recorded.\n", jti, event)
			return
		}
		fmt.Fprintf(w, "Accepted (jti %s) at index %d.\n", jti, res.Index)
	})
}
