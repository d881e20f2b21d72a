package clustertest

// Tools of the attack tests (attack_test.go): a cluster of trustd
// processes joined as an operator joins them, and what an attacker on the
// same host brings: a certificate authority of its own, a raw Raft
// transport, a memberlist node that advertises itself as a trustd node,
// and listeners that record everything the cluster sends them. They use
// only what every version of trustd has (the binaries, the HTTP API, the
// files of the data directory, raw hashicorp/raft and memberlist), so that
// the same tests run against a version without cluster identity.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/trustledger/trustledger/api/client"
)

// procCluster is a cluster of trustd processes on loopback: the first
// bootstraps, the others are joined with trustctl cluster join.
type procCluster struct {
	t         *testing.T
	bin       string
	procs     []*proc
	token     string
	tokenFile string
}

// sharedBinaries returns the directory of the trustd and trustctl
// binaries, built once for the test binary.
func sharedBinaries(t *testing.T) string { return buildBinaries(t) }

// newProcSpec describes trustd process id on fresh loopback ports.
func newProcSpec(t *testing.T, id string, extra ...string) *proc {
	t.Helper()
	p := &proc{id: id, dir: t.TempDir(), http: freeAddr(t), raft: freeAddr(t), gossip: freeAddr(t)}
	p.log = filepath.Join(p.dir, "trustd.log")
	p.args = append([]string{"--node-id", p.id, "--data-dir", p.dataDir(), "--http-addr", p.http,
		"--raft-addr", p.raft, "--gossip-addr", p.gossip, "--region", "us-east", "--log-level", "info"}, extra...)
	return p
}

func (p *proc) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *proc) url() string     { return "http://" + p.http }

// startProcCluster builds trustd and trustctl, starts n voters and waits
// until they form a cluster with a leader, every member alive in gossip.
// The processes are killed when the test ends (their logs printed if it
// failed).
func startProcCluster(t *testing.T, n int, extra ...string) *procCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds trustd and trustctl and runs trustd processes")
	}
	c := &procCluster{t: t, bin: sharedBinaries(t)}
	for i := 1; i <= n; i++ {
		args := extra
		if i > 1 {
			args = append([]string{"--bootstrap=false"}, extra...)
		}
		c.procs = append(c.procs, newProcSpec(t, fmt.Sprintf("n%d", i), args...))
	}
	c.watch(c.procs...)
	first := c.procs[0]
	c.tokenFile = filepath.Join(first.dataDir(), "admin.token")
	first.start(t, c.bin)
	waitFor(t, 30*time.Second, func() bool { _, err := os.Stat(c.tokenFile); return err == nil }, first.id+"'s admin token")
	tok, err := client.ReadTokenFile(c.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	c.token = tok
	for _, p := range c.procs[1:] {
		c.join(p)
	}
	pollUntil(t, 30*time.Second, func() bool {
		for _, p := range c.procs {
			v, err := c.client(p).Cluster(context.Background())
			if err != nil || v.Voters != n || v.LeaderID == "" {
				return false
			}
			for _, m := range v.Members {
				if m.Suffrage != "voter" || (n > 1 && m.Gossip != "alive") {
					return false
				}
			}
		}
		return true
	}, fmt.Sprintf("%d voters with a leader, all alive", n))
	return c
}

// join starts p and joins it to the cluster through the first node, as an
// operator does with trustctl cluster join.
func (c *procCluster) join(p *proc) {
	c.t.Helper()
	p.start(c.t, c.bin)
	pollUntil(c.t, 30*time.Second, func() bool { return c.client(p).Health(context.Background()) == nil }, p.id+" serves")
	out := ctl(c.t, c.bin, "--addr", c.procs[0].url(), "--token-file", c.tokenFile, "cluster", "join", "--node-id", p.id,
		"--raft-addr", p.raft, "--api-addr", p.url(), "--gossip-addr", p.gossip, "--region", "us-east")
	if !strings.Contains(out, "joined as a voter") {
		c.t.Fatalf("join %s: %s", p.id, out)
	}
}

// watch kills procs when the test ends, and prints their logs if it
// failed.
func (c *procCluster) watch(procs ...*proc) {
	c.t.Cleanup(func() {
		for _, p := range procs {
			p.proc.Kill(c.t)
			if c.t.Failed() {
				c.t.Logf("%s log:\n%s", p.id, p.tail())
			}
		}
	})
}

// client is an admin client of p.
func (c *procCluster) client(p *proc) *client.Client {
	cl, err := client.New(client.Config{Address: p.url(), Token: c.token, Timeout: 10 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

// raftState is what an attack on Raft must not change: per node, the
// leader, the term, the commit and applied indexes and the state digest.
type raftState map[string]string

// state reads every node's raftState (GET /v1/cluster and /v1/status with
// the admin token).
func (c *procCluster) state(ctx context.Context) (raftState, error) {
	out := raftState{}
	for _, p := range c.procs {
		cl := c.client(p)
		v, err := cl.Cluster(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET /v1/cluster on %s: %w", p.id, err)
		}
		st, _, err := cl.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET /v1/status on %s: %w", p.id, err)
		}
		out[p.id] = fmt.Sprintf("leader=%s term=%d commit=%d applied=%d digest=%.16s", v.LeaderID, v.Term, v.CommitIndex,
			st.AppliedIndex, st.Digest)
	}
	return out, nil
}

// settledState waits until every node reports the same leader, term,
// indexes and digest, and returns that state with the term and commit
// index.
func (c *procCluster) settledState(ctx context.Context) (st raftState, term, commit uint64, leader string) {
	c.t.Helper()
	defer func() {
		if c.t.Failed() {
			c.t.Logf("last state read: %v", st)
		}
	}()
	pollUntil(c.t, 20*time.Second, func() bool {
		var err error
		if st, err = c.state(ctx); err != nil {
			return false
		}
		first := st[c.procs[0].id]
		for _, s := range st {
			if s != first {
				return false
			}
		}
		v, err := c.client(c.procs[0]).Cluster(ctx)
		if err != nil {
			return false
		}
		term, commit, leader = v.Term, v.CommitIndex, v.LeaderID
		return leader != ""
	}, "every node at the same leader, term, indexes and digest")
	return st, term, commit, leader
}

// gossipKeys reads p's gossip keyring (identity/gossip.keys, base64 keys,
// the primary first); nil when the data directory has none (a trustd
// whose gossip runs without a key).
func (p *proc) gossipKeys(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir(), "identity", "gossip.keys"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for _, line := range strings.Fields(string(b)) {
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatalf("gossip.keys: %v (the file is sealed? the tests run without encryption at rest)", err)
		}
		keys = append(keys, k)
	}
	return keys
}

// caFingerprint is the fingerprint of p's cluster CA (identity/ca.crt),
// "" when it has none.
func (p *proc) caFingerprint(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir(), "identity", "ca.crt"))
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("identity/ca.crt is not PEM")
	}
	return fingerprint(blk.Bytes)
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pollUntil polls cond every 100 ms until it holds, failing the test
// after timeout.
func pollUntil(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		<-tick.C
	}
}

// foreignCA is a certificate authority that is not the cluster's: what an
// attacker can make.
type foreignCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newForeignCA(t *testing.T) *foreignCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trustledger cluster CA (attacker)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &foreignCA{cert: cert, key: key}
}

// fingerprint is the CA certificate's sha256 fingerprint.
func (ca *foreignCA) fingerprint() string { return fingerprint(ca.cert.Raw) }

// issue makes a certificate that names node id exactly as the cluster's
// node certificates do (URI SAN trustledger://node/<id>, CN id, loopback
// names, server and client use), signed by this CA, its chain included.
func (ca *foreignCA) issue(t *testing.T, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: id},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{{Scheme: "trustledger", Host: "node", Path: "/" + id}},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// foreignStream is a raft.StreamLayer over TLS that presents a certificate
// of the attacker's CA and accepts any server certificate.
type foreignStream struct {
	net.Listener
	cert tls.Certificate
}

func (s *foreignStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), &tls.Config{
		Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12,
		InsecureSkipVerify: true, // #nosec G402 -- the attacker accepts any server
	})
}

// newRaftAttacker is a hashicorp/raft network transport the test drives by
// hand: over plain TCP when cert is nil, else over TLS presenting cert.
func newRaftAttacker(t *testing.T, cert *tls.Certificate) raft.Transport {
	t.Helper()
	var tr *raft.NetworkTransport
	if cert == nil {
		var err error
		if tr, err = raft.NewTCPTransport("127.0.0.1:0", nil, 1, 3*time.Second, io.Discard); err != nil {
			t.Fatal(err)
		}
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tr = raft.NewNetworkTransport(&foreignStream{Listener: ln, cert: *cert}, 1, 3*time.Second, io.Discard)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// tcpSink is a listener that accepts connections, counts them and the
// bytes they carry, and answers nothing: a Raft address an attacker
// advertises.
type tcpSink struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	bytes int64
	wg    sync.WaitGroup
}

func newTCPSink(t *testing.T) *tcpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				n, _ := io.Copy(io.Discard, c)
				s.mu.Lock()
				s.bytes += n
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *tcpSink) addr() string { return s.ln.Addr().String() }

func (s *tcpSink) close() { _ = s.ln.Close(); s.wg.Wait() }

func (s *tcpSink) counts() (conns int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.bytes
}

// recorder is an HTTP listener registered as a member's API address. It
// records every byte it receives — on the wire, and decrypted when the
// client speaks TLS (it then presents a certificate of the attacker's CA
// for the member it poses as) — and answers every request with a status
// that looks like a member's.
type recorder struct {
	id   string
	ln   net.Listener
	conf *tls.Config
	wg   sync.WaitGroup

	mu                            sync.Mutex
	wire, clear                   bytes.Buffer
	conns, tlsConns, tlsRefused   int
	requests, withAuthorization   int
	firstRequest, firstAuthorized string
}

// newRecorder starts a recorder for member id that serves TLS with cert.
func newRecorder(t *testing.T, id string, cert tls.Certificate) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{id: id, ln: ln, conf: &tls.Config{Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.serve(c)
			}()
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *recorder) url() string { return "http://" + r.ln.Addr().String() }

func (r *recorder) close() { _ = r.ln.Close(); r.wg.Wait() }

// recordingConn records what is read from it.
type recordingConn struct {
	net.Conn
	r   io.Reader
	add func([]byte)
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.add(b[:n])
	return n, err
}

func (r *recorder) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r.mu.Lock()
	r.conns++
	r.mu.Unlock()
	wire := &recordingConn{Conn: c, r: c, add: func(b []byte) { r.mu.Lock(); r.wire.Write(b); r.mu.Unlock() }}
	br := bufio.NewReader(wire)
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	var conn net.Conn = &recordingConn{Conn: wire, r: br, add: func([]byte) {}}
	if first[0] == 0x16 { // a TLS handshake record
		tc := tls.Server(conn, r.conf)
		err := tc.Handshake()
		r.mu.Lock()
		r.tlsConns++
		if err != nil {
			r.tlsRefused++
		}
		r.mu.Unlock()
		if err != nil {
			return
		}
		conn = &recordingConn{Conn: tc, r: tc, add: func(b []byte) { r.mu.Lock(); r.clear.Write(b); r.mu.Unlock() }}
	}
	rd := bufio.NewReader(conn)
	for {
		req, err := http.ReadRequest(rd)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		line := req.Method + " " + req.URL.String()
		r.mu.Lock()
		r.requests++
		if r.firstRequest == "" {
			r.firstRequest = line
		}
		if req.Header.Get("Authorization") != "" {
			r.withAuthorization++
			if r.firstAuthorized == "" {
				r.firstAuthorized = line + " Authorization: " + req.Header.Get("Authorization")
			}
		}
		r.mu.Unlock()
		body := fmt.Sprintf(`{"nodeId":%q,"state":"follower","appliedIndex":1,"digest":"00","lastContact":1}`, r.id)
		if _, err := fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			return
		}
	}
}

// recording is what a recorder received.
type recording struct {
	conns, tlsConns, tlsRefused, requests, withAuthorization int
	firstRequest, firstAuthorized                            string
	wire, clear                                              []byte
}

func (r *recorder) recording() recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return recording{conns: r.conns, tlsConns: r.tlsConns, tlsRefused: r.tlsRefused, requests: r.requests,
		withAuthorization: r.withAuthorization, firstRequest: r.firstRequest, firstAuthorized: r.firstAuthorized,
		wire: bytes.Clone(r.wire.Bytes()), clear: bytes.Clone(r.clear.Bytes())}
}

// rogueMeta is trustd's gossiped node meta (cluster.encodeMeta): format
// byte 1, then the struct as a positional msgpack array.
type rogueMeta struct {
	APIAddr  string
	RaftAddr string
	Region   string
	Voter    bool
}

func encodeRogueMeta(t *testing.T, m rogueMeta) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte(1)
	enc := msgpack.NewEncoder(&b)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(&m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rogueGossip is a memberlist node that advertises itself as a trustd node
// without having joined through the API.
type rogueGossip struct {
	id   string
	ml   *memberlist.Memberlist
	meta []byte
}

func (g *rogueGossip) NodeMeta(int) []byte                 { return g.meta }
func (g *rogueGossip) NotifyMsg([]byte)                    {}
func (g *rogueGossip) GetBroadcasts(int, int) [][]byte     { return nil }
func (g *rogueGossip) LocalState(bool) []byte              { return nil }
func (g *rogueGossip) MergeRemoteState(buf []byte, _ bool) {}

// startRogueGossip starts memberlist node id on loopback, encrypted with
// keys (the first the primary) when there are any.
func startRogueGossip(t *testing.T, id string, keys [][]byte, meta rogueMeta) *rogueGossip {
	t.Helper()
	g := &rogueGossip{id: id, meta: encodeRogueMeta(t, meta)}
	mc := memberlist.DefaultLANConfig()
	mc.Name, mc.BindAddr, mc.BindPort = id, "127.0.0.1", 0
	mc.Delegate = g
	mc.Logger = log.New(io.Discard, "", 0)
	if len(keys) > 0 {
		ring, err := memberlist.NewKeyring(keys[1:], keys[0])
		if err != nil {
			t.Fatal(err)
		}
		mc.Keyring = ring
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	g.ml = ml
	t.Cleanup(func() { _ = ml.Shutdown() })
	return g
}

// join contacts the cluster's gossip at addrs.
func (g *rogueGossip) join(addrs []string) (int, error) { return g.ml.Join(addrs) }

// leave leaves the pool and stops.
func (g *rogueGossip) leave() {
	_ = g.ml.Leave(time.Second)
	_ = g.ml.Shutdown()
}

// operatorIdentity asks the member at apiAddr (host:port), with an
// operator token, for a node certificate for id from the cluster CA
// (POST /v1/cluster/identity, over TLS to the API port), as a holder of
// an operator token may. It returns the certificate with its key and CA
// chain, or an error when the member has no such route (a trustd without
// cluster identity).
func operatorIdentity(ctx context.Context, apiAddr, token, id string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: id},
		URIs: []*url.URL{{Scheme: "trustledger", Host: "node", Path: "/" + id}}}, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	body, err := json.Marshal(map[string]any{"nodeId": id, "voter": false,
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))})
	if err != nil {
		return tls.Certificate{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+apiAddr+"/v1/cluster/identity", bytes.NewReader(body))
	if err != nil {
		return tls.Certificate{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}} // #nosec G402 -- the attacker's own client
	resp, err := hc.Do(req)
	if err != nil {
		return tls.Certificate{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tls.Certificate{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return tls.Certificate{}, fmt.Errorf("POST /v1/cluster/identity answered %d: %.200s", resp.StatusCode, b)
	}
	var g struct {
		Certificate   string `json:"certificate"`
		CACertificate string `json:"caCertificate"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair([]byte(g.Certificate+g.CACertificate), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}
