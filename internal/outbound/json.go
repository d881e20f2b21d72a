package outbound

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxErrorBody is how much of a response body a StatusError keeps.
const maxErrorBody = 512

// StatusError is a response whose status the call did not expect.
type StatusError struct {
	// Code is the HTTP status.
	Code int
	// Body is the start of the response body (at most 512 bytes, valid
	// UTF-8), with the bearer token sent, should the server echo it,
	// replaced by "[redacted]".
	Body string
}

// Error says the status and the start of the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("the server answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// GetJSON gets rawURL and decodes its JSON body into dst (nil: the body is
// not decoded). bearer, when not empty, is sent as "Authorization: Bearer
// <bearer>". A status other than 200 is a *StatusError; data after the
// JSON value is an error.
func (c *Client) GetJSON(ctx context.Context, rawURL, bearer string, dst any) error {
	req, err := c.newJSONRequest(ctx, http.MethodGet, rawURL, bearer, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return requestError(req, newStatusError(resp, bearer))
	}
	if dst == nil {
		return nil
	}
	if err := decodeJSON(resp.Body, dst); err != nil {
		return requestError(req, err)
	}
	return nil
}

// PostJSON posts body, encoded as JSON (nil: no body), to rawURL and
// decodes the JSON response into dst (nil: the response body is not
// decoded; a 204 is never decoded). bearer is sent as for GetJSON. It
// returns the response's status (0 when none came); a status other than
// 2xx is a *StatusError.
func (c *Client) PostJSON(ctx context.Context, rawURL, bearer string, body, dst any) (int, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("outbound: POST: encode the request body: %w", err)
		}
		payload = b
	}
	req, err := c.newJSONRequest(ctx, http.MethodPost, rawURL, bearer, payload)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, requestError(req, newStatusError(resp, bearer))
	}
	if dst == nil || resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil
	}
	if err := decodeJSON(resp.Body, dst); err != nil {
		return resp.StatusCode, requestError(req, err)
	}
	return resp.StatusCode, nil
}

// newJSONRequest checks rawURL and builds a request accepting JSON, with
// payload as a JSON body when not nil and bearer as its credential.
func (c *Client) newJSONRequest(ctx context.Context, method, rawURL, bearer string, payload []byte) (*http.Request, error) {
	u, err := c.policy.CheckURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("outbound: %s: %w", method, err)
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("outbound: %s %s: %w", method, where(u), err)
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := setBearer(req, bearer); err != nil {
		return nil, requestError(req, err)
	}
	return req, nil
}

// setBearer sets "Authorization: Bearer <token>" when token is not empty.
// A token with a space or a control character is refused (without being
// quoted: the error must not carry it).
func setBearer(req *http.Request, token string) error {
	if token == "" {
		return nil
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("the bearer token contains a space or a control character")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// newStatusError keeps the start of resp's body, without secret.
func newStatusError(resp *Response, secret string) *StatusError {
	s := string(resp.Body)
	if secret != "" {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return &StatusError{Code: resp.StatusCode, Body: clip(strings.TrimSpace(s), maxErrorBody)}
}

// clip cuts s to at most n bytes, at a character boundary, and makes it
// valid UTF-8 (each invalid run becomes "?", which keeps it within n).
func clip(s string, n int) string {
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}

// decodeJSON decodes one JSON value from b into dst, refusing an empty
// body and data after the value.
func decodeJSON(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the response body is empty, not JSON")
		}
		return fmt.Errorf("decode the JSON response: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode the JSON response: data after the JSON value")
	}
	return nil
}
