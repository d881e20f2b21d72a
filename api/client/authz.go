package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// AuthzRequest is what a gateway tells GET /v1/authz about the request it
// is deciding (docs/api.md, "Gateways"). Set Principal or SubjectToken.
type AuthzRequest struct {
	Principal, SubjectToken string
	// Method and URI are the request's (default GET and /).
	Method, URI string
	// ClientIP, DeviceCompliant ("true" or "false") and GeoCountry become
	// the context's network.ip, device.compliant and geo.country; Context
	// is the rest of it (a JSON object).
	ClientIP, DeviceCompliant, GeoCountry string
	Context                               json.RawMessage
}

// Authorize asks GET /v1/authz as a gateway does (gateway role). Every
// decision is an answer, whatever its status (200 allow, 401 step up, 403
// deny): it is returned with the status; err is for everything else (the
// gateway's token refused, a bad request, no leader).
func (c *Client) Authorize(ctx context.Context, req AuthzRequest) (*Decision, int, error) {
	u := *c.base
	u.Path = c.base.Path + "/v1/authz"
	hreq, err := c.newRequest(ctx, http.MethodGet, "/v1/authz", &u, nil, "", "application/json")
	if err != nil {
		return nil, 0, err
	}
	for name, v := range map[string]string{"X-Trust-Principal": req.Principal, "X-Trust-Subject-Token": req.SubjectToken,
		"X-Original-Method": req.Method, "X-Original-URI": req.URI, "X-Real-IP": req.ClientIP,
		"X-Trust-Device-Compliant": req.DeviceCompliant, "X-Trust-Geo-Country": req.GeoCountry, "X-Trust-Context": string(req.Context)} {
		if v != "" {
			hreq.Header.Set(name, v)
		}
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, 0, c.transportError(ctx, &request{method: http.MethodGet, path: "/v1/authz"}, err)
	}
	defer func() { _ = resp.Body.Close() }()
	c.noteAnswer(resp)
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusUnauthorized, http.StatusForbidden:
		if resp.Header.Get("X-Trust-Decision") != "" {
			var d Decision
			if err := json.Unmarshal(b, &d); err != nil {
				return nil, resp.StatusCode, fmt.Errorf("GET /v1/authz: decode answer: %w", err)
			}
			return &d, resp.StatusCode, nil
		}
	}
	return nil, resp.StatusCode, decodeError(http.MethodGet, "/v1/authz", resp, b)
}
