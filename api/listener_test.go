package api

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/internal/pki"
)

func serveSniffed(t *testing.T, allowPlain bool) (string, *x509.CertPool) {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, key, err := ca.IssueNode("n1", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, allowPlain)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			_, _ = io.WriteString(w, "tls")
			return
		}
		_, _ = io.WriteString(w, "plain")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return ln.Addr().String(), roots
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// On loopback one port serves plain HTTP to local clients and TLS to other
// nodes; reached off loopback it serves TLS only and tells plain clients
// to use https.
func TestAPIPortServesTLSAndPlain(t *testing.T) {
	addr, roots := serveSniffed(t, true)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}}}
	if body, err := get(t, tlsClient, "https://"+addr+"/"); err != nil || body != "tls" {
		t.Fatalf("https: %q %v", body, err)
	}
	if body, err := get(t, http.DefaultClient, "http://"+addr+"/"); err != nil || body != "plain" {
		t.Fatalf("http: %q %v", body, err)
	}

	addr, roots = serveSniffed(t, false)
	tlsClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}}}
	if body, err := get(t, tlsClient, "https://"+addr+"/"); err != nil || body != "tls" {
		t.Fatalf("https, TLS only: %q %v", body, err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "400") {
		t.Fatalf("plain HTTP to a TLS-only port: %q %v", line, err)
	}
}

// A connection that never sends its first byte does not hold up others.
func TestAPIPortSilentConnectionDoesNotBlock(t *testing.T) {
	addr, _ := serveSniffed(t, true)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := &http.Client{Timeout: 3 * time.Second}
	if body, err := get(t, c, "http://"+addr+"/"); err != nil || body != "plain" {
		t.Fatalf("a request behind a silent connection: %q %v", body, err)
	}
}
