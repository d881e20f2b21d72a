package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// SETMediaType is the Content-Type of a pushed Security Event Token.
const SETMediaType = "application/secevent+jwt"

// SETError is a refused Security Event Token: the RFC 8935 error object
// POST /v1/federation/events answers with status 400. Code is one of
// invalid_request, invalid_key, invalid_issuer, invalid_audience,
// authentication_failed or access_denied; a replayed jti is
// invalid_request with the description "jti already used". Do not retry
// a refused SET unchanged.
type SETError struct {
	Code        string `json:"err"`
	Description string `json:"description"`
}

// Error describes the refusal as "SET refused: CODE: description".
func (e *SETError) Error() string { return "SET refused: " + e.Code + ": " + e.Description }

// SETResult is the answer to PushSET.
type SETResult struct {
	// Index is the ledger index the event committed at; 0 when the SET
	// carried no event type the ledger understands (acknowledged and
	// ignored, nothing recorded).
	Index uint64 `json:"index"`
}

// PushSET delivers one Security Event Token (a compact JWS) to POST
// /v1/federation/events, RFC 8935 push delivery, with the client's token,
// which must be a partner token bound to the SET's issuer. A refused SET
// is a *SETError; other failures (401, 403, 429, 503) are *Error with the
// problem, as for every call, and RetryAfter on 429 and 503.
func (c *Client) PushSET(ctx context.Context, set string) (*SETResult, error) {
	const method, path = http.MethodPost, "/v1/federation/events"
	r := &request{method: method, path: path}
	u := *c.base
	u.Path = c.base.Path + path
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.timeout, errRequestTimeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, method, path, &u, strings.NewReader(set), SETMediaType, "application/json")
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, r, err)
	}
	defer func() { _ = resp.Body.Close() }()
	c.noteAnswer(resp)
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode == http.StatusAccepted {
		return &SETResult{Index: parseMeta(resp.Header).Index}, nil
	}
	var se SETError
	if resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		json.NewDecoder(bytes.NewReader(b)).Decode(&se) == nil && se.Code != "" {
		return nil, &se
	}
	return nil, decodeError(method, path, resp, b)
}
