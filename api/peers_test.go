package api

import (
	"net/http"
	"testing"
)

// Node-to-node requests carry callers' tokens: they never go through an
// environment proxy.
func TestPeerTransportsUseNoProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	h := newHarness(t)
	for _, id := range []string{"n1", "n2"} {
		tr := h.api.peers.transport(id)
		req, _ := http.NewRequest(http.MethodGet, "https://10.0.0.1:8470/v1/status", nil)
		if tr.Proxy != nil {
			if u, err := tr.Proxy(req); err != nil || u != nil {
				t.Errorf("member %s: proxied through %v (%v)", id, u, err)
			}
		}
		if tr.TLSClientConfig == nil {
			t.Errorf("member %s: no TLS configuration on a secure node", id)
		}
	}
}
