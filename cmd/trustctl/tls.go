package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
	"github.com/trustledger/trustledger/internal/pki"
)

// trustctl tls mints the certificates of operators who bring their own
// PKI (trustd --tls-cert-file, --tls-key-file, --tls-ca-file), as consul
// tls ca create and consul tls cert create do. Everything is crypto/x509
// through internal/pki, the package the cluster identity uses: node
// certificates name the node id as the URI SAN trustledger://node/<id>
// and as the common name, the hosts as DNS and IP SANs. Nothing talks to
// a node; keys are written 0600 and never overwritten.

// File names trustctl tls writes.
const (
	tlsCACertFile = "ca.crt"
	tlsCAKeyFile  = "ca.key"
	// defaultCAName is the CA's common name without --name.
	defaultCAName = "trustledger CA"
)

// caCreated describes the CA trustctl tls ca create wrote.
type caCreated struct {
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	Subject     string `json:"subject"`
	Fingerprint string `json:"fingerprint"`
	NotAfter    string `json:"notAfter"`
}

func tlsCACreate(fs *flag.FlagSet, c *cli) prepare {
	out := fs.String("out", "", "write ca.crt and ca.key into `DIR` (created if missing; required)")
	name := fs.String("name", defaultCAName, "the CA's common `NAME`")
	return func([]string) (call, error) {
		if *out == "" {
			return nil, usagef("--out is required")
		}
		if strings.TrimSpace(*name) == "" || !printableText(*name) {
			return nil, usagef("--name: give a name of printable characters")
		}
		return func(context.Context, *client.Client) (*output, error) { return c.createCA(*out, *name) }, nil
	}
}

// createCA writes a new CA named name into dir.
func (c *cli) createCA(dir, name string) (*output, error) {
	certPath, keyPath := filepath.Join(dir, tlsCACertFile), filepath.Join(dir, tlsCAKeyFile)
	if err := refuseExisting(certPath, keyPath); err != nil {
		return nil, err
	}
	ca, err := pki.NewCA(name, c.now())
	if err != nil {
		return nil, fmt.Errorf("create the CA: %w", err)
	}
	keyPEM, err := pki.EncodeKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("encode the CA key: %w", err)
	}
	if err := writePair(dir, certPath, pki.EncodeCert(ca.Cert.Raw), keyPath, keyPEM); err != nil {
		return nil, err
	}
	res := caCreated{Certificate: certPath, Key: keyPath, Subject: ca.Cert.Subject.CommonName,
		Fingerprint: pki.Fingerprint(ca.Cert.Raw), NotAfter: ca.Cert.NotAfter.UTC().Format(time.RFC3339)}
	return show(res, nil, func(w io.Writer) {
		row(w, "CA certificate", res.Certificate)
		row(w, "CA key", res.Key+" (keep it offline: whoever holds it can mint node certificates)")
		row(w, "Subject", res.Subject)
		row(w, "Fingerprint", res.Fingerprint)
		row(w, "Expires", res.NotAfter)
		fmt.Fprintf(w, "\nIssue node certificates with: trustctl tls cert create --ca %s --node-id ID --host HOST --out DIR\n", dir)
	})
}

// certCreated describes the node certificate trustctl tls cert create
// wrote.
type certCreated struct {
	NodeID      string   `json:"nodeId"`
	Certificate string   `json:"certificate"`
	Key         string   `json:"key"`
	CA          string   `json:"ca"`
	Hosts       []string `json:"hosts"`
	Fingerprint string   `json:"fingerprint"`
	NotAfter    string   `json:"notAfter"`
}

func tlsCertCreate(fs *flag.FlagSet, c *cli) prepare {
	caDir := fs.String("ca", "", "the CA's `DIR`, holding ca.crt and ca.key (from trustctl tls ca create; required)")
	nodeID := fs.String("node-id", "", "the node's `ID`, its trustd --node-id (required)")
	var hosts stringList
	fs.Var(&hosts, "host", "a `HOST` (DNS name or IP address) the node is reached at (repeatable, or comma-separated); localhost, 127.0.0.1 and ::1 are always included")
	out := fs.String("out", "", "write ID.crt and ID.key into `DIR` (created if missing; required)")
	return func([]string) (call, error) {
		if err := required("--ca", *caDir, "--node-id", *nodeID, "--out", *out); err != nil {
			return nil, err
		}
		if !fsm.ValidID(*nodeID) {
			return nil, usagef("--node-id %q: use 1-%d letters, digits and - _ . : @ (not dots only), as trustd --node-id", *nodeID, fsm.MaxIDLen)
		}
		for _, h := range hosts {
			if !validHost(h) {
				return nil, usagef("--host %q: not a DNS name or an IP address", h)
			}
		}
		return func(context.Context, *client.Client) (*output, error) {
			return c.issueCert(*caDir, *nodeID, hosts, *out)
		}, nil
	}
}

// issueCert issues the certificate of nodeID for hosts from the CA in
// caDir and writes it and its key into dir.
func (c *cli) issueCert(caDir, nodeID string, hosts []string, dir string) (*output, error) {
	now := c.now()
	ca, caCertPath, err := loadCA(caDir, now)
	if err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, nodeID+".crt"), filepath.Join(dir, nodeID+".key")
	if err := refuseExisting(certPath, keyPath); err != nil {
		return nil, err
	}
	certPEM, key, err := ca.IssueNode(nodeID, hosts, now)
	if err != nil {
		return nil, fmt.Errorf("issue the certificate of %s: %w", nodeID, err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the key of %s: %w", nodeID, err)
	}
	cert, err := pki.ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	if err := writePair(dir, certPath, certPEM, keyPath, keyPEM); err != nil {
		return nil, err
	}
	res := certCreated{NodeID: nodeID, Certificate: certPath, Key: keyPath, CA: caCertPath, Hosts: certHosts(cert),
		Fingerprint: pki.Fingerprint(cert.Raw), NotAfter: cert.NotAfter.UTC().Format(time.RFC3339)}
	return show(res, nil, func(w io.Writer) {
		row(w, "Node", res.NodeID+" ("+pki.NodeURI(res.NodeID).String()+")")
		row(w, "Certificate", res.Certificate)
		row(w, "Key", res.Key)
		row(w, "Hosts", strings.Join(res.Hosts, ", "))
		row(w, "Fingerprint", res.Fingerprint)
		row(w, "Expires", res.NotAfter)
		fmt.Fprintf(w, "\nStart the node with: trustd --node-id %s --tls-cert-file %s --tls-key-file %s --tls-ca-file %s\n",
			res.NodeID, res.Certificate, res.Key, res.CA)
	})
}

// loadCA reads the CA trustctl tls ca create wrote into dir, refusing
// one that has expired by now; it returns the CA and its certificate's
// path.
func loadCA(dir string, now time.Time) (*pki.CA, string, error) {
	caCertPath, caKeyPath := filepath.Join(dir, tlsCACertFile), filepath.Join(dir, tlsCAKeyFile)
	caCert, err := os.ReadFile(caCertPath) // #nosec G304 -- the operator names the CA directory
	if err != nil {
		return nil, "", fmt.Errorf("--ca: read the CA certificate: %w", err)
	}
	caKey, err := os.ReadFile(caKeyPath) // #nosec G304 -- the operator names the CA directory
	if err != nil {
		return nil, "", fmt.Errorf("--ca: read the CA key: %w", err)
	}
	ca, err := pki.LoadCA(caCert, caKey)
	if err != nil {
		return nil, "", fmt.Errorf("--ca %s: %w", dir, err)
	}
	if now.After(ca.Cert.NotAfter) {
		return nil, "", fmt.Errorf("--ca %s: the CA expired on %s", dir, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return ca, caCertPath, nil
}

// certHosts lists a certificate's DNS and IP SANs.
func certHosts(cert *x509.Certificate) []string {
	out := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// validHost accepts an IP address or a DNS name (letters, digits, hyphens
// and dots; a leading "*." for a wildcard).
func validHost(h string) bool {
	h = strings.Trim(strings.TrimSpace(h), "[]")
	if net.ParseIP(h) != nil {
		return true
	}
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// printableText reports whether s holds printable characters only.
func printableText(s string) bool {
	for _, r := range s {
		if !printable(r) {
			return false
		}
	}
	return true
}

// refuseExisting fails when any of paths exists: trustctl tls never
// overwrites a certificate or a key.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: trustctl never overwrites certificates or keys; remove it or choose another --out", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("check %s: %w", p, err)
		}
	}
	return nil
}

// writePair writes a certificate (0644: it is public) and its key (0600)
// into dir, creating dir 0700 if needed; neither file may exist. On
// failure nothing is left behind.
func writePair(dir, certPath string, certPEM []byte, keyPath string, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return err
	}
	return nil
}

// writeNew creates path with perm and writes data, refusing to replace an
// existing file; a partial file is removed.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm) // #nosec G302 G304 -- the operator names the directory; perm is 0600 for keys, 0644 for public certificates
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
