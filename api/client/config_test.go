package client

import (
	"net/http"
	"testing"
)

// TestMaxIdleConnsPerHost checks that the setting reaches the transport,
// and that zero leaves net/http's default (0, which means 2).
func TestMaxIdleConnsPerHost(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, 0}, {64, 64}} {
		c, err := New(Config{Address: "http://127.0.0.1:8470", MaxIdleConnsPerHost: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.http.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("transport is %T", c.http.Transport)
		}
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.set {
			t.Errorf("MaxIdleConnsPerHost %d: transport keeps %d per host, %d in all; want %d per host",
				tc.set, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
}
