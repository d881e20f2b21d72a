package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/outbound"
)

// A partner registered from its SSF transmitter's configuration
// (docs/federation.md, "Registering a partner from its transmitter"): the
// node fetches the transmitter's metadata and keys, mints the partner
// token the transmitter will push with, creates the stream at the
// transmitter's configuration endpoint, and records the partner with the
// issuer, audience and keys the transmitter gave. Nothing is copied by
// hand.

// partnerSSFInput is the ssf member of PUT /v1/federation/partners/{id}.
type partnerSSFInput struct {
	ConfigurationURL string `json:"configurationUrl"`
	Token            string `json:"token"`
	Delivery         string `json:"delivery"`
}

// transmitterMetadata is what the node reads of a transmitter's
// /.well-known/ssf-configuration (SSF 1.0 §7.1).
type transmitterMetadata struct {
	SpecVersion          string   `json:"spec_version"`
	Issuer               string   `json:"issuer"`
	JWKSURI              string   `json:"jwks_uri"`
	DeliveryMethods      []string `json:"delivery_methods_supported"`
	ConfigurationURL     string   `json:"configuration_endpoint"`
	VerificationEndpoint string   `json:"verification_endpoint"`
}

// wellKnownURL is where SSF 1.0 §7.2 puts the metadata of issuer: the
// well-known path inserted between the host and the issuer's path.
func wellKnownURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", errors.New("the issuer is not a URL")
	}
	return u.Scheme + "://" + u.Host + ssfWellKnown + strings.TrimRight(u.Path, "/"), nil
}

// registerSSFPartner is PUT /v1/federation/partners/{id} with an ssf
// member.
func (s *Server) registerSSFPartner(w http.ResponseWriter, r *http.Request, id string, in *partnerInput) error {
	base, cfgURL, token, delivery, err := s.ssfRegistration(id, in)
	if err != nil {
		return err
	}
	if err := s.requireLeader(); err != nil {
		return err
	}
	old, existed := s.ledger().Partner(id)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if existed && old.SSF != nil && old.SSF.ConfigurationURL == cfgURL && old.SSF.Delivery == delivery {
		return s.reregisterSSFPartner(ctx, w, r, base, old, token)
	}
	meta, err := s.fetchTransmitter(ctx, cfgURL)
	if err != nil {
		return err
	}
	reg, err := s.createPartnerStream(ctx, id, meta, token, delivery)
	if err != nil {
		return err
	}
	undo := func() { s.deletePartnerStream(context.WithoutCancel(ctx), reg.ssf, meta.ConfigurationURL) }
	if meta.VerificationEndpoint != "" {
		state := make([]byte, 12)
		_, _ = rand.Read(state)
		reg.ssf.VerifyState = hex.EncodeToString(state)
	}
	res, err := s.recordSSFPartner(ctx, r, base, meta, reg)
	if err != nil {
		undo()
		return err
	}
	if meta.VerificationEndpoint != "" {
		go s.requestVerification(context.WithoutCancel(ctx), meta.VerificationEndpoint, reg.ssf)
	}
	if existed && old.SSF != nil {
		// Registered from another transmitter or with another delivery
		// before: that stream and its token go.
		s.forgetSSFPartner(r, old.SSF)
	}
	v, _ := s.ledger().Partner(id)
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"index": res.Index, "partner": v})
	return nil
}

// ssfRegistration checks a registration from a transmitter and returns the
// partner command without what the transmitter gives, and the input's
// configuration URL, token and delivery.
func (s *Server) ssfRegistration(id string, in *partnerInput) (base *fsm.UpsertPartner, cfgURL, token, delivery string, err error) {
	var errs fieldErrors
	if in.Issuer != "" || in.Audience != "" || in.JWKS.set() {
		errs.invalid("ssf", "issuer, audience and jwks come from the transmitter: leave them out with ssf")
	}
	cfgURL = in.SSF.ConfigurationURL
	if cfgURL == "" {
		errs.required("ssf.configurationUrl")
	} else if _, err := s.outboundPolicy().CheckURL(cfgURL); err != nil {
		errs.invalid("ssf.configurationUrl", "%v", err)
	}
	token = errs.text("ssf.token", in.SSF.Token, true, 4*fsm.MaxTextLen)
	if strings.ContainsAny(token, " \r\n\x00") {
		errs.invalid("ssf.token", "must be a bearer token: no spaces or line breaks")
	}
	delivery = in.SSF.Delivery
	if delivery == "" {
		delivery = "push"
	}
	errs.oneOf("ssf.delivery", delivery, true, []string{"push", "poll"})
	if base, err = in.command(id, false); err != nil {
		return nil, "", "", "", err
	}
	return base, cfgURL, token, delivery, errs.err()
}

// reregisterSSFPartner registers a partner again on its stream: weights,
// limits, aliases and the token change, the stream and its keys stay —
// once the token is shown to read the stream at the transmitter.
func (s *Server) reregisterSSFPartner(ctx context.Context, w http.ResponseWriter, r *http.Request, base *fsm.UpsertPartner,
	old fsm.PartnerView, token string) error {
	meta, err := s.fetchTransmitter(ctx, old.SSF.ConfigurationURL)
	if err != nil {
		return err
	}
	var stream map[string]any
	if err := s.tx.client.GetJSON(ctx, meta.ConfigurationURL+"?stream_id="+url.QueryEscape(old.SSF.StreamID), token, &stream); err != nil {
		return transmitterFailure("ssf.token", "the token does not read the partner's stream %s at the transmitter: %v", old.SSF.StreamID, err)
	}
	base.Issuer, base.Audience, base.JWKS = old.Issuer, old.Audience, old.JWKS
	base.SSF = partnerSSFOf(old.SSF)
	if base.SSF.Auth, err = s.sealCredential("Bearer " + token); err != nil {
		return err
	}
	return upsert(s, w, r, base, "partner", func() (fsm.PartnerView, bool) { return s.ledger().Partner(base.PartnerID) })
}

// recordSSFPartner fetches the transmitter's keys (after the stream: a
// transmitter may publish them once it has a stream to sign for) and
// records the partner, and the token minted for its pushes.
func (s *Server) recordSSFPartner(ctx context.Context, r *http.Request, base *fsm.UpsertPartner, meta *transmitterMetadata,
	reg *partnerStream) (*fsm.Result, error) {
	jwks, err := s.fetchJWKS(ctx, meta.JWKSURI)
	if err != nil {
		return nil, err
	}
	base.Issuer, base.JWKS, base.Audience, base.SSF = meta.Issuer, jwks, reg.aud, reg.ssf
	if base.SSF.Auth, err = s.sealCredential(reg.ssf.Auth); err != nil {
		return nil, err
	}
	if err := s.checkWrite(r, base); err != nil {
		return nil, err
	}
	res, err := s.propose(r, base)
	if err == nil && reg.tokenHash != nil {
		_, err = s.propose(r, &fsm.CreateToken{TokenID: reg.ssf.TokenID, Hash: reg.tokenHash, Role: fsm.RolePartner,
			PartnerID: base.PartnerID, Description: "pushes of SSF transmitter " + clipText(meta.Issuer)})
	}
	return res, err
}

func partnerSSFOf(v *fsm.PartnerSSFView) fsm.PartnerSSF {
	return fsm.PartnerSSF{ConfigURL: v.ConfigurationURL, JWKSURI: v.JWKSURI, StreamID: v.StreamID, Delivery: v.Delivery,
		PollURL: v.PollURL, Auth: v.Auth, TokenID: v.TokenID, VerifyState: v.VerifyState}
}

// transmitterFailure is the problem of a transmitter that could not be
// used: 502 is not ours to give, so 422 naming the field and the cause.
func transmitterFailure(field, format string, a ...any) error {
	return withCode(newProblem(ProblemRejected, field, format, a...), "transmitter")
}

// fetchTransmitter reads a transmitter's metadata, checking that
// the metadata is where its issuer says (SSF 1.0 §7.2) and that its
// endpoints pass the outbound policy.
func (s *Server) fetchTransmitter(ctx context.Context, cfgURL string) (*transmitterMetadata, error) {
	var meta transmitterMetadata
	if err := s.tx.client.GetJSON(ctx, cfgURL, "", &meta); err != nil {
		return nil, transmitterFailure("ssf.configurationUrl", "could not read the transmitter's configuration: %v", err)
	}
	want, err := wellKnownURL(meta.Issuer)
	switch {
	case meta.Issuer == "" || err != nil:
		return nil, transmitterFailure("ssf.configurationUrl", "the transmitter's configuration names no issuer URL")
	case want != strings.TrimRight(cfgURL, "/"):
		return nil, transmitterFailure("ssf.configurationUrl", "the configuration of issuer %q is at %s, not %s (SSF 1.0 §7.2)",
			clipText(meta.Issuer), clipText(want), clipText(cfgURL))
	}
	for _, u := range []struct{ name, v string }{{"jwks_uri", meta.JWKSURI}, {"configuration_endpoint", meta.ConfigurationURL},
		{"verification_endpoint", meta.VerificationEndpoint}} {
		if u.v == "" && u.name == "verification_endpoint" {
			continue
		}
		if err := s.transmitterURL(meta.Issuer, u.v); err != nil {
			return nil, transmitterFailure("ssf.configurationUrl", "the transmitter's %s: %v", u.name, err)
		}
	}
	return &meta, nil
}

// transmitterURL checks a URL a transmitter gives: the outbound policy,
// and the issuer's own origin (scheme, host and port), so that a
// transmitter cannot have the node call another host — a service of the
// node's own network, say — with the credential it was given.
func (s *Server) transmitterURL(issuer, raw string) error {
	u, err := s.outboundPolicy().CheckURL(raw)
	if err != nil {
		return err
	}
	iss, err := url.Parse(issuer)
	if err != nil || !strings.EqualFold(iss.Scheme, u.Scheme) || !strings.EqualFold(iss.Host, u.Host) {
		return fmt.Errorf("%s is not on the issuer's origin %s://%s", clipText(raw), iss.Scheme, iss.Host)
	}
	return nil
}

// fetchJWKS reads a transmitter's keys and keeps the public keys of the
// accepted types, nothing else of them.
func (s *Server) fetchJWKS(ctx context.Context, uri string) ([]byte, error) {
	var raw json.RawMessage
	if err := s.tx.client.GetJSON(ctx, uri, "", &raw); err != nil {
		return nil, transmitterFailure("ssf.configurationUrl", "could not read the transmitter's keys: %v", err)
	}
	jwks, err := federation.PublicKeySet(raw)
	if err != nil {
		return nil, transmitterFailure("ssf.configurationUrl", "the transmitter's keys: %v", err)
	}
	return jwks, nil
}

// partnerStream is a stream created at a transmitter.
type partnerStream struct {
	aud       string
	ssf       fsm.PartnerSSF
	tokenHash []byte // the minted partner token's, push only
}

// createPartnerStream creates the stream at the transmitter: push to this
// cluster's SET endpoint with a partner token minted for it, or poll.
func (s *Server) createPartnerStream(ctx context.Context, id string, meta *transmitterMetadata, token, delivery string) (*partnerStream, error) {
	method := fsm.DeliveryPush
	if delivery == "poll" {
		method = fsm.DeliveryPoll
	}
	if !slices.Contains(meta.DeliveryMethods, method) {
		return nil, transmitterFailure("ssf.delivery", "the transmitter does not offer %s delivery", delivery)
	}
	cfgURL, _ := wellKnownURL(meta.Issuer)
	reg := &partnerStream{ssf: fsm.PartnerSSF{ConfigURL: cfgURL, JWKSURI: meta.JWKSURI, Delivery: delivery, Auth: "Bearer " + token}}
	body := map[string]any{"events_requested": federation.EventTypes(),
		"description": "trustledger partner " + id}
	d := map[string]any{"method": method}
	if method == fsm.DeliveryPush {
		secret, hash, err := newSecret()
		if err != nil {
			return nil, err
		}
		tokenID, err := newTokenID()
		if err != nil {
			return nil, err
		}
		reg.tokenHash, reg.ssf.TokenID = hash, tokenID
		d["endpoint_url"] = s.issuer() + "/v1/federation/events"
		d["authorization_header"] = "Bearer " + secret
	}
	body["delivery"] = d
	var created struct {
		StreamID string          `json:"stream_id"`
		Iss      string          `json:"iss"`
		Aud      json.RawMessage `json:"aud"`
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	status, err := s.tx.client.PostJSON(ctx, meta.ConfigurationURL, token, body, &created)
	if err != nil {
		return nil, transmitterFailure("ssf.token", "the transmitter refused the stream: %v", err)
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return nil, transmitterFailure("ssf.token", "the transmitter answered %d to the stream's creation", status)
	}
	reg.ssf.StreamID = created.StreamID
	aud := firstAudience(created.Aud)
	switch {
	case created.StreamID == "" || aud == "":
		s.deletePartnerStream(ctx, reg.ssf, meta.ConfigurationURL) // nothing when there is no stream_id
		return nil, transmitterFailure("ssf.configurationUrl", "the transmitter's stream has no stream_id or aud")
	case created.Iss != "" && created.Iss != meta.Issuer:
		s.deletePartnerStream(ctx, reg.ssf, meta.ConfigurationURL)
		return nil, transmitterFailure("ssf.configurationUrl", "the stream's iss %q is not the transmitter's issuer", clipText(created.Iss))
	}
	reg.aud = aud
	if method == fsm.DeliveryPoll {
		if err := s.transmitterURL(meta.Issuer, created.Delivery.EndpointURL); err != nil {
			s.deletePartnerStream(ctx, reg.ssf, meta.ConfigurationURL)
			return nil, transmitterFailure("ssf.delivery", "the transmitter's poll endpoint: %v", err)
		}
		reg.ssf.PollURL = created.Delivery.EndpointURL
	}
	return reg, nil
}

// firstAudience reads aud, a string or an array of strings.
func firstAudience(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many[0]
	}
	return ""
}

// deletePartnerStream deletes a partner's stream at its transmitter, best
// effort: a failure is logged.
func (s *Server) deletePartnerStream(ctx context.Context, p fsm.PartnerSSF, configurationEndpoint string) {
	if p.StreamID == "" || configurationEndpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, configurationEndpoint+"?stream_id="+url.QueryEscape(p.StreamID), nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", p.Auth)
	if resp, err := s.tx.client.Do(req); err != nil || resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		s.log.Warn("ssf: could not delete a partner's stream at its transmitter", "stream", p.StreamID, "error", errOrStatus(err, resp))
	}
}

func errOrStatus(err error, resp *outbound.Response) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %d", resp.StatusCode)
}

// requestVerification asks the transmitter for a verification event with
// the partner's VerifyState; the event, when it comes back with it, is
// recorded on the partner.
func (s *Server) requestVerification(ctx context.Context, endpoint string, p fsm.PartnerSSF) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	token := strings.TrimPrefix(p.Auth, "Bearer ")
	if _, err := s.tx.client.PostJSON(ctx, endpoint, token, map[string]any{"stream_id": p.StreamID, "state": p.VerifyState}, nil); err != nil {
		s.log.Info("ssf: the transmitter did not take the verification request", "stream", p.StreamID, "error", err)
	}
}

// forgetSSFPartner, after a partner registered from its transmitter is
// removed, revokes the token minted for its pushes and deletes its stream
// at the transmitter (best effort: the stream's pushes are refused from
// now on anyway).
func (s *Server) forgetSSFPartner(r *http.Request, p *fsm.PartnerSSFView) {
	if p.TokenID != "" {
		if t, ok := s.ledger().Token(p.TokenID); ok && !t.Revoked {
			if _, err := s.propose(r, &fsm.RevokeToken{TokenID: p.TokenID}); err != nil {
				s.log.Warn("ssf: could not revoke a removed partner's token", "token", p.TokenID, "error", err)
			}
		}
	}
	reg := partnerSSFOf(p)
	auth, err := s.openCredential(reg.Auth)
	if err != nil {
		s.log.Warn("ssf: could not open a removed partner's transmitter credential", "stream", reg.StreamID, "error", err)
		return
	}
	reg.Auth = auth
	go func() {
		ctx, cancel := context.WithTimeout(s.done, 30*time.Second)
		defer cancel()
		var meta transmitterMetadata
		if err := s.tx.client.GetJSON(ctx, reg.ConfigURL, "", &meta); err != nil {
			s.log.Warn("ssf: could not reach a removed partner's transmitter to delete its stream", "stream", reg.StreamID, "error", err)
			return
		}
		wk, _ := wellKnownURL(meta.Issuer)
		if err := s.transmitterURL(meta.Issuer, meta.ConfigurationURL); err == nil && wk == reg.ConfigURL {
			s.deletePartnerStream(ctx, reg, meta.ConfigurationURL)
		}
	}()
}
