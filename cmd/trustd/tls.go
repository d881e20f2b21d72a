package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsSetup is the node's TLS, loaded from the --tls-* files.
type tlsSetup struct {
	// api serves the HTTP API.
	api *tls.Config
	// peer dials other members' APIs (forwarding, probes).
	peer *tls.Config
	// raft is the Raft transport's mutual TLS.
	raft *tls.Config
	// certs serves and reloads the operator's certificate.
	certs *certReloader
}

func (c *config) tlsEnabled() bool { return c.TLSCertFile != "" || c.TLSKeyFile != "" }

// peerCAFile is the CA bundle other nodes are verified against:
// --tls-ca-file, else --tls-client-ca-file.
func (c *config) peerCAFile() string {
	if c.TLSCAFile != "" {
		return c.TLSCAFile
	}
	return c.TLSClientCAFile
}

// tlsSetup loads the certificate, key and CA bundles; nil without TLS.
// Errors name the flag at fault.
func (c *config) tlsSetup() (*tlsSetup, error) {
	if !c.tlsEnabled() {
		if c.TLSClientCAFile != "" || c.TLSCAFile != "" {
			return nil, errors.New("--tls-client-ca-file and --tls-ca-file need --tls-cert-file and --tls-key-file")
		}
		return nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-key-file: give both, or neither")
	}
	certs, err := newCertReloader(c.TLSCertFile, c.TLSKeyFile, c.ReloadInterval)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert-file, --tls-key-file: %w", err)
	}
	cert := certs.certificate()
	if c.peerCAFile() == "" {
		return nil, errors.New("--tls-ca-file: required with --tls-cert-file (or --tls-client-ca-file, its default): " +
			"Raft runs over mutual TLS and verifies the other nodes' certificates against this CA")
	}
	var clientCAs *x509.CertPool
	if c.TLSClientCAFile != "" {
		if clientCAs, err = loadCAs("tls-client-ca-file", c.TLSClientCAFile); err != nil {
			return nil, err
		}
	}
	peerCAs := clientCAs
	if c.TLSCAFile != "" {
		if peerCAs, err = loadCAs("tls-ca-file", c.TLSCAFile); err != nil {
			return nil, err
		}
	}
	s := &tlsSetup{
		// The API takes the certificate of the moment: reloaded without
		// a restart (certReloader); the node's Raft identity likewise
		// (cluster.Node.ReloadCertificate).
		api:  &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.getCertificate},
		peer: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: peerCAs},
		raft: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			RootCAs: peerCAs, ClientCAs: peerCAs, ClientAuth: tls.RequireAndVerifyClientCert},
		certs: certs,
	}
	// Other nodes present their certificates (node-to-node HTTP); the API
	// checks them against the cluster's CA (cluster.Node.PeerNodeID).
	s.api.ClientAuth = tls.RequestClientCert
	if clientCAs != nil {
		// Certificates are optional: clients authenticate with tokens;
		// one that presents a certificate must present a valid one, from
		// the client CA or, for other nodes, the cluster's.
		both, err := loadCAs("tls-client-ca-file", c.TLSClientCAFile, c.peerCAFile())
		if err != nil {
			return nil, err
		}
		s.api.ClientCAs = both
		s.api.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return s, nil
}

// loadCAs reads one or more PEM CA bundles into one pool.
func loadCAs(flag string, paths ...string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, path := range paths {
		pem, err := os.ReadFile(path) // #nosec G304 G703 -- the operator names the CA file
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--%s %s: no PEM certificates found", flag, path)
		}
	}
	return pool, nil
}
