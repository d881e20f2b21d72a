package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// iatMargin keeps the verifier's iat window inside the ledger's, so a SET
// the API accepts is not refused at apply time for a clock difference.
const iatMargin = time.Minute

// pushSecurityEvent is POST /v1/federation/events: push delivery (RFC
// 8935) of one Security Event Token. Refusals of the SET are 400 with an
// RFC 8935 error object; general HTTP conditions (authentication, rate
// limit, not the leader) are problems, as on every route.
func (s *Server) pushSecurityEvent(w http.ResponseWriter, r *http.Request) error {
	tok := requestInfoFrom(r.Context()).token
	if tok.Role != "partner" || tok.PartnerID == "" {
		s.refuseSET(w, r, "", &federation.Error{Code: federation.ErrAccessDenied,
			Description: "SETs are delivered with a partner token bound to the SET's issuer"})
		return nil
	}
	if err := s.requireLeader(); err != nil {
		return err
	}
	partner, ok := s.ledger().Partner(tok.PartnerID)
	switch {
	case !ok:
		s.refuseSET(w, r, tok.PartnerID, &federation.Error{Code: federation.ErrAccessDenied,
			Description: "partner " + strconv.Quote(tok.PartnerID) + " of this token is not registered"})
		return nil
	case partner.Status == "suspended":
		s.refuseSET(w, r, tok.PartnerID, &federation.Error{Code: federation.ErrAccessDenied,
			Description: "partner " + strconv.Quote(tok.PartnerID) + " is suspended"})
		return nil
	}
	if err := s.limitSETs(partner); err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != federation.MediaType {
		s.refuseSET(w, r, partner.PartnerID, &federation.Error{Code: federation.ErrInvalidRequest,
			Description: "Content-Type must be " + federation.MediaType + " (RFC 8935 §2.1)"})
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, federation.MaxTokenBytes))
	if err != nil {
		desc := "the request body could not be read"
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			desc = "the SET exceeds " + strconv.Itoa(federation.MaxTokenBytes) + " bytes"
		}
		s.refuseSET(w, r, partner.PartnerID, &federation.Error{Code: federation.ErrInvalidRequest, Description: desc})
		return nil
	}
	set, cmd, err := s.verifySET(body, partner)
	if err != nil {
		s.failSET(w, r, partner.PartnerID, err)
		s.refreshKeysOn(err, partner)
		return nil
	}
	if se, err := set.StreamEvent(partner.PartnerID); err != nil || se != nil {
		s.answerStreamEvent(w, r, partner.PartnerID, se, err)
		return nil
	}
	if cmd == nil { // no event type we act on: acknowledged and ignored
		s.metrics.sets.WithLabelValues("ignored").Inc()
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	noteSubject(r, cmd.PrincipalID)
	if err := s.precheckSET(r, cmd); err != nil {
		s.failSET(w, r, partner.PartnerID, err)
		return nil
	}
	res, err := s.propose(r, cmd)
	if res != nil {
		// Committed: accepted, or refused by the ledger (a duplicate jti,
		// or a state change since the pre-check).
		err = setOutcome(res)
	}
	if err != nil {
		s.failSET(w, r, partner.PartnerID, err)
		return nil
	}
	w.Header().Set(HeaderIndex, strconv.FormatUint(res.Index, 10))
	s.metrics.sets.WithLabelValues("accepted").Inc()
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// limitSETs applies the partner's rate of SET deliveries on this node.
func (s *Server) limitSETs(partner fsm.PartnerView) error {
	ok, wait := s.setLimiter.Allow(partner.PartnerID, partner.RateLimit, s.cfg.Now())
	if ok {
		return nil
	}
	rate := partner.RateLimit
	if rate <= 0 {
		rate = federation.DefaultRateLimit
	}
	p := newProblem(ProblemRateLimited, "", "partner %q may deliver %d SETs per second to this node; retry after %s",
		partner.PartnerID, rate, wait.Round(time.Millisecond))
	p.retryAfter = max(1, int((wait+time.Second-1)/time.Second))
	s.metrics.rateLimited.WithLabelValues("partner_sets").Inc()
	return p
}

// answerStreamEvent records a pushed SSF verification or stream-updated
// event (err: the SET's refusal) and answers the push.
func (s *Server) answerStreamEvent(w http.ResponseWriter, r *http.Request, partnerID string, se *fsm.PartnerStreamEvent, err error) {
	if err == nil {
		err = s.recordStreamEvent(r, se)
	}
	if err != nil {
		s.failSET(w, r, partnerID, err)
		return
	}
	s.metrics.sets.WithLabelValues("accepted").Inc()
	w.WriteHeader(http.StatusAccepted)
}

// verifySET parses and verifies a SET delivered by partner and maps it to
// a ledger command (nil when no event in it acts on a principal).
func (s *Server) verifySET(body []byte, partner fsm.PartnerView) (*federation.SET, *fsm.FederatedEvent, error) {
	tok, err := federation.Parse(body)
	if err != nil {
		return nil, nil, err
	}
	if tok.Issuer != partner.Issuer {
		if other, ok := s.ledger().PartnerByIssuer(tok.Issuer); ok && other.PartnerID != partner.PartnerID {
			return nil, nil, &federation.Error{Code: federation.ErrAccessDenied, Description: "iss " + strconv.Quote(tok.Issuer) +
				" is another partner's issuer; this token delivers SETs of partner " + strconv.Quote(partner.PartnerID) + " only"}
		}
	}
	window := federation.Window{Now: s.cfg.Now(),
		MaxAge: time.Duration(s.ledger().Policy().DedupWindow)*time.Millisecond - iatMargin}
	set, err := s.setVerifier.Verify(tok, partner, window)
	if err != nil {
		return nil, nil, err
	}
	cmd, err := set.CommandFor(partner)
	return set, cmd, err
}

// recordStreamEvent records a partner's SSF verification or
// stream-updated event; a replayed jti is refused as any replay.
func (s *Server) recordStreamEvent(r *http.Request, c *fsm.PartnerStreamEvent) error {
	if err := s.checkWrite(r, c); err != nil {
		return setRefusal(err)
	}
	res, err := s.propose(r, c)
	if res != nil {
		err = setOutcome(res)
	}
	return err
}

// precheckSET refuses, without writing, a command the ledger would
// refuse (fsm.Ledger.Check: an unknown principal, an iat outside the
// ledger's window, an assessment already expired...) or answer as a
// duplicate (a replayed jti).
func (s *Server) precheckSET(r *http.Request, cmd *fsm.FederatedEvent) error {
	if err := s.checkWrite(r, cmd); err != nil {
		return setRefusal(err)
	}
	if s.ledger().FederatedEventSeen(cmd.PartnerID, cmd.EventID) {
		return jtiUsed()
	}
	return nil
}

// jtiUsed is the refusal of a replayed SET.
func jtiUsed() error {
	return &federation.Error{Code: federation.ErrInvalidRequest, Description: "jti already used"}
}

// setOutcome turns the ledger's result for a FederatedEvent into an RFC
// 8935 refusal, or nil when the event was accepted.
func setOutcome(res *fsm.Result) error {
	if res.Err != nil {
		return setRefusal(res.Err)
	}
	if len(res.Signals) == 1 && res.Signals[0].Status == fsm.StatusDuplicate {
		return jtiUsed()
	}
	return nil
}

// setRefusal turns the ledger's rejection of a FederatedEvent into an RFC
// 8935 refusal; other errors are returned as they are.
func setRefusal(err error) error {
	var rej *fsm.RejectError
	switch {
	case !errors.As(err, &rej):
		return err
	case rej.Code == "forbidden":
		return &federation.Error{Code: federation.ErrAccessDenied, Description: rej.Reason}
	case rej.Code == "not_found":
		return &federation.Error{Code: federation.ErrInvalidRequest, Description: "unknown subject: " + rej.Reason}
	}
	return &federation.Error{Code: federation.ErrInvalidRequest, Description: rej.Field + ": " + rej.Reason}
}

// failSET answers a refused SET with its RFC 8935 error, and anything
// else (not the leader, a timeout) with a problem.
func (s *Server) failSET(w http.ResponseWriter, r *http.Request, partnerID string, err error) {
	var e *federation.Error
	if errors.As(err, &e) {
		s.refuseSET(w, r, partnerID, e)
		return
	}
	s.fail(w, r, err)
}

// refuseSET writes an RFC 8935 §2.3 error response: 400 with
// {"err", "description"}.
func (s *Server) refuseSET(w http.ResponseWriter, r *http.Request, partnerID string, e *federation.Error) {
	s.log.Info("federation: SET refused", "partner", partnerID, "err", e.Code, "description", e.Description,
		"remote", r.RemoteAddr)
	s.metrics.refusedSET(e.Code)
	writeJSON(w, http.StatusBadRequest, e)
}
