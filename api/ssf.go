package api

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/outbound"
)

// The SSF transmitter's HTTP side (docs/federation.md, "trustledger as a
// transmitter"): the transmitter configuration metadata, the JWKS, and
// stream management (SSF 1.0 §7–§8). Streams are ledger state: every rule
// about them is fsm's; these handlers translate SSF's JSON to commands
// and back.

// TransmitterKeys is the part of a node that signs SETs: its own keys,
// never replicated (cluster.Node).
type TransmitterKeys interface {
	// TransmitterSigner returns the node's current key for alg (RS256 or
	// ES256) and its kid.
	TransmitterSigner(alg string) (crypto.Signer, string, error)
	// TransmitterPublicJWKS returns the node's public keys, current and
	// retired, as a JWKS.
	TransmitterPublicJWKS() []byte
}

// CredentialSealer seals the credentials ledger entries carry for calls to
// others (cluster.Node): an entry's bytes are served to auditors as
// written, so a credential goes in sealed, and only a voter opens it.
type CredentialSealer interface {
	SealCredential(plain string) (string, error)
	OpenCredential(sealed string) (string, error)
}

// sealCredential seals a credential for a command; a node that cannot
// answers 503.
func (s *Server) sealCredential(plain string) (string, error) {
	cs, ok := s.node.(CredentialSealer)
	if !ok {
		return "", newProblem(ProblemUnavailable, "", "this node cannot seal credentials")
	}
	sealed, err := cs.SealCredential(plain)
	if err != nil {
		return "", withCode(newProblem(ProblemUnavailable, "", "%v", err), "no_checkpoint_key")
	}
	return sealed, nil
}

// openCredential opens a credential from the ledger.
func (s *Server) openCredential(sealed string) (string, error) {
	cs, ok := s.node.(CredentialSealer)
	if !ok {
		return "", errors.New("this node cannot open credentials")
	}
	return cs.OpenCredential(sealed)
}

// SSF endpoints, relative to the issuer.
const (
	ssfWellKnown     = "/.well-known/ssf-configuration"
	ssfJWKSPath      = "/v1/ssf/jwks"
	ssfStreamsPath   = "/v1/ssf/streams"
	ssfStatusPath    = "/v1/ssf/status"
	ssfAddPath       = "/v1/ssf/subjects/add"
	ssfRemovePath    = "/v1/ssf/subjects/remove"
	ssfVerifyPath    = "/v1/ssf/verify"
	ssfPollPathStart = "/v1/ssf/poll/"
)

// issuer is the transmitter's issuer: the configured one, else this
// node's API address.
func (s *Server) issuer() string {
	if p := s.iss.Load(); p != nil {
		return *p
	}
	if n, ok := s.node.(interface{ APIAddr() string }); ok {
		return strings.TrimRight(n.APIAddr(), "/")
	}
	return ""
}

// SetIssuer sets the transmitter's issuer (SSFConfig.Issuer), for a server
// whose address is known only once it serves.
func (s *Server) SetIssuer(iss string) {
	iss = strings.TrimRight(iss, "/")
	s.iss.Store(&iss)
}

// ssfConfiguration is GET /.well-known/ssf-configuration: the transmitter
// configuration metadata (SSF 1.0 §7.1).
func (s *Server) ssfConfiguration(w http.ResponseWriter, r *http.Request) error {
	iss := s.issuer()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"spec_version":               federation.SpecVersion,
		"issuer":                     iss,
		"jwks_uri":                   iss + ssfJWKSPath,
		"delivery_methods_supported": []string{fsm.DeliveryPush, fsm.DeliveryPoll},
		"configuration_endpoint":     iss + ssfStreamsPath,
		"status_endpoint":            iss + ssfStatusPath,
		"add_subject_endpoint":       iss + ssfAddPath,
		"remove_subject_endpoint":    iss + ssfRemovePath,
		"verification_endpoint":      iss + ssfVerifyPath,
		"critical_subject_members":   []string{"format"},
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           "ALL",
	})
	return nil
}

// ssfJWKS is GET /v1/ssf/jwks: every node's published SET verification
// keys.
func (s *Server) ssfJWKS(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(s.ledger().TransmitterJWKS())
	return nil
}

// streamDeliveryInput is a stream's delivery member (SSF §8.1.1).
type streamDeliveryInput struct {
	Method              string `json:"method"`
	EndpointURL         string `json:"endpoint_url"`
	AuthorizationHeader string `json:"authorization_header"`
}

// streamInput is the body of stream creation, update and replacement. The
// transmitter-supplied members may be sent back as read (a receiver that
// replaces a stream with what it read): they are accepted and ignored.
type streamInput struct {
	StreamID                string               `json:"stream_id"`
	Delivery                *streamDeliveryInput `json:"delivery"`
	EventsRequested         *[]string            `json:"events_requested"`
	Description             *string              `json:"description"`
	MinVerificationInterval *int64               `json:"min_verification_interval"`

	Iss               json.RawMessage `json:"iss"`
	Aud               json.RawMessage `json:"aud"`
	EventsSupported   json.RawMessage `json:"events_supported"`
	EventsDelivered   json.RawMessage `json:"events_delivered"`
	InactivityTimeout json.RawMessage `json:"inactivity_timeout"`
}

// streamCommand makes the PutStream of op from the input; replace and
// create need the delivery. A poll stream's endpoint_url is the
// transmitter's: it may be sent back as read, nothing else.
func (s *Server) streamCommand(in *streamInput, op, id string) (*fsm.PutStream, error) {
	var errs fieldErrors
	c := &fsm.PutStream{StreamID: id, Op: op}
	if in.Delivery != nil {
		c.Set |= fsm.StreamSetDelivery
		c.Method = errs.oneOf("delivery.method", in.Delivery.Method, true, []string{fsm.DeliveryPush, fsm.DeliveryPoll})
		switch c.Method {
		case fsm.DeliveryPush:
			if in.Delivery.EndpointURL == "" {
				errs.required("delivery.endpoint_url")
			} else if _, err := s.outboundPolicy().CheckURL(in.Delivery.EndpointURL); err != nil {
				errs.invalid("delivery.endpoint_url", "%v", err)
			}
			c.Endpoint = in.Delivery.EndpointURL
			c.AuthHeader = errs.text("delivery.authorization_header", in.Delivery.AuthorizationHeader, false, 4*fsm.MaxTextLen)
			if strings.ContainsAny(c.AuthHeader, "\r\n\x00") {
				errs.invalid("delivery.authorization_header", "must be one header value, without line breaks")
			}
		case fsm.DeliveryPoll:
			if (in.Delivery.EndpointURL != "" && in.Delivery.EndpointURL != s.issuer()+ssfPollPathStart+id) || in.Delivery.AuthorizationHeader != "" {
				errs.invalid("delivery.endpoint_url", "poll delivery: the transmitter supplies endpoint_url; send neither endpoint_url nor authorization_header")
			}
		}
	} else if op != "update" {
		errs.required("delivery")
	}
	if in.EventsRequested != nil {
		c.Set |= fsm.StreamSetRequested
		c.Requested = append([]string{}, *in.EventsRequested...)
		if len(c.Requested) > 64 {
			errs.invalid("events_requested", "at most 64 event types")
		}
	}
	if in.Description != nil {
		c.Set |= fsm.StreamSetDescription
		c.Description = errs.text("description", *in.Description, false, fsm.MaxTextLen)
	}
	if in.MinVerificationInterval != nil {
		c.Set |= fsm.StreamSetMinVerify
		if v := *in.MinVerificationInterval; v < 0 || v > 7*24*3600 {
			errs.invalid("min_verification_interval", "must be within [0, 604800] seconds")
		} else {
			c.MinVerify = v * 1000
		}
	}
	return c, errs.err()
}

func newStreamID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "ssf-" + hex.EncodeToString(b)
}

// createStream is POST /v1/ssf/streams (SSF §8.1.1.1): 201 with the
// stream's configuration.
func (s *Server) createStream(w http.ResponseWriter, r *http.Request) error {
	var in streamInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.StreamID != "" {
		return withCode(newProblem(ProblemInvalidField, "stream_id", "stream_id is transmitter-supplied: leave it out when creating a stream"), "invalid")
	}
	cmd, err := s.streamCommand(&in, "create", newStreamID())
	if err != nil {
		return err
	}
	return s.putStream(w, r, cmd, http.StatusCreated)
}

// putStream writes a stream's configuration, its credential sealed, and
// answers with the stream as it is then.
func (s *Server) putStream(w http.ResponseWriter, r *http.Request, cmd *fsm.PutStream, status int) error {
	var err error
	if cmd.AuthHeader, err = s.sealCredential(cmd.AuthHeader); err != nil {
		return err
	}
	if _, err := s.proposeChecked(r, cmd); err != nil {
		return err
	}
	if cmd.Op == "create" {
		// The receiver fetches the keys next: they are there before it does.
		if err := s.tx.publishKeys(r.Context()); err != nil {
			s.log.Warn("ssf: could not publish this node's SET keys", "error", err)
		}
	}
	return s.writeStream(w, status, cmd.StreamID)
}

// updateStream is PATCH (update: the members given) and PUT (replace: every
// member) of /v1/ssf/streams.
func (s *Server) updateStream(w http.ResponseWriter, r *http.Request) error {
	in, id, err := decodeStreamBody[streamInput](s, w, r)
	if err != nil {
		return err
	}
	op := "update"
	if r.Method == http.MethodPut {
		op = "replace"
	}
	cmd, err := s.streamCommand(in, op, id)
	if err != nil {
		return err
	}
	return s.putStream(w, r, cmd, http.StatusOK)
}

// streamBody is a request body that names a stream.
type streamBody interface{ streamID() string }

func (in *streamInput) streamID() string  { return in.StreamID }
func (in *statusInput) streamID() string  { return in.StreamID }
func (in *subjectInput) streamID() string { return in.StreamID }
func (in *verifyInput) streamID() string  { return in.StreamID }

// decodeStreamBody decodes a body that names a stream and checks the
// stream id.
func decodeStreamBody[T any, P interface {
	*T
	streamBody
}](s *Server, w http.ResponseWriter, r *http.Request) (P, string, error) {
	in := P(new(T))
	if err := s.decodeBody(w, r, in); err != nil {
		return nil, "", err
	}
	id, err := streamIDOf(in.streamID())
	return in, id, err
}

// streamIDOf checks a stream id a receiver sent.
func streamIDOf(id string) (string, error) {
	if id == "" {
		return "", withCode(newProblem(ProblemInvalidField, "stream_id", "stream_id is required"), "required")
	}
	if !fsm.ValidID(id) {
		return "", withCode(newProblem(ProblemInvalidField, "stream_id", "%q is not a stream id", clipText(id)), "invalid")
	}
	return id, nil
}

func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// ownedStream returns the stream id names when the request's token may see
// it: its creator, or an admin. Another receiver's stream is not found.
func (s *Server) ownedStream(r *http.Request, id string) (fsm.StreamView, error) {
	v, ok := s.ledger().Stream(id)
	tok := requestInfoFrom(r.Context()).token
	if !ok || (v.Owner != tok.ID && tok.Role != fsm.RoleAdmin) {
		return fsm.StreamView{}, withCode(newProblem(ProblemNotFound, "stream_id", "no stream %q", clipText(id)), "not_found")
	}
	return v, nil
}

// getStreams is GET /v1/ssf/streams: one stream with ?stream_id=, else
// every stream of the token (an admin: every stream).
func (s *Server) getStreams(w http.ResponseWriter, r *http.Request) error {
	if id := r.URL.Query().Get("stream_id"); id != "" || r.URL.Query().Has("stream_id") {
		id, err := streamIDOf(id)
		if err != nil {
			return err
		}
		v, err := s.ownedStream(r, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.streamJSON(v))
		return nil
	}
	tok := requestInfoFrom(r.Context()).token
	owner := tok.ID
	if tok.Role == fsm.RoleAdmin {
		owner = ""
	}
	out := []map[string]any{}
	for _, v := range s.ledger().Streams(owner) {
		out = append(out, s.streamJSON(v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteStream is DELETE /v1/ssf/streams?stream_id=: 204.
func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) error {
	id, err := streamIDOf(r.URL.Query().Get("stream_id"))
	if err != nil {
		return err
	}
	if _, err := s.proposeChecked(r, &fsm.DeleteStream{StreamID: id}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) writeStream(w http.ResponseWriter, status int, id string) error {
	v, ok := s.ledger().Stream(id)
	if !ok {
		return withCode(newProblem(ProblemNotFound, "stream_id", "no stream %q", id), "not_found")
	}
	writeJSON(w, status, s.streamJSON(v))
	return nil
}

// streamJSON is a stream's configuration as SSF §8.1.1 shows it. The
// authorization header is never shown.
func (s *Server) streamJSON(v fsm.StreamView) map[string]any {
	delivery := map[string]any{"method": v.Method}
	switch v.Method {
	case fsm.DeliveryPush:
		delivery["endpoint_url"] = v.Endpoint
	case fsm.DeliveryPoll:
		delivery["endpoint_url"] = s.issuer() + ssfPollPathStart + v.StreamID
	}
	out := map[string]any{
		"stream_id":                 v.StreamID,
		"iss":                       s.issuer(),
		"aud":                       v.Aud,
		"events_supported":          fsm.TransmitEvents,
		"events_requested":          v.Requested,
		"events_delivered":          v.Delivered,
		"delivery":                  delivery,
		"min_verification_interval": v.MinVerify / 1000,
	}
	if v.Description != "" {
		out["description"] = v.Description
	}
	return out
}

// statusInput is the body of POST /v1/ssf/status.
type statusInput struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
}

// streamStatus is GET /v1/ssf/status?stream_id= (SSF §8.1.2.1), with the
// delivery's state besides SSF's members.
func (s *Server) streamStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := streamIDOf(r.URL.Query().Get("stream_id"))
	if err != nil {
		return err
	}
	v, err := s.ownedStream(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusJSON(v))
	return nil
}

func statusJSON(v fsm.StreamView) map[string]any {
	out := map[string]any{"stream_id": v.StreamID, "status": v.Status}
	if v.Reason != "" {
		out["reason"] = v.Reason
	}
	d := map[string]any{"pending": v.Pending, "delivered": v.DeliveredCount, "lost": v.Lost, "failures": v.Failures}
	if v.LastError != "" {
		d["lastError"], d["lastErrorAt"] = v.LastError, fsm.FormatTime(v.ErrorAt)
	}
	if v.LastDeliveryAt != 0 {
		d["lastDeliveryAt"] = fsm.FormatTime(v.LastDeliveryAt)
	}
	out["delivery"] = d
	return out
}

// setStreamStatus is POST /v1/ssf/status (SSF §8.1.2.2): 200 with the
// status.
func (s *Server) setStreamStatus(w http.ResponseWriter, r *http.Request) error {
	in, id, err := decodeStreamBody[statusInput](s, w, r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	st := errs.oneOf("status", in.Status, true, []string{fsm.StreamEnabled, fsm.StreamPaused, fsm.StreamDisabled})
	reason := errs.text("reason", in.Reason, false, fsm.MaxTextLen)
	if err := errs.err(); err != nil {
		return err
	}
	if _, err := s.proposeChecked(r, &fsm.SetStreamStatus{StreamID: id, Status: st, Reason: reason}); err != nil {
		return err
	}
	v, err := s.ownedStream(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, statusJSON(v))
	return nil
}

// subjectInput is the body of the add and remove subject endpoints.
type subjectInput struct {
	StreamID string          `json:"stream_id"`
	Subject  json.RawMessage `json:"subject"`
	Verified *bool           `json:"verified"`
}

// addSubject is POST /v1/ssf/subjects/add (SSF §8.1.3.2): 200.
func (s *Server) addSubject(w http.ResponseWriter, r *http.Request) error {
	return s.streamSubject(w, r, false)
}

// removeSubject is POST /v1/ssf/subjects/remove (SSF §8.1.3.3): 204.
func (s *Server) removeSubject(w http.ResponseWriter, r *http.Request) error {
	return s.streamSubject(w, r, true)
}

func (s *Server) streamSubject(w http.ResponseWriter, r *http.Request, remove bool) error {
	in, id, err := decodeStreamBody[subjectInput](s, w, r)
	if err != nil {
		return err
	}
	if len(in.Subject) == 0 {
		return withCode(newProblem(ProblemInvalidField, "subject", "subject is required: a subject identifier (RFC 9493)"), "required")
	}
	sub, err := federation.ParseSubject(in.Subject)
	if err != nil {
		return withCode(newProblem(ProblemInvalidField, "subject", "subject: %v", err), "invalid")
	}
	pid, err := sub.PrincipalID(s.issuer())
	if err != nil {
		return withCode(newProblem(ProblemInvalidField, "subject", "subject: %v", err), "invalid")
	}
	if _, err := s.proposeChecked(r, &fsm.StreamSubject{StreamID: id, PrincipalID: pid, Remove: remove}); err != nil {
		return err
	}
	if remove {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// verifyInput is the body of POST /v1/ssf/verify.
type verifyInput struct {
	StreamID string `json:"stream_id"`
	State    string `json:"state"`
}

// verifyStream is POST /v1/ssf/verify (SSF §8.1.4.2): 204, and the
// verification event goes out to the stream, requested or not.
func (s *Server) verifyStream(w http.ResponseWriter, r *http.Request) error {
	in, id, err := decodeStreamBody[verifyInput](s, w, r)
	if err != nil {
		return err
	}
	var errs fieldErrors
	state := errs.text("state", in.State, false, fsm.MaxTextLen)
	if err := errs.err(); err != nil {
		return err
	}
	if _, err := s.proposeChecked(r, &fsm.VerifyStream{StreamID: id, State: state}); err != nil {
		return err
	}
	s.wakeTransmitter()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// outboundPolicy is the policy of calls to receivers and partners.
func (s *Server) outboundPolicy() outbound.Policy {
	return outbound.Policy{AllowInsecure: s.cfg.SSF.AllowInsecureHTTP}
}

// rotateTransmitterKeys is POST /v1/ssf/keys/rotate (operator), answered
// by the leader: it makes the leader a new SET signing key pair, keeps the
// pair before as retired (still published, so SETs signed with it verify),
// drops the one retired before, and publishes the new public keys (once a
// stream exists) before any SET is signed with them.
func (s *Server) rotateTransmitterKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireLeader(); err != nil {
		return err
	}
	keys, ok := s.transmitterKeys().(interface{ RotateTransmitterKeys() error })
	if !ok {
		return newProblem(ProblemUnavailable, "", "this node has no SET signing keys")
	}
	if err := keys.RotateTransmitterKeys(); err != nil {
		return err
	}
	if s.ledger().StreamCount() > 0 { // keys are published once there is a stream to sign for
		if err := s.tx.publishKeys(r.Context()); err != nil {
			return err
		}
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(s.transmitterKeys().TransmitterPublicJWKS(), &jwks)
	writeJSON(w, http.StatusOK, map[string]any{"nodeId": s.node.NodeID(), "keys": jwks.Keys})
	return nil
}
