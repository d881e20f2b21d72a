package pki

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// A node certificate names the node id the signer gives, whatever the
// request asked for, and verifies against its CA only.
func TestSignNodeNamesTheGivenID(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, err := NewCSR(key, "intruder", []string{"10.0.0.2", "node.example", "10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNode(csr, "n2", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := NodeID(cert); err != nil || id != "n2" || cert.Subject.CommonName != "n2" {
		t.Fatalf("node id %q, %v; CN %q", id, err, cert.Subject.CommonName)
	}
	if len(cert.IPAddresses) != 3 || !strings.Contains(strings.Join(cert.DNSNames, ","), "node.example") {
		t.Errorf("hosts: %v %v", cert.IPAddresses, cert.DNSNames)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if id, _, err := VerifyNode([][]byte{cert.Raw}, roots, x509.ExtKeyUsageClientAuth, false, now); err != nil || id != "n2" {
		t.Fatalf("verify: %q %v", id, err)
	}
	other, err := NewCA("other", now)
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	if _, _, err := VerifyNode([][]byte{cert.Raw}, otherRoots, x509.ExtKeyUsageClientAuth, false, now); err == nil {
		t.Fatal("a certificate verified against another CA")
	}
	if _, _, err := VerifyNode(nil, roots, x509.ExtKeyUsageClientAuth, false, now); err == nil {
		t.Fatal("no certificate verified")
	}
	if _, _, err := VerifyNode([][]byte{cert.Raw}, roots, x509.ExtKeyUsageClientAuth, false, now.Add(NodeValidity+48*time.Hour)); err == nil {
		t.Fatal("an expired certificate verified")
	}
}

// A certificate without a node URI is a node only where common names are
// allowed (an operator's PKI).
func TestNodeIDFromCommonName(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	// The CA certificate itself has a CN and no node URI.
	if _, err := NodeID(ca.Cert); err == nil {
		t.Fatal("a node id from a certificate without a node URI")
	}
	if id, err := NodeIDOrCN(ca.Cert); err != nil || id != "test" {
		t.Fatalf("CN fallback: %q %v", id, err)
	}
}

func TestFingerprints(t *testing.T) {
	if _, err := ParseFingerprint("sha256:1234"); err == nil {
		t.Error("a short fingerprint parsed")
	}
	fp := Fingerprint([]byte("x"))
	upper := strings.ToUpper(strings.TrimPrefix(fp, "sha256:"))
	var colons []string
	for i := 0; i < len(upper); i += 2 {
		colons = append(colons, upper[i:i+2])
	}
	for _, in := range []string{fp, upper, strings.Join(colons, ":")} {
		if got, err := ParseFingerprint(in); err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", in, got, err, fp)
		}
	}
}

func TestCAAndKeyRoundTrip(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := EncodeKey(ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(EncodeCert(ca.Cert.Raw), keyPEM); err != nil {
		t.Fatalf("load: %v", err)
	}
	other, _ := NewKey()
	otherPEM, _ := EncodeKey(other)
	if _, err := LoadCA(EncodeCert(ca.Cert.Raw), otherPEM); err == nil {
		t.Fatal("a CA loaded with another key")
	}
}
