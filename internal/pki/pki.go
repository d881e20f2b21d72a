// Package pki mints and checks the certificates of a trustledger cluster:
// the cluster CA a bootstrapping node creates, and the node certificates
// that name a node id. Everything here is crypto/x509 and crypto/ecdsa
// from the standard library; nothing is hand-rolled.
//
// A node certificate names its node id twice: as the subject common name,
// for people reading it, and as the URI SAN trustledger://node/<id>, which
// is what peers check. Peers verify a node by its certificate chain to the
// cluster CA and by that node id, not by host name: node ids are what the
// Raft configuration lists.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// Validity of what this package mints.
const (
	// CAValidity is how long a cluster CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// NodeValidity is how long a node certificate is valid.
	NodeValidity = 5 * 365 * 24 * time.Hour
	// clockSkew backdates NotBefore, so a peer whose clock is a little
	// behind accepts a certificate minted just now.
	clockSkew = time.Hour
)

// NodeURIScheme is the scheme of the URI SAN that names a node id.
const NodeURIScheme = "trustledger"

// ErrNotNodeCert: a certificate that names no node id.
var ErrNotNodeCert = errors.New("the certificate names no trustledger node id")

// NodeURI is the URI SAN of node id's certificate.
func NodeURI(id string) *url.URL {
	return &url.URL{Scheme: NodeURIScheme, Host: "node", Path: "/" + id}
}

// NodeID returns the node id a certificate names: its trustledger://node/
// URI SAN.
func NodeID(cert *x509.Certificate) (string, error) {
	var found []string
	for _, u := range cert.URIs {
		if u.Scheme == NodeURIScheme && u.Host == "node" && len(u.Path) > 1 {
			found = append(found, strings.TrimPrefix(u.Path, "/"))
		}
	}
	switch len(found) {
	case 0:
		return "", ErrNotNodeCert
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("the certificate names %d node ids; want one", len(found))
}

// NodeIDOrCN returns the node id a certificate names, falling back to its
// subject common name for certificates from an operator's own PKI.
func NodeIDOrCN(cert *x509.Certificate) (string, error) {
	if id, err := NodeID(cert); !errors.Is(err, ErrNotNodeCert) {
		return id, err
	}
	if cn := cert.Subject.CommonName; cn != "" {
		return cn, nil
	}
	return "", ErrNotNodeCert
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, written as
// "sha256:<hex>". It pins a cluster CA.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseFingerprint checks and normalises a fingerprint given by a person:
// "sha256:<64 hex digits>" or the bare hex, colons allowed between bytes.
func ParseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return "sha256:" + h, nil
}

// NewKey generates a node or CA key (ECDSA P-256).
func NewKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// EncodeKey writes a private key as PEM (PKCS #8).
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads a PEM private key (PKCS #8, or SEC 1 "EC PRIVATE KEY").
func ParseKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	return s, nil
}

// EncodeCert writes a certificate as PEM.
func EncodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ParseCert reads the first PEM certificate.
func ParseCert(pemBytes []byte) (*x509.Certificate, error) {
	certs, err := ParseCerts(pemBytes)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ParseCerts reads every PEM certificate; at least one must be there.
func ParseCerts(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// CA is a certificate authority that can sign node certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a self-signed cluster CA named name.
func NewCA(name string, now time.Time) (*CA, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"trustledger"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA from PEM certificate and key, checking they match.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate: not a CA")
	}
	key, err := ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("the CA key does not belong to the CA certificate")
	}
	return &CA{Cert: cert, Key: key}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// NewCSR makes a certificate request for node id with key, naming the
// hosts (DNS names or IP addresses) the node's API is reached at.
func NewCSR(key crypto.Signer, id string, hosts []string) ([]byte, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: id}, URIs: []*url.URL{NodeURI(id)}}
	tmpl.DNSNames, tmpl.IPAddresses = splitHosts(hosts)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR reads a PEM certificate request and checks its signature.
func ParseCSR(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("no PEM certificate request found")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	return csr, nil
}

// maxHosts bounds the host names a node certificate carries.
const maxHosts = 32

// SignNode issues node id's certificate for the public key of a checked
// certificate request. The node id comes from the caller (who
// authenticated the request), never from the request itself; the hosts
// are the request's own DNS and IP SANs, plus loopback.
func (ca *CA) SignNode(csr *x509.CertificateRequest, id string, now time.Time) ([]byte, error) {
	if len(csr.DNSNames)+len(csr.IPAddresses) > maxHosts {
		return nil, fmt.Errorf("the request names %d hosts; at most %d", len(csr.DNSNames)+len(csr.IPAddresses), maxHosts)
	}
	return ca.sign(csr.PublicKey, id, csr.DNSNames, csr.IPAddresses, now)
}

// IssueNode makes a key and a certificate for node id naming hosts, for
// operators who bring a PKI of their own (trustctl tls) and for the
// bootstrapping node itself.
func (ca *CA) IssueNode(id string, hosts []string, now time.Time) (certPEM []byte, key *ecdsa.PrivateKey, err error) {
	if key, err = NewKey(); err != nil {
		return nil, nil, err
	}
	dns, ips := splitHosts(hosts)
	certPEM, err = ca.sign(key.Public(), id, dns, ips, now)
	return certPEM, key, err
}

func (ca *CA) sign(pub crypto.PublicKey, id string, dns []string, ips []net.IP, now time.Time) ([]byte, error) {
	if id == "" {
		return nil, errors.New("a node certificate needs a node id")
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	dns, ips = withLoopback(dns, ips)
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: id, Organization: []string{"trustledger"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     minTime(now.Add(NodeValidity), ca.Cert.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{NodeURI(id)},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return EncodeCert(der), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// splitHosts sorts hosts into DNS names and IP addresses, dropping empty
// ones and duplicates.
func splitHosts(hosts []string) (dns []string, ips []net.IP) {
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.Trim(strings.TrimSpace(h), "[]")
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// withLoopback adds localhost, 127.0.0.1 and ::1, so that a node's API is
// reachable over HTTPS on loopback whatever else it is reached at.
func withLoopback(dns []string, ips []net.IP) ([]string, []net.IP) {
	hasDNS := func(s string) bool {
		for _, d := range dns {
			if d == s {
				return true
			}
		}
		return false
	}
	hasIP := func(ip net.IP) bool {
		for _, i := range ips {
			if i.Equal(ip) {
				return true
			}
		}
		return false
	}
	if !hasDNS("localhost") {
		dns = append(dns, "localhost")
	}
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback} {
		if !hasIP(ip) {
			ips = append(ips, ip)
		}
	}
	return dns, ips
}

// VerifyNode checks a peer's certificate chain (leaf first, as TLS hands
// it over) against roots, for use as a node certificate, and returns the
// node id it names. Intermediates in the chain are used; the leaf must
// allow use for the given purpose (x509.ExtKeyUsageServerAuth for a
// server, ClientAuth for a client). allowCN accepts a subject common name
// as the node id when the certificate has no node URI (an operator's own
// PKI).
func VerifyNode(rawCerts [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage, allowCN bool, now time.Time) (string, *x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return "", nil, errors.New("the peer presented no certificate")
	}
	if roots == nil {
		return "", nil, errors.New("no cluster CA to verify the peer against")
	}
	leaf, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return "", nil, fmt.Errorf("peer certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, raw := range rawCerts[1:] {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return "", nil, fmt.Errorf("peer certificate chain: %w", err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", nil, fmt.Errorf("peer certificate: %w", err)
	}
	var id string
	if allowCN {
		id, err = NodeIDOrCN(leaf)
	} else {
		id, err = NodeID(leaf)
	}
	if err != nil {
		return "", nil, err
	}
	return id, leaf, nil
}

// SelfSigned makes a short-lived self-signed certificate for key naming
// node id: what a node that has not joined yet serves its API with, so
// that the operator enrolling it talks to it over TLS bound to the key of
// its certificate request.
func SelfSigned(key crypto.Signer, id string, now time.Time) ([]byte, error) {
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	dns, ips := withLoopback(nil, nil)
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: id + " (enrolling)"},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	return x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
}

// KeyFingerprint is the SHA-256 of a public key's DER (SubjectPublicKeyInfo)
// bytes, as "sha256:<hex>".
func KeyFingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return Fingerprint(der), nil
}
