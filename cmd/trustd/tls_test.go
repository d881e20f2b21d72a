package main

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/trustledger/trustledger/internal/testnet"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testpki"
)

// freePort is testnet.FreeAddr.
func freePort(t *testing.T) string { return testnet.FreeAddr(t) }

// startNode runs serve with args (plus fresh loopback addresses and data
// directory) until the test ends; it returns the HTTP address and the
// data directory.
func startNode(t *testing.T, id string, args ...string) (httpAddr, dir string) {
	t.Helper()
	dir = t.TempDir()
	httpAddr = freePort(t)
	args = append([]string{"--node-id", id, "--data-dir", dir, "--http-addr", httpAddr, "--raft-addr", freePort(t),
		"--gossip-addr", freePort(t), "--audit-log", filepath.Join(dir, "audit.log")}, args...)
	cfg, err := loadConfig(args, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("config %s: %v", id, err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("TRUSTD_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: serve: %v", id, err)
		}
	})
	return httpAddr, dir
}

func waitUntil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca := testpki.NewCA(t, "cluster")
	n1 := ca.Issue("node1")
	addr, dir := startNode(t, "node1", "--tls-cert-file", n1.CertFile, "--tls-key-file", n1.KeyFile,
		"--tls-client-ca-file", ca.CertFile)
	base := "https://" + addr
	ctx := ctxT(t, 60*time.Second)

	var token string
	waitUntil(t, 30*time.Second, "admin token", func() error {
		b, err := os.ReadFile(filepath.Join(dir, adminTokenFile)) // #nosec G304 -- the test's own file
		token = strings.TrimSpace(string(b))
		return err
	})
	newClient := func(tls client.TLSConfig, token string) *client.Client {
		t.Helper()
		cl, err := client.New(client.Config{Address: base, Token: token, TLS: tls, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	verified := client.TLSConfig{CAFile: ca.CertFile}

	// HTTPS with the cluster CA; no client certificate: a token is enough.
	waitUntil(t, 30*time.Second, "/readyz over TLS", func() error { return newClient(verified, "").Ready(ctx) })
	admin := newClient(verified, token)
	if _, _, err := admin.Status(ctx); err != nil {
		t.Fatalf("authenticated read over TLS: %v", err)
	}
	if _, err := admin.PutOrg(ctx, "acme", client.OrgSpec{BaseTrustScore: "60"}); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	// Still no access without a token.
	if _, _, err := newClient(verified, "").Status(ctx); client.StatusCode(err) != http.StatusUnauthorized {
		t.Fatalf("read without a token: %v, want 401", err)
	}
	// The system roots do not know the test CA.
	if err := newClient(client.TLSConfig{}, "").Ready(ctx); err == nil {
		t.Fatal("a certificate from an unknown CA was trusted")
	}
	// A client certificate from the cluster CA is accepted.
	good := ca.Issue("operator")
	if _, _, err := newClient(client.TLSConfig{CAFile: ca.CertFile, CertFile: good.CertFile, KeyFile: good.KeyFile}, token).Status(ctx); err != nil {
		t.Fatalf("read with a client certificate: %v", err)
	}
	// One from another CA is refused at the handshake, token or not. (Go's
	// client would not send it, the node naming the CA it accepts: force
	// it.)
	bad := testpki.NewCA(t, "other").Issue("operator")
	forced, err := client.New(client.Config{Address: base, Token: token, HTTPClient: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &bad.Cert, nil }}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = forced.Status(ctx)
	if err == nil || client.StatusCode(err) != 0 || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("read with a client certificate from another CA: %v, want a TLS error", err)
	}
	// Plain HTTP to the TLS port gets no answer from the API.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + addr + "/readyz")
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP to the TLS port: %s", resp.Status)
		}
	}

	// A second node joins over https; Raft runs over mutual TLS; it
	// advertises an https API, and forwards writes to the leader over TLS.
	n2 := ca.Issue("node2")
	tokenFile := filepath.Join(t.TempDir(), "op.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr2, _ := startNode(t, "node2", "--join", base, "--token-file", tokenFile,
		"--tls-cert-file", n2.CertFile, "--tls-key-file", n2.KeyFile, "--tls-ca-file", ca.CertFile)
	follower, err := client.New(client.Config{Address: "https://" + addr2, Token: token, TLS: verified, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "node2 joins and replicates", func() error {
		if _, _, err := follower.GetOrg(ctx, "acme", &client.ReadOptions{Consistency: "stale"}); err != nil {
			return err
		}
		v, err := admin.Cluster(ctx)
		if err != nil {
			return err
		}
		for _, m := range v.Members {
			if m.ID == "node2" && m.Suffrage == "voter" {
				if !strings.HasPrefix(m.APIAddr, "https://") {
					t.Fatalf("node2 advertises %q", m.APIAddr)
				}
				return nil
			}
		}
		return errors.New("node2 is not a voter yet")
	})
	if _, err := follower.PutOrg(ctx, "forwarded", client.OrgSpec{BaseTrustScore: "50"}); err != nil {
		t.Fatalf("write through the follower (forwarded over TLS): %v", err)
	}
	if _, _, err := admin.GetOrg(ctx, "forwarded", nil); err != nil {
		t.Fatalf("the forwarded write on the leader: %v", err)
	}
}

func TestConfigTLS(t *testing.T) {
	ca := testpki.NewCA(t, "cluster")
	p := ca.Issue("node1")
	c, err := loadConfig([]string{"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-ca-file", ca.CertFile}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if u := c.apiURL(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8470}); u != "https://127.0.0.1:8470" {
		t.Errorf("api url with TLS: %s", u)
	}
	s, err := c.tlsSetup()
	if err != nil || s.api.ClientAuth != tls.RequestClientCert || s.raft.ClientCAs == nil || s.peer.RootCAs == nil || s.api.MinVersion != 0x0303 {
		t.Fatalf("setup %+v, %v", s, err)
	}
	c, err = loadConfig([]string{"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-client-ca-file", ca.CertFile}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.tlsSetup(); err != nil || s.api.ClientCAs == nil || s.raft.RootCAs == nil {
		t.Fatalf("client CA as the cluster CA: %+v, %v", s, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert-file", p.CertFile, "--tls-ca-file", ca.CertFile}, "give both, or neither"},
		{"key without cert", []string{"--tls-key-file", p.KeyFile}, "give both, or neither"},
		{"no CA", []string{"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile}, "--tls-ca-file: required"},
		{"CA without cert", []string{"--tls-client-ca-file", ca.CertFile}, "need --tls-cert-file"},
		{"key mismatch", []string{"--tls-cert-file", p.CertFile, "--tls-key-file", ca.Issue("x").KeyFile, "--tls-ca-file", ca.CertFile}, "--tls-cert-file, --tls-key-file"},
		{"not a CA file", []string{"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-ca-file", p.KeyFile}, "no PEM certificates"},
		{"missing file", []string{"--tls-cert-file", "/nonexistent.pem", "--tls-key-file", p.KeyFile, "--tls-ca-file", ca.CertFile}, "--tls-cert-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(nil), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
