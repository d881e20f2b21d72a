package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/outbound"
)

// SSFConfig configures the SSF transmitter (docs/federation.md,
// "trustledger as a transmitter").
type SSFConfig struct {
	// Issuer is the transmitter's issuer, the base URL receivers reach
	// the cluster at; the same on every node. Default: this node's API
	// address.
	Issuer string
	// AllowInsecureHTTP allows plain http:// endpoints off loopback.
	AllowInsecureHTTP bool
	// SigningAlg is the algorithm SETs are signed with: RS256 (default,
	// the CAEP Interoperability Profile's) or ES256.
	SigningAlg string
	// RetryMin and RetryMax bound the backoff of a failing push stream
	// (defaults 1s and 5m); PollWait bounds a long poll (default 30s);
	// Tick is how often the leader looks for events to push (default
	// 100ms).
	RetryMin, RetryMax, PollWait, Tick time.Duration
	// HTTP tunes the outbound client (timeouts, sizes, trusted roots).
	HTTP outbound.Options
}

func (c SSFConfig) withDefaults() SSFConfig {
	if c.SigningAlg == "" {
		c.SigningAlg = "RS256"
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.PollWait <= 0 {
		c.PollWait = 30 * time.Second
	}
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	return c
}

// pushBatch is how many events one push round sends before it records
// its progress.
const pushBatch = 64

// transmitter is the leader's delivery of push streams. Only the leader
// delivers; the streams' cursors are in the ledger, so a new leader goes
// on from where the old one's last recorded delivery left.
type transmitter struct {
	s      *Server
	client *outbound.Client
	wake   chan struct{}

	mu      sync.Mutex
	streams map[string]*pushState

	sent    *prometheus.CounterVec // SETs by outcome
	failing prometheus.Gauge
}

// pushState is one push stream's delivery on this node.
type pushState struct {
	running bool
	next    time.Time     // no attempt before
	backoff time.Duration // the next wait after a failure
	seen    uint64        // the outbox sequence its last round saw
}

func newTransmitter(s *Server) *transmitter {
	t := &transmitter{s: s, client: outbound.New(s.outboundPolicy(), s.cfg.SSF.HTTP), wake: make(chan struct{}, 1),
		streams: map[string]*pushState{}}
	t.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trustledger", Subsystem: "ssf", Name: "sets_sent_total",
		Help: "SETs this node sent to SSF receivers, by method (push, poll) and outcome: delivered, refused (the receiver refused the SET itself), failed (not delivered; retried)."},
		[]string{"method", "outcome"})
	t.failing = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "trustledger", Subsystem: "ssf", Name: "streams_failing",
		Help: "Push streams whose last delivery failed, as this node (the leader) sees them."})
	for _, m := range []string{"push", "poll"} {
		for _, o := range []string{"delivered", "refused", "failed"} {
			t.sent.WithLabelValues(m, o)
		}
	}
	_ = s.metrics.reg.Register(t.sent)
	_ = s.metrics.reg.Register(t.failing)
	return t
}

// wakeTransmitter has the delivery loop look at once.
func (s *Server) wakeTransmitter() {
	select {
	case s.tx.wake <- struct{}{}:
	default:
	}
}

// run delivers push streams while the server lives.
func (t *transmitter) run(ctx context.Context) {
	if t.s.node == nil { // a server built for its route table alone
		return
	}
	tick := time.NewTicker(t.s.cfg.SSF.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-t.wake:
		}
		if !t.s.node.IsLeader() || t.s.ledger().StreamCount() == 0 {
			t.failing.Set(0) // only the leader delivers, and says how it goes
			continue
		}
		if err := t.publishKeys(ctx); err != nil {
			t.s.log.Warn("ssf: could not publish this node's SET keys", "error", err)
			continue
		}
		t.round(ctx)
	}
}

// keys returns the node's signing keys, or nil when it has none.
func (s *Server) transmitterKeys() TransmitterKeys {
	k, _ := s.node.(TransmitterKeys)
	return k
}

// publishKeys makes sure the ledger lists this node's public SET keys
// before it signs: receivers find every key a SET may name at jwks_uri.
func (t *transmitter) publishKeys(ctx context.Context) error {
	keys := t.s.transmitterKeys()
	if keys == nil {
		return errors.New("this node has no SET signing keys")
	}
	var mine bytes.Buffer
	if err := json.Compact(&mine, keys.TransmitterPublicJWKS()); err != nil {
		return err
	}
	id := t.s.node.NodeID()
	if cur, ok := t.s.ledger().NodeKeys(id); ok && bytes.Equal(cur, mine.Bytes()) {
		return nil
	}
	cmd := &fsm.PublishKeys{NodeID: id, JWKS: mine.Bytes()}
	if t.s.cluster != nil {
		if m, err := t.s.cluster.Members(); err == nil {
			for _, mem := range m.Members {
				if mem.Suffrage != "" && mem.Suffrage != "none" {
					cmd.Members = append(cmd.Members, mem.ID)
				}
			}
		}
	}
	pctx, cancel := context.WithTimeout(ctx, t.s.cfg.ProposeTimeout)
	defer cancel()
	res, err := t.s.node.Propose(pctx, cmd, "node:"+id)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	return err
}

// round starts a delivery for each enabled push stream with something to
// send and no backoff to wait out.
func (t *transmitter) round(ctx context.Context) {
	l := t.s.ledger()
	seq := l.OutboxSequence()
	now := time.Now()
	failing := 0
	t.mu.Lock()
	defer t.mu.Unlock()
	live := map[string]bool{}
	for _, v := range l.StreamCursors() {
		if v.Method != fsm.DeliveryPush || v.Status != fsm.StreamEnabled {
			continue
		}
		id := v.StreamID
		live[id] = true
		st := t.streams[id]
		if st == nil {
			st = &pushState{backoff: t.s.cfg.SSF.RetryMin}
			t.streams[id] = st
		}
		if v.Failures > 0 {
			failing++
		}
		if st.running || now.Before(st.next) || v.Cursor >= seq || st.seen == seq {
			continue
		}
		st.running = true
		go t.deliver(ctx, id, seq)
	}
	for id, st := range t.streams {
		if !live[id] && !st.running {
			delete(t.streams, id)
		}
	}
	t.failing.Set(float64(failing))
}

// deliver sends a push stream's pending events in order, recording each
// round in the ledger, until nothing is left or a delivery fails.
func (t *transmitter) deliver(ctx context.Context, id string, seq uint64) {
	err := t.pushAll(ctx, id)
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[id]
	if st == nil {
		return
	}
	st.running = false
	if err != nil {
		st.next = time.Now().Add(st.backoff)
		st.backoff = min(2*st.backoff, t.s.cfg.SSF.RetryMax)
		return
	}
	st.seen, st.next, st.backoff = seq, time.Time{}, t.s.cfg.SSF.RetryMin
}

func (t *transmitter) pushAll(ctx context.Context, id string) error {
	l := t.s.ledger()
	for ctx.Err() == nil && t.s.node.IsLeader() {
		// The endpoint and its header, read together for each batch: an
		// endpoint never gets the header another was given with.
		cur, ok := l.StreamTarget(id)
		if !ok || cur.Status != fsm.StreamEnabled || cur.Method != fsm.DeliveryPush {
			return nil
		}
		auth, err := t.s.openCredential(cur.AuthHeader)
		if err != nil {
			return fmt.Errorf("the stream's authorization header: %w", err)
		}
		evs, through, more := l.PendingEvents(id, pushBatch)
		if len(evs) == 0 {
			if through > cur.Cursor+1023 {
				// Only events for other streams since: pass them, now and
				// then, so that the outbox can let them go.
				return t.record(ctx, &fsm.StreamDelivery{StreamID: id, Through: through})
			}
			return nil
		}
		report := &fsm.StreamDelivery{StreamID: id}
		var failure error
		for _, e := range evs {
			set, err := t.s.signSET(e, id, cur.Aud)
			if err == nil {
				err = t.push(ctx, cur.Endpoint, auth, set)
			}
			var refused *setRefused
			switch {
			case errors.As(err, &refused):
				// The receiver read the SET and refused it: sending it
				// again changes nothing. Counted, and passed.
				t.sent.WithLabelValues("push", "refused").Inc()
				report.Error = clipError(refused.Error())
			case err != nil:
				t.sent.WithLabelValues("push", "failed").Inc()
				failure = err
			default:
				t.sent.WithLabelValues("push", "delivered").Inc()
			}
			if failure != nil {
				break
			}
			report.Delivered++
			report.Through = e.Seq
		}
		if failure == nil {
			report.Through = through
		} else {
			report.Error = deliveryError(failure)
			t.s.log.Info("ssf: push delivery failed; retrying with backoff", "stream", id, "error", failure)
		}
		if err := t.record(ctx, report); err != nil {
			t.s.log.Warn("ssf: could not record a delivery", "stream", id, "error", err)
			return err
		}
		if failure != nil {
			return failure
		}
		if !more {
			return nil
		}
	}
	return nil
}

// deliveryError is what a stream's status says of a failed push: its
// class, not the details (addresses, certificate names) the receiver
// could learn the leader's network from; the log has them.
func deliveryError(err error) string {
	var re *receiverAnswer
	var nerr net.Error
	switch {
	case errors.As(err, &re):
		return clipError(re.Error())
	case errors.Is(err, outbound.ErrRedirect):
		return "the receiver redirected (redirects are not followed)"
	case errors.Is(err, outbound.ErrTooLarge):
		return "the receiver's answer is too large"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, outbound.ErrTimeout), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "TLS handshake failed"
	case errors.Is(err, outbound.ErrForbiddenAddress):
		return "the endpoint resolves to an address deliveries may not go to"
	case errors.Is(err, outbound.ErrNotLoopback):
		return "the endpoint does not resolve to an address it may be reached at"
	}
	return "could not connect to the receiver"
}

// clipError bounds an error for the ledger, on a UTF-8 boundary.
func clipError(s string) string {
	if len(s) <= 256 {
		return s
	}
	s = s[:256]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// receiverAnswer is a receiver's HTTP answer that is not a delivery.
type receiverAnswer struct {
	status      int
	code, descr string
}

func (e *receiverAnswer) Error() string {
	if e.code != "" {
		return fmt.Sprintf("receiver answered %d %s: %s", e.status, e.code, e.descr)
	}
	return fmt.Sprintf("receiver answered %d", e.status)
}

// record proposes a delivery report.
func (t *transmitter) record(ctx context.Context, c *fsm.StreamDelivery) error {
	pctx, cancel := context.WithTimeout(ctx, t.s.cfg.ProposeTimeout)
	defer cancel()
	res, err := t.s.node.Propose(pctx, c, "node:"+t.s.node.NodeID())
	if err == nil && res.Err != nil {
		err = res.Err
	}
	return err
}

// setRefused is a receiver's RFC 8935 refusal of one SET.
type setRefused struct{ code, description string }

func (e *setRefused) Error() string {
	return "the receiver refused the SET: " + e.code + ": " + e.description
}

// push delivers one SET (RFC 8935 §2): 202 is delivered; a 400 with an
// RFC 8935 error is the receiver's refusal of that SET (a replayed jti is
// one it already has: delivered), except invalid_key and
// authentication_failed, which a receiver that has not yet fetched a
// rotated key answers, and which are retried; anything else fails and is
// retried.
func (t *transmitter) push(ctx context.Context, endpoint, auth, set string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(set))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", federation.MediaType)
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusBadRequest:
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		if json.Unmarshal(resp.Body, &e) == nil && e.Err != "" {
			switch {
			case e.Err == federation.ErrInvalidKey || e.Err == federation.ErrAuthenticationFailed:
			case e.Err == federation.ErrInvalidRequest && strings.Contains(e.Description, "jti already used"):
				return nil
			default:
				return &setRefused{code: clipText(e.Err), description: clipText(e.Description)}
			}
			return &receiverAnswer{status: resp.StatusCode, code: clipText(e.Err), descr: clipText(e.Description)}
		}
	}
	return &receiverAnswer{status: resp.StatusCode}
}

// signSET signs outbox event e as a SET for stream streamID, audience
// aud, with this node's key.
func (s *Server) signSET(e fsm.OutEvent, streamID, aud string) (string, error) {
	keys := s.transmitterKeys()
	if keys == nil {
		return "", errors.New("this node has no SET signing keys")
	}
	signer, kid, err := keys.TransmitterSigner(s.cfg.SSF.SigningAlg)
	if err != nil {
		return "", err
	}
	ptype := ""
	if e.PrincipalID != "" {
		if rec, ok := s.ledger().PrincipalType(e.PrincipalID); ok {
			ptype = rec
		}
	}
	return federation.Sign(signer, kid, federation.SETClaims(e, s.issuer(), aud, streamID, ptype))
}

// pollInput is the body of a poll request (RFC 8936 §2.4).
type pollInput struct {
	Ack     []string `json:"ack"`
	SetErrs map[string]struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	} `json:"setErrs"`
	MaxEvents         *int `json:"maxEvents"`
	ReturnImmediately bool `json:"returnImmediately"`
}

// Poll limits: events per answer by default and at most; the long polls
// a token, and the node, hold waiting at once (more answer at once).
const (
	defaultPollEvents = 100
	maxPollEvents     = 1000
	maxPollsPerToken  = 4
	maxPollsPerNode   = 64
)

// pollStream is POST /v1/ssf/poll/{streamId} (RFC 8936): it records the
// acknowledgements and errors the receiver sends, then answers with the
// stream's next SETs, waiting up to PollWait for one unless
// returnImmediately.
func (s *Server) pollStream(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "streamId", "streamId")
	if err != nil {
		return err
	}
	var in pollInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	v, err := s.ownedStream(r, id)
	if err != nil {
		return err
	}
	if v.Method != fsm.DeliveryPoll {
		return withCode(newProblem(ProblemConflict, "streamId", "stream %q is delivered by push, not poll", id), "conflict")
	}
	limit := defaultPollEvents
	if in.MaxEvents != nil {
		if *in.MaxEvents < 0 || *in.MaxEvents > maxPollEvents {
			return withCode(newProblem(ProblemInvalidField, "maxEvents", "must be within [0, %d]", maxPollEvents), "invalid")
		}
		limit = *in.MaxEvents
	}
	if err := s.recordAcks(r, id, &in); err != nil {
		return err
	}
	sets := map[string]string{}
	more := false
	if limit > 0 {
		sets, more, err = s.pollEvents(r, id, limit, in.ReturnImmediately)
		if err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sets": sets, "moreAvailable": more})
	return nil
}

// recordAcks records a poll's acknowledgements and SET errors: both say
// the receiver has the SET.
func (s *Server) recordAcks(r *http.Request, id string, in *pollInput) error {
	if len(in.Ack)+len(in.SetErrs) > fsm.MaxPollAcks {
		return withCode(newProblem(ProblemInvalidField, "ack", "at most %d acknowledgements per poll", fsm.MaxPollAcks), "invalid")
	}
	c := &fsm.StreamDelivery{StreamID: id}
	first := "" // the smallest jti with an error: the one recorded
	add := func(field, jti string) error {
		seq, ok := strings.CutPrefix(jti, id+"-")
		n, err := strconv.ParseUint(seq, 10, 64)
		if !ok || err != nil || n == 0 {
			return withCode(newProblem(ProblemInvalidField, field, "%q is not a jti of stream %q", clipText(jti), id), "invalid")
		}
		c.Acks = append(c.Acks, n)
		return nil
	}
	for _, jti := range in.Ack {
		if err := add("ack", jti); err != nil {
			return err
		}
	}
	for jti, e := range in.SetErrs {
		if err := add("setErrs", jti); err != nil {
			return err
		}
		if first == "" || jti < first {
			first, c.Error = jti, clipError(e.Err+": "+e.Description)
		}
	}
	if len(c.Acks) == 0 {
		return nil
	}
	c.Delivered = uint64(len(c.Acks))
	if _, err := s.proposeChecked(r, c); err != nil {
		return err
	}
	s.tx.sent.WithLabelValues("poll", "delivered").Add(float64(len(in.Ack)))
	s.tx.sent.WithLabelValues("poll", "refused").Add(float64(len(in.SetErrs)))
	return nil
}

// pollEvents returns up to limit signed SETs of stream id, waiting for one
// unless now.
func (s *Server) pollEvents(r *http.Request, id string, limit int, now bool) (map[string]string, bool, error) {
	if !now {
		// A token holds at most a few waiting polls on a node; past them,
		// polls answer at once instead of holding a connection.
		release, refused := s.polls.acquire(requestInfoFrom(r.Context()).tokenID())
		if refused != nil {
			now = true
		} else {
			defer release()
		}
	}
	deadline := time.Now().Add(s.cfg.SSF.PollWait)
	seen := uint64(0)
	for first := true; ; first = false {
		// The outbox is scanned again only when it has something new.
		if seq := s.ledger().OutboxSequence(); first || seq != seen {
			seen = seq
			sets, more, done, err := s.pollScan(r, id, limit)
			if err != nil || done || len(sets) > 0 || now {
				return sets, more, err
			}
		}
		if !time.Now().Before(deadline) {
			return map[string]string{}, false, nil
		}
		select {
		case <-r.Context().Done():
			return map[string]string{}, false, nil
		case <-s.done.Done():
			return map[string]string{}, false, nil
		case <-time.After(s.cfg.SSF.Tick):
		}
	}
}

// pollScan signs the stream's next SETs; done says that waiting is of no
// use (the stream is not enabled).
func (s *Server) pollScan(r *http.Request, id string, limit int) (sets map[string]string, more, done bool, err error) {
	t, ok := s.ledger().StreamTarget(id)
	if !ok {
		return nil, false, true, withCode(newProblem(ProblemNotFound, "streamId", "no stream %q", id), "not_found")
	}
	sets = map[string]string{}
	if t.Status != fsm.StreamEnabled {
		return sets, false, true, nil
	}
	evs, through, more := s.ledger().PendingEvents(id, limit)
	if len(evs) == 0 {
		if through > t.Cursor+1023 {
			// Only events for other streams since: pass them, so that the
			// outbox can let them go.
			if _, err := s.proposeChecked(r, &fsm.StreamDelivery{StreamID: id, Through: through}); err != nil {
				s.log.Info("ssf: could not pass a poll stream over events not for it", "stream", id, "error", err)
			}
		}
		return sets, false, false, nil
	}
	// Every key a SET names is at jwks_uri before the SET is.
	if err := s.tx.publishKeys(r.Context()); err != nil {
		return nil, false, true, err
	}
	for _, e := range evs {
		set, err := s.signSET(e, id, t.Aud)
		if err != nil {
			return nil, false, true, err
		}
		sets[e.JTI] = set
	}
	return sets, more, true, nil
}
