package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultAddress is the address of a trustd node started on its defaults.
const DefaultAddress = "http://127.0.0.1:8470"

// Environment variables read by DefaultConfig.
const (
	// EnvAddr holds the node's URL, for example http://10.0.0.5:8470.
	EnvAddr = "TRUSTLEDGER_ADDR"
	// EnvToken holds the bearer token.
	EnvToken = "TRUSTLEDGER_TOKEN"
	// EnvTokenFile names a file holding the bearer token (used when
	// EnvToken is empty).
	EnvTokenFile = "TRUSTLEDGER_TOKEN_FILE"
	// EnvCACert names a PEM file of CA certificates to verify the server.
	EnvCACert = "TRUSTLEDGER_CACERT"
	// EnvClientCert and EnvClientKey name a PEM client certificate and key
	// for servers that ask for one.
	EnvClientCert = "TRUSTLEDGER_CLIENT_CERT"
	EnvClientKey  = "TRUSTLEDGER_CLIENT_KEY"
	// EnvCAFingerprint pins the cluster CA (TLSConfig.CAFingerprint).
	EnvCAFingerprint = "TRUSTLEDGER_CA_FINGERPRINT"
)

// Default timeouts used when Config leaves them zero.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultDialTimeout = 5 * time.Second
)

// Config configures a Client. The zero value is usable: it talks to
// DefaultAddress without a token.
type Config struct {
	// Address is the node's base URL (scheme, host and port). A bare
	// host:port is taken as http://host:port. Empty means DefaultAddress.
	Address string
	// Token is sent as "Authorization: Bearer <Token>".
	Token string
	// TokenFile is read for the token when Token is empty. Surrounding
	// white space is ignored.
	TokenFile string
	// HTTPClient, when set, is used as is: TLS, DialTimeout and
	// MaxIdleConnsPerHost are then ignored. Its own Timeout, if any, still
	// applies.
	HTTPClient *http.Client
	// Timeout bounds one request, unless the caller's context ends it
	// sooner. Blocking reads get their wait time on top. Zero means
	// DefaultTimeout; negative means no limit.
	Timeout time.Duration
	// DialTimeout bounds connecting to the node. Zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost is how many idle keep-alive connections to the
	// node are kept for reuse. Zero means net/http's default (2), which
	// suits a CLI; a client sending from many goroutines at once (a
	// gateway, a load generator) sets it to its concurrency so that every
	// request reuses a connection instead of opening one.
	MaxIdleConnsPerHost int
	// TLS configures https addresses.
	TLS TLSConfig
	// UserAgent is sent as User-Agent; empty means "trustledger-client".
	UserAgent string
}

// TLSConfig configures TLS to the node.
type TLSConfig struct {
	// CAFile is a PEM bundle of CA certificates; empty means the system
	// roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for nodes
	// that require client certificates.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
	// InsecureSkipVerify disables verification of the server's
	// certificate. For tests only.
	InsecureSkipVerify bool
	// CAFingerprint pins the cluster CA ("sha256:<hex>", see trustd's log
	// or GET /v1/cluster/ca): the server must present a certificate chain
	// that ends in a CA certificate with this SHA-256 fingerprint and whose
	// leaf that CA signed. Host names are not checked then: the pin is the
	// proof. CAFile and the system roots are not used.
	CAFingerprint string
	// ServerKeyFingerprint pins the server's public key ("sha256:<hex>"
	// of its SubjectPublicKeyInfo): a node that has not joined yet serves
	// a self-signed certificate of the key it asks the cluster to certify.
	// No chain or host name is checked then.
	ServerKeyFingerprint string
}

// DefaultConfig returns a Config filled from the environment:
// TRUSTLEDGER_ADDR, TRUSTLEDGER_TOKEN, TRUSTLEDGER_TOKEN_FILE,
// TRUSTLEDGER_CACERT, TRUSTLEDGER_CLIENT_CERT and TRUSTLEDGER_CLIENT_KEY.
func DefaultConfig() Config {
	return Config{
		Address:   envOr(EnvAddr, DefaultAddress),
		Token:     os.Getenv(EnvToken),
		TokenFile: os.Getenv(EnvTokenFile),
		TLS: TLSConfig{
			CAFile:        os.Getenv(EnvCACert),
			CertFile:      os.Getenv(EnvClientCert),
			KeyFile:       os.Getenv(EnvClientKey),
			CAFingerprint: os.Getenv(EnvCAFingerprint),
		},
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ParseAddress turns an address as users write it (a URL, or a bare
// host:port) into the base URL of a node's API.
func ParseAddress(addr string) (*url.URL, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		addr = DefaultAddress
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("address %q: scheme must be http or https", addr)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("address %q: no host", addr)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("address %q: must not have a query or fragment", addr)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// ReadTokenFile reads a token from a file, trimming white space.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the path is the operator's own choice of token file
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read token file %s: file is empty", path)
	}
	return tok, nil
}

func (c *Config) httpClient() (*http.Client, error) {
	if c.HTTPClient != nil {
		return c.HTTPClient, nil
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr = tr.Clone()
	dial := c.DialTimeout
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	tr.DialContext = (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext
	if c.MaxIdleConnsPerHost > 0 {
		tr.MaxIdleConnsPerHost = c.MaxIdleConnsPerHost
		tr.MaxIdleConns = max(tr.MaxIdleConns, c.MaxIdleConnsPerHost)
	}
	tlsConf, err := c.TLS.build()
	if err != nil {
		return nil, err
	}
	tr.TLSClientConfig = tlsConf
	return &http.Client{Transport: tr}, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, // #nosec G402 -- opt-in, documented as for tests only
	}
	if t.ServerKeyFingerprint != "" {
		want, err := normalizeFingerprint(t.ServerKeyFingerprint)
		if err != nil {
			return nil, err
		}
		conf.InsecureSkipVerify = true // #nosec G402 -- replaced by the key pin below
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server presented no certificate")
			}
			der, err := x509.MarshalPKIXPublicKey(cs.PeerCertificates[0].PublicKey)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(der)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != want {
				return fmt.Errorf("the server's key is %s, not the pinned %s", got, want)
			}
			return nil
		}
	} else if t.CAFingerprint != "" {
		if err := pinCA(conf, t.CAFingerprint); err != nil {
			return nil, err
		}
	} else if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile) // #nosec G304 -- the operator's own CA file
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates found", t.CAFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("client certificate: both a certificate and a key file are needed")
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// pinCA makes conf accept only servers whose chain ends in the CA with
// fingerprint fp (the SHA-256 of its DER bytes) and whose leaf it signed.
func pinCA(conf *tls.Config, fp string) error {
	want, err := normalizeFingerprint(fp)
	if err != nil {
		return err
	}
	// The chain is verified in VerifyConnection against the pinned CA.
	conf.InsecureSkipVerify = true // #nosec G402 -- replaced by the pinned-CA verification below
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		if len(certs) == 0 {
			return errors.New("the server presented no certificate")
		}
		var ca *x509.Certificate
		for _, c := range certs[1:] {
			sum := sha256.Sum256(c.Raw)
			if "sha256:"+hex.EncodeToString(sum[:]) == want {
				ca = c
			}
		}
		if ca == nil {
			return &PinError{Want: want, Got: chainFingerprints(certs)}
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return fmt.Errorf("the server's certificate does not chain to the pinned CA %s: %w", want, err)
		}
		return nil
	}
	return nil
}

// PinError: the server's certificate chain does not contain the pinned CA.
type PinError struct {
	Want string
	// Got are the fingerprints of the CA certificates the server sent.
	Got []string
}

func (e *PinError) Error() string {
	if len(e.Got) == 0 {
		return fmt.Sprintf("the server sent no CA certificate; the pinned cluster CA is %s", e.Want)
	}
	return fmt.Sprintf("the server's CA is %s, not the pinned cluster CA %s: this is not the cluster you meant (or someone is in between)",
		strings.Join(e.Got, ", "), e.Want)
}

func chainFingerprints(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs[1:] {
		sum := sha256.Sum256(c.Raw)
		out = append(out, "sha256:"+hex.EncodeToString(sum[:]))
	}
	return out
}

// normalizeFingerprint accepts "sha256:<hex>" or bare hex, colons
// allowed between bytes.
func normalizeFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return "sha256:" + h, nil
}
