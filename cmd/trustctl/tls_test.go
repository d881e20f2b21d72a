package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api"
	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/cluster"
	"github.com/trustledger/trustledger/internal/pki"
	"github.com/trustledger/trustledger/internal/testnet"
	"github.com/trustledger/trustledger/internal/testnode"
	"github.com/trustledger/trustledger/internal/testpki"
)

// mustCLI runs trustctl in-process, on the real clock (certificates must
// be valid now), and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, &errOut)
	if code := c.run(context.Background(), args); code != exitOK {
		t.Fatalf("trustctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

// mintPKI makes a CA in dir/ca and node certificates for ids in dir/certs
// with trustctl tls, and returns the two directories.
func mintPKI(t *testing.T, dir string, ids ...string) (caDir, certDir string) {
	t.Helper()
	caDir, certDir = filepath.Join(dir, "ca"), filepath.Join(dir, "certs")
	mustCLI(t, "tls", "ca", "create", "--out", caDir, "--name", "Test Operator CA")
	for _, id := range ids {
		mustCLI(t, "tls", "cert", "create", "--ca", caDir, "--node-id", id, "--host", id+".example.test", "--out", certDir)
	}
	return caDir, certDir
}

func filePerm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// trustctl tls ca create and tls cert create write a CA and node
// certificates that name the node id as trustledger peers check it, with
// the keys 0600, and say so in JSON.
func TestTLSCreateCAAndCert(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	var ca caCreated
	if err := json.Unmarshal([]byte(mustCLI(t, "tls", "ca", "create", "--out", caDir, "--name", "Acme CA", "-o", "json")), &ca); err != nil {
		t.Fatal(err)
	}
	if ca.Certificate != filepath.Join(caDir, "ca.crt") || ca.Key != filepath.Join(caDir, "ca.key") || ca.Subject != "Acme CA" {
		t.Fatalf("ca create answered %+v", ca)
	}
	if p := filePerm(t, ca.Key); p != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", p)
	}
	caPEM, err := os.ReadFile(ca.Certificate) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := pki.ParseCert(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !caCert.IsCA || pki.Fingerprint(caCert.Raw) != ca.Fingerprint {
		t.Fatalf("ca.crt: IsCA %v, fingerprint %s, answered %s", caCert.IsCA, pki.Fingerprint(caCert.Raw), ca.Fingerprint)
	}

	out := filepath.Join(dir, "certs")
	var cc certCreated
	if err := json.Unmarshal([]byte(mustCLI(t, "tls", "cert", "create", "--ca", caDir, "--node-id", "node-2",
		"--host", "node-2.example.test", "--host", "10.1.2.3,node2.internal", "--out", out, "-o", "json")), &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Certificate != filepath.Join(out, "node-2.crt") || cc.Key != filepath.Join(out, "node-2.key") || cc.NodeID != "node-2" {
		t.Fatalf("cert create answered %+v", cc)
	}
	if p := filePerm(t, cc.Key); p != 0o600 {
		t.Errorf("node-2.key mode %v, want 0600", p)
	}
	pair, err := tls.LoadX509KeyPair(cc.Certificate, cc.Key)
	if err != nil {
		t.Fatalf("the certificate and key do not load as a pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.NodeID(leaf); err != nil || id != "node-2" || leaf.Subject.CommonName != "node-2" {
		t.Errorf("node id %q (%v), common name %q; want node-2 for both", id, err, leaf.Subject.CommonName)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "trustledger://node/node-2" {
		t.Errorf("URI SANs %v, want trustledger://node/node-2", leaf.URIs)
	}
	for _, h := range []string{"node-2.example.test", "node2.internal", "localhost", "10.1.2.3", "127.0.0.1"} {
		if !slices.Contains(cc.Hosts, h) {
			t.Errorf("hosts %v lack %s", cc.Hosts, h)
		}
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("the certificate is not valid for %s: %v", h, err)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if id, _, err := pki.VerifyNode(pair.Certificate, roots, usage, false, time.Now()); err != nil || id != "node-2" {
			t.Errorf("as a peer (usage %v): node %q, %v", usage, id, err)
		}
	}
	if pki.Fingerprint(leaf.Raw) != cc.Fingerprint {
		t.Errorf("fingerprint %s, answered %s", pki.Fingerprint(leaf.Raw), cc.Fingerprint)
	}

	// The table form names the files and the trustd flags that take them.
	table := mustCLI(t, "tls", "cert", "create", "--ca", caDir, "--node-id", "node-3", "--out", out)
	for _, want := range []string{"trustledger://node/node-3", filepath.Join(out, "node-3.crt"),
		"--tls-cert-file " + filepath.Join(out, "node-3.crt"), "--tls-ca-file " + filepath.Join(caDir, "ca.crt")} {
		if !strings.Contains(table, want) {
			t.Errorf("table output lacks %q:\n%s", want, table)
		}
	}
}

// Mistakes are usage errors (exit 2) or errors (exit 1) that say what to
// do, and nothing is ever overwritten.
func TestTLSCreateRefuses(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	caDir, certDir := mintPKI(t, dir, "n1")
	keyBefore, err := os.ReadFile(filepath.Join(caDir, "ca.key")) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ca without --out", []string{"tls", "ca", "create"}, exitUsage, "--out is required"},
		{"ca over an existing one", []string{"tls", "ca", "create", "--out", caDir}, exitError, "never overwrites"},
		{"ca with a control character", []string{"tls", "ca", "create", "--out", filepath.Join(dir, "x"), "--name", "bad\x1b[2J"}, exitUsage, "--name"},
		{"cert without flags", []string{"tls", "cert", "create"}, exitUsage, "--ca, --node-id, --out required"},
		{"cert over an existing one", []string{"tls", "cert", "create", "--ca", caDir, "--node-id", "n1", "--out", certDir}, exitError, "never overwrites"},
		{"cert with a bad node id", []string{"tls", "cert", "create", "--ca", caDir, "--node-id", "../n1", "--out", certDir}, exitUsage, "--node-id"},
		{"cert with a dot-only node id", []string{"tls", "cert", "create", "--ca", caDir, "--node-id", "..", "--out", certDir}, exitUsage, "--node-id"},
		{"cert with a bad host", []string{"tls", "cert", "create", "--ca", caDir, "--node-id", "n2", "--host", "a b", "--out", certDir}, exitUsage, "--host"},
		{"cert from a missing CA", []string{"tls", "cert", "create", "--ca", filepath.Join(dir, "none"), "--node-id", "n2", "--out", certDir}, exitError, "read the CA certificate"},
		{"cert from a CA whose key is another's", nil, exitError, "does not belong"},
	}
	// A CA directory whose key does not match its certificate.
	other := filepath.Join(dir, "other")
	mustCLI(t, "tls", "ca", "create", "--out", other)
	mixed := filepath.Join(dir, "mixed")
	if err := os.MkdirAll(mixed, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, from := range map[string]string{"ca.crt": caDir, "ca.key": other} {
		b, err := os.ReadFile(filepath.Join(from, name)) // #nosec G304 -- the test's own file
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mixed, name), b, 0o600); err != nil { // #nosec G703 -- the test's own temporary directory
			t.Fatal(err)
		}
	}
	cases[len(cases)-1].args = []string{"tls", "cert", "create", "--ca", mixed, "--node-id", "n2", "--out", certDir}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI("", c.args...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, want %d; stderr lacks %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
		})
	}
	if keyAfter, err := os.ReadFile(filepath.Join(caDir, "ca.key")); err != nil || !bytes.Equal(keyAfter, keyBefore) { // #nosec G304 -- the test's own file
		t.Error("the CA key changed")
	}
	if _, err := os.Stat(filepath.Join(certDir, "n2.key")); err == nil {
		t.Error("a refused cert create left a key behind")
	}
}

// trustdProc is a trustd process started by a test.
type trustdProc struct {
	id, dir, http, raft, gossip string
	proc                        testnode.Process
}

// loopbackAddr is testnet.FreeAddr.
func loopbackAddr(t *testing.T) string { return testnet.FreeAddr(t) }

// Certificates from trustctl tls are usable as they are with trustd
// --tls-cert-file, --tls-key-file and --tls-ca-file: two trustd processes
// started with them serve HTTPS verified against the CA, form a cluster
// over mutual TLS (Raft checks the node id each certificate names) with
// trustctl cluster join, and replicate a write.
func TestTLSCertsRunTrustd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds trustd and runs two processes")
	}
	clearEnv(t)
	trustdBin := testnode.Binaries(t).Trustd
	dir := t.TempDir()
	caDir, certDir := mintPKI(t, dir, "n1", "n2")
	caFile := filepath.Join(caDir, "ca.crt")

	var procs []*trustdProc
	t.Cleanup(func() {
		for _, p := range procs {
			p.proc.Kill(t)
			if t.Failed() {
				t.Logf("%s log:\n%s", p.id, p.proc.Output())
			}
		}
	})
	start := func(id string, bootstrap bool) *trustdProc {
		p := &trustdProc{id: id, dir: t.TempDir(), http: loopbackAddr(t), raft: loopbackAddr(t), gossip: loopbackAddr(t)}
		p.proc = testnode.Process{Name: id, Bin: trustdBin, Log: filepath.Join(p.dir, "trustd.log"),
			Args: []string{"--node-id", id, "--data-dir", filepath.Join(p.dir, "data"), "--http-addr", p.http,
				"--raft-addr", p.raft, "--gossip-addr", p.gossip, "--bootstrap=" + fmt.Sprint(bootstrap),
				"--tls-cert-file", filepath.Join(certDir, id+".crt"), "--tls-key-file", filepath.Join(certDir, id+".key"),
				"--tls-ca-file", caFile}}
		p.proc.Start(t)
		procs = append(procs, p)
		return p
	}
	httpsClient := func(p *trustdProc, token string) *client.Client {
		cl, err := client.New(client.Config{Address: "https://" + p.http, Token: token, Timeout: 10 * time.Second,
			TLS: client.TLSConfig{CAFile: caFile}})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(60 * time.Second); !cond(); <-tick.C {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			for _, p := range procs {
				if !p.proc.Running() {
					t.Fatalf("%s exited while waiting for %s: %v", p.id, what, p.proc.Err())
				}
			}
		}
	}

	n1 := start("n1", true)
	tokenFile := filepath.Join(n1.dir, "data", "admin.token")
	eventually("n1's admin token", func() bool { _, err := os.Stat(tokenFile); return err == nil })
	token, err := client.ReadTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	// HTTPS with the certificate trustctl minted, verified against its CA.
	eventually("n1 serves HTTPS", func() bool { return httpsClient(n1, "").Health(context.Background()) == nil })
	n2 := start("n2", false)
	eventually("n2 serves HTTPS", func() bool { return httpsClient(n2, "").Health(context.Background()) == nil })

	global := []string{"--addr", "https://" + n1.http, "--ca-cert", caFile, "--token-file", tokenFile}
	out := mustCLI(t, append(global, "cluster", "join", "--node-id", "n2", "--raft-addr", n2.raft,
		"--api-addr", "https://"+n2.http, "--gossip-addr", n2.gossip)...)
	if !strings.Contains(out, "joined as a voter") {
		t.Fatalf("join n2: %s", out)
	}
	mustCLI(t, append(global, "principal", "register", "alice", "--type", "user")...)
	st1, _, err := httpsClient(n1, token).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Raft over the operator's mutual TLS carries the write to n2.
	eventually("n2 applies n1's writes", func() bool {
		st2, _, err := httpsClient(n2, token).Status(context.Background())
		return err == nil && st2.AppliedIndex >= st1.AppliedIndex && st2.Digest != "" &&
			(st2.AppliedIndex != st1.AppliedIndex || st2.Digest == st1.Digest)
	})
	v, err := httpsClient(n1, token).Cluster(context.Background())
	if err != nil || v.Voters != 2 {
		t.Fatalf("cluster view: %+v, %v", v, err)
	}
}

// trustctl cluster ca prints the fingerprint and certificate a node
// publishes, and trustctl cluster gossip-key rotate replaces the gossip
// key, naming key ids only.
func TestClusterCAAndGossipKeyAgainstNode(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	clearEnv(t)
	addr, token := startNode(t)
	global := []string{"--addr", addr, "--token", token}

	var ca clusterCAView
	if err := json.Unmarshal([]byte(mustCLI(t, append(global, "cluster", "ca", "-o", "json")...)), &ca); err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCert([]byte(ca.Certificate))
	if err != nil || pki.Fingerprint(cert.Raw) != ca.Fingerprint || !cert.IsCA || ca.Subject == "" {
		t.Fatalf("cluster ca: %+v (%v)", ca, err)
	}
	table := mustCLI(t, append(global, "cluster", "ca")...)
	if !strings.Contains(table, ca.Fingerprint) || !strings.Contains(table, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("cluster ca table:\n%s", table)
	}

	var first, second gossipKeyRotation
	if err := json.Unmarshal([]byte(mustCLI(t, append(global, "cluster", "gossip-key", "rotate", "-o", "json")...)), &first); err != nil {
		t.Fatal(err)
	}
	if len(first.Primary) != 8 || !slices.Equal(first.Members, []string{"node1"}) || len(first.Previous) != 1 || first.Previous[0] == first.Primary {
		t.Fatalf("first rotation: %+v", first)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, append(global, "cluster", "gossip-key", "rotate", "-o", "json")...)), &second); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(second.Previous, []string{first.Primary}) || second.Primary == first.Primary {
		t.Fatalf("second rotation %+v after %+v", second, first)
	}
	table = mustCLI(t, append(global, "cluster", "gossip-key", "rotate")...)
	if !strings.Contains(table, "Gossip key rotated") || !strings.Contains(table, second.Primary) {
		t.Errorf("rotate table:\n%s", table)
	}
}

// A rotation the leader undid is an error that names the members.
func TestClusterGossipKeyRotateFails(t *testing.T) {
	clearEnv(t)
	addr, got := fakeServer(t, map[string]answer{
		"POST /v1/cluster/gossip-key/rotate": {503, `{"type":"https://trustledger.dev/problems/unavailable","title":"Node unavailable","status":503,` +
			`"code":"members_unreachable","detail":"the new gossip key could not be added on n3 (connection refused); the rotation was undone and the keys are unchanged"}`},
	})
	code, out, errOut := runCLI("", "--addr", addr, "--token", "t", "cluster", "gossip-key", "rotate")
	if code != exitError || !strings.Contains(errOut, "n3 (connection refused)") || !strings.Contains(errOut, "undone") {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if len(*got) != 1 || (*got)[0].method != "POST" || string((*got)[0].body) != "{}" {
		t.Fatalf("requests: %+v", *got)
	}
	code, _, errOut = runCLI("", "--addr", addr, "cluster", "gossip-key", "rotate", "extra")
	if code != exitUsage || !strings.Contains(errOut, "too many arguments") {
		t.Fatalf("extra argument: exit %d: %s", code, errOut)
	}
}

// A client certificate the node does not use (from a CA that is neither
// the cluster's nor a configured client CA) is not dropped silently: the
// answer says so and trustctl warns; without one, no warning.
func TestForeignClientCertificateIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	clearEnv(t)
	a := testAPI()
	a.Listener = func(ln net.Listener, node *cluster.Node) net.Listener {
		return api.NewListener(ln, node.APIServerTLS(), true)
	}
	cfg := testnode.Config(t, "node1", filepath.Join(t.TempDir(), "data"))
	cfg.RaftAddr, cfg.Bootstrap = testnet.FreeAddr(t), true
	m := testnode.NewMember(t, cfg, testnet.FreeAddr(t), a)
	node := m.Start()
	testnode.WaitLeader(t, node)
	token := a.NewAdminToken(t, node, t.TempDir())
	_, pin := node.ClusterCA()
	foreign := testpki.NewCA(t, "elsewhere").Issue("alice")
	base := []string{"--addr", "https://" + m.HTTPAddr, "--token", token, "--ca-fingerprint", pin, "status"}
	code, _, errb := runCLI("", append([]string{"--client-cert", foreign.CertFile, "--client-key", foreign.KeyFile}, base...)...)
	if code != 0 || !strings.Contains(errb, "Warning: trustd did not use --client-cert (ignored: not from the cluster CA") {
		t.Fatalf("a foreign client certificate: exit %d, stderr %q", code, errb)
	}
	if code, _, errb = runCLI("", base...); code != 0 || strings.Contains(errb, "Warning") {
		t.Fatalf("no client certificate: exit %d, stderr %q", code, errb)
	}
}
