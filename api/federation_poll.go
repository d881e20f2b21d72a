package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/federation"
	"github.com/trustledger/trustledger/fsm"
)

// The receiver's side of SSF beyond push: polling partners whose streams
// deliver by poll (RFC 8936), and refreshing a partner's keys from its
// jwks_uri when a SET names a key the ledger does not have (rotation).
// Only the leader polls and refreshes: it is where SETs are applied.

// partnerPollInterval is how long a poller waits after an empty answer;
// pollMaxEvents is how many SETs a poll asks for (and takes of an answer).
const (
	partnerPollInterval = 250 * time.Millisecond
	pollMaxEvents       = 100
)

// keyRefreshInterval is the least time between two key refreshes of one
// partner that changed its keys.
const keyRefreshInterval = 30 * time.Second

// keyRefreshRetry is the least time between two refreshes that found
// nothing new.
const keyRefreshRetry = 2 * time.Second

// receiver is the leader's polling of partners and key refreshes.
type receiver struct {
	mu        sync.Mutex
	polling   map[string]bool
	refreshed map[string]time.Time
}

func newReceiver() *receiver {
	return &receiver{polling: map[string]bool{}, refreshed: map[string]time.Time{}}
}

// runPartnerPolls starts a poller for every poll partner while this node
// leads.
func (s *Server) runPartnerPolls(ctx context.Context) {
	if s.node == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.node.IsLeader() {
			continue
		}
		for _, p := range s.ledger().Partners() {
			if p.SSF == nil || p.SSF.Delivery != "poll" || p.Status != "active" {
				continue
			}
			s.rx.mu.Lock()
			running := s.rx.polling[p.PartnerID]
			s.rx.polling[p.PartnerID] = true
			s.rx.mu.Unlock()
			if !running {
				go s.pollPartner(ctx, p.PartnerID)
			}
		}
	}
}

// pollPartner polls one partner's stream until this node no longer leads
// or the partner no longer polls.
func (s *Server) pollPartner(ctx context.Context, id string) {
	defer func() {
		s.rx.mu.Lock()
		delete(s.rx.polling, id)
		s.rx.mu.Unlock()
	}()
	var acks []string
	setErrs := map[string]any{}
	backoff := s.cfg.SSF.RetryMin
	for ctx.Err() == nil && s.node.IsLeader() {
		p, ok := s.ledger().Partner(id)
		if !ok || p.SSF == nil || p.SSF.Delivery != "poll" || p.Status != "active" {
			return
		}
		sets, more, err := s.pollOnce(ctx, p, acks, setErrs)
		if err != nil {
			s.log.Info("ssf: polling a partner failed; retrying", "partner", id, "error", err)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, s.cfg.SSF.RetryMax)
			continue
		}
		acks, setErrs = nil, map[string]any{}
		wait, stalled := s.applyPolled(ctx, p, sets, &acks, setErrs)
		switch {
		case stalled:
			// A SET could not be applied now: wait, longer each time.
			sleepCtx(ctx, max(backoff, wait))
			backoff = min(2*backoff, s.cfg.SSF.RetryMax)
		case wait > 0:
			sleepCtx(ctx, wait) // the partner's rate limit
		case len(sets) == 0 || !more:
			backoff = s.cfg.SSF.RetryMin
			sleepCtx(ctx, partnerPollInterval)
		default:
			backoff = s.cfg.SSF.RetryMin
		}
	}
}

// applyPolled applies a poll answer's SETs in order, at most the 100 the
// poll asked for and within the partner's rate limit, noting what to
// acknowledge. It returns how long to wait before the next poll when the
// rate limit stopped it, and stalled when a SET could not be applied now
// (it stays unacknowledged and comes again).
func (s *Server) applyPolled(ctx context.Context, p fsm.PartnerView, sets map[string]string, acks *[]string,
	setErrs map[string]any) (wait time.Duration, stalled bool) {
	for i, jti := range orderedJTIs(sets) {
		if i == pollMaxEvents {
			break // more than asked for: the rest is not taken
		}
		if ok, w := s.setLimiter.Allow(p.PartnerID, p.RateLimit, s.cfg.Now()); !ok {
			s.metrics.rateLimited.WithLabelValues("partner_sets").Inc()
			return max(w, partnerPollInterval), false
		}
		outcome, err := s.applyPolledSET(ctx, []byte(sets[jti]), p)
		if err != nil {
			s.log.Info("ssf: a polled SET could not be applied yet", "partner", p.PartnerID, "jti", clipText(jti), "error", err)
			return 0, true
		}
		if outcome != nil {
			setErrs[jti] = outcome
		} else {
			*acks = append(*acks, jti)
		}
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pollOnce sends one poll request with the acknowledgements of the last
// answer and returns the SETs of this one.
func (s *Server) pollOnce(ctx context.Context, p fsm.PartnerView, acks []string, setErrs map[string]any) (map[string]string, bool, error) {
	body := map[string]any{"maxEvents": pollMaxEvents, "returnImmediately": true}
	if len(acks) > 0 {
		body["ack"] = acks
	}
	if len(setErrs) > 0 {
		body["setErrs"] = setErrs
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.SSF.PollURL, bytes.NewReader(data))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	auth, err := s.openCredential(p.SSF.Auth)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Authorization", auth)
	resp, err := s.tx.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, errors.New("the transmitter answered " + strconv.Itoa(resp.StatusCode))
	}
	var out struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, false, errors.New("the transmitter's poll answer is not RFC 8936 JSON")
	}
	return out.Sets, out.MoreAvailable, nil
}

// orderedJTIs orders a poll answer's SETs, which RFC 8936 gives as an
// object: by jti, a numeric suffix compared as a number, so that a
// transmitter numbering its SETs (trustledger's <stream>-<sequence>) is
// applied in its order.
func orderedJTIs(sets map[string]string) []string {
	out := make([]string, 0, len(sets))
	for j := range sets {
		out = append(out, j)
	}
	split := func(j string) (string, int64) {
		i := strings.LastIndexByte(j, '-')
		if i < 0 {
			return j, -1
		}
		n, err := strconv.ParseInt(j[i+1:], 10, 64)
		if err != nil {
			return j, -1
		}
		return j[:i], n
	}
	sort.Slice(out, func(a, b int) bool {
		pa, na := split(out[a])
		pb, nb := split(out[b])
		if pa != pb {
			return pa < pb
		}
		if na != nb {
			return na < nb
		}
		return out[a] < out[b]
	})
	return out
}

// applyPolledSET verifies and applies one polled SET as a pushed one is
// (the same verification, dedup and mapping). It returns the RFC 8936
// setErrs entry of a SET refused for good, or an error when it could not
// be applied now (not the leader, a timeout): it is then polled again.
func (s *Server) applyPolledSET(ctx context.Context, body []byte, p fsm.PartnerView) (map[string]string, error) {
	set, cmd, err := s.verifySET(body, p)
	var command fsm.Command
	if err == nil {
		var se *fsm.PartnerStreamEvent
		if se, err = set.StreamEvent(p.PartnerID); se != nil {
			command = se
		} else if cmd != nil {
			command = cmd
		}
	}
	if err == nil && command == nil {
		return nil, nil // nothing acted on: acknowledged
	}
	actor := "partner-poll:" + p.PartnerID
	if err == nil {
		err = s.ledger().Check(command, actor, s.stamp())
		if err != nil {
			err = setRefusal(err)
		}
	}
	if err == nil {
		var res *fsm.Result
		pctx, cancel := context.WithTimeout(ctx, s.cfg.ProposeTimeout)
		res, err = s.node.Propose(pctx, command, actor)
		cancel()
		if err != nil {
			return nil, err
		}
		if err = setOutcome(res); err == nil {
			s.metrics.sets.WithLabelValues("accepted").Inc()
			return nil, nil
		}
	}
	var fe *federation.Error
	if !errors.As(err, &fe) {
		return nil, err
	}
	if fe.Description == "jti already used" {
		return nil, nil // a SET the ledger has: acknowledged
	}
	s.refreshKeysOn(err, p)
	if fe.Code == federation.ErrInvalidKey {
		return nil, err // polled again once the keys are refreshed
	}
	s.metrics.refusedSET(fe.Code)
	return map[string]string{"err": fe.Code, "description": fe.Description}, nil
}

// refreshKeysOn refreshes an SSF partner's keys from its jwks_uri when a
// SET names a key the ledger lacks, at most every keyRefreshInterval.
func (s *Server) refreshKeysOn(err error, p fsm.PartnerView) {
	var fe *federation.Error
	if !errors.As(err, &fe) || fe.Code != federation.ErrInvalidKey || p.SSF == nil || p.SSF.JWKSURI == "" || !s.node.IsLeader() {
		return
	}
	s.rx.mu.Lock()
	if time.Since(s.rx.refreshed[p.PartnerID]) < keyRefreshInterval {
		s.rx.mu.Unlock()
		return
	}
	s.rx.refreshed[p.PartnerID] = time.Now()
	s.rx.mu.Unlock()
	go s.refreshKeys(p.PartnerID, p.SSF.JWKSURI)
}

func (s *Server) refreshKeys(id, uri string) {
	ctx, cancel := context.WithTimeout(s.done, 30*time.Second)
	defer cancel()
	jwks, err := s.fetchJWKS(ctx, uri)
	if err != nil {
		s.log.Warn("ssf: could not refresh a partner's keys", "partner", id, "error", err)
		return
	}
	cmd, ok := s.ledger().PartnerRegistration(id)
	if !ok || bytes.Equal(cmd.JWKS, jwks) {
		// Nothing new (the node that answered may not have the key yet):
		// the next unknown kid may look again soon.
		s.rx.mu.Lock()
		s.rx.refreshed[id] = time.Now().Add(keyRefreshRetry - keyRefreshInterval)
		s.rx.mu.Unlock()
		return
	}
	cmd.JWKS = jwks
	res, err := s.node.Propose(ctx, cmd, "partner-keys:"+id)
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err != nil {
		s.log.Warn("ssf: could not record a partner's refreshed keys", "partner", id, "error", err)
		return
	}
	s.log.Info("ssf: a partner's keys were refreshed from its jwks_uri", "partner", id)
}
