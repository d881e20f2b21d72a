package outbound

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// checkRedirect is the http.Client's CheckRedirect: no redirect unless
// Options.MaxRedirects allows it; then each target must pass the policy,
// must not leave https for http, and gets no Authorization header once it
// leaves the first request's origin. (http.Client itself keeps that header
// for another port of the same host.) req's header is already copied from
// the previous request when this runs.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	if len(via) > c.opts.MaxRedirects {
		if c.opts.MaxRedirects == 0 {
			return fmt.Errorf("%w: the server answered %d to %s, and redirects are not followed: one could send the request's credentials to an address nobody verified",
				ErrRedirect, status, where(req.URL))
		}
		return fmt.Errorf("%w: more than %d redirects", ErrRedirect, c.opts.MaxRedirects)
	}
	if err := c.checkURL(req.URL); err != nil {
		return fmt.Errorf("%w to %s: %w", ErrRedirect, where(req.URL), err)
	}
	if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme == "http" {
		return fmt.Errorf("%w to %s: a redirect from https to http is never followed", ErrRedirect, where(req.URL))
	}
	if origin(req.URL) != origin(via[0].URL) {
		req.Header.Del("Authorization")
		req.Header.Del("Cookie")
	}
	return nil
}

// origin is u's scheme, host and port (the scheme's default when u has
// none), the unit a credential is sent to.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
