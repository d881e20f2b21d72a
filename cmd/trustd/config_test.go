package main

import (
	"github.com/trustledger/trustledger/internal/testpki"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != "node1" || c.DataDir != "./trustledger-data" || c.HTTPAddr != "127.0.0.1:8470" ||
		c.RaftAddr != "127.0.0.1:8471" || c.GossipAddr != "127.0.0.1:8472" || c.Region != "local" ||
		!c.Voter || !c.bootstrap() || c.ShutdownTimeout != 15*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.explicit) != 0 {
		t.Fatalf("explicit settings without any given: %v", c.explicit)
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trustd.json")
	err := os.WriteFile(file, []byte(`{"nodeId": "from-file", "dataDir": "/file", "region": "eu", "voter": true,
		"httpAddr": "127.0.0.1:9000", "shutdownTimeout": "3s", "join": ["http://a:8470", "http://b:8470"], "tokenFile": "/run/operator.token"}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--config", file, "--region=us", "--bootstrap=false"},
		env(map[string]string{"TRUSTLEDGER_REGION": "ap", "TRUSTLEDGER_DATA_DIR": "/env"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"node id from the file", c.NodeID, "from-file"},
		{"data dir: env over file", c.DataDir, "/env"},
		{"region: flag over env", c.Region, "us"},
		{"http addr from the file", c.HTTPAddr, "127.0.0.1:9000"},
		{"raft addr default", c.RaftAddr, "127.0.0.1:8471"},
		{"join list", strings.Join(c.Join, " "), "http://a:8470 http://b:8470"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.bootstrap() || c.ShutdownTimeout != 3*time.Second || !c.explicit["node-id"] || c.explicit["raft-addr"] {
		t.Errorf("config %+v", c)
	}

	// TRUSTLEDGER_CONFIG names the file too.
	c, err = loadConfig(nil, env(map[string]string{"TRUSTLEDGER_CONFIG": file}), io.Discard)
	if err != nil || c.NodeID != "from-file" || c.bootstrap() {
		t.Fatalf("config from TRUSTLEDGER_CONFIG: %+v, %v", c, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"dataDir": "x", "colour": "blue"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad node id", []string{"--node-id", "a b"}, nil, "--node-id"},
		{"bad http addr", []string{"--http-addr", "localhost"}, nil, "--http-addr"},
		{"bad port", []string{"--raft-addr", "127.0.0.1:99999"}, nil, "--raft-addr"},
		{"same port", []string{"--gossip-addr", "127.0.0.1:8471"}, nil, "also used by --raft-addr"},
		{"wildcard without advertise", []string{"--raft-addr", "0.0.0.0:8471"}, nil, "--advertise: required"},
		{"join and bootstrap", []string{"--join", "http://a:8470", "--bootstrap"}, nil, "never bootstraps"},
		{"join not a url", []string{"--join", "a:8470"}, nil, "--join"},
		{"non-voter bootstrap", []string{"--voter=false"}, nil, "non-voter cannot bootstrap"},
		{"bad bool env", nil, map[string]string{"TRUSTLEDGER_VOTER": "maybe"}, "TRUSTLEDGER_VOTER"},
		{"bad duration", []string{"--shutdown-timeout", "soon"}, nil, "--shutdown-timeout"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"unknown file key", []string{"--config", bad}, nil, `unknown setting "colour"`},
		{"missing file", []string{"--config", filepath.Join(dir, "none.json")}, nil, "config file"},
		{"tls cert without key", []string{"--tls-cert-file", "c.pem"}, nil, "give both, or neither"},
		{"encryption key missing", nil, map[string]string{"TRUSTLEDGER_ENCRYPTION_KEY_FILE": filepath.Join(dir, "none.key")}, "--encryption-key-file"},
		{"unknown flag", []string{"--colour", "blue"}, nil, "unknown flag --colour"},
		{"stray argument", []string{"serve"}, nil, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestRaftAdvertise(t *testing.T) {
	for _, tc := range []struct{ advertise, raft, want string }{
		{"", "127.0.0.1:8471", ""},
		{"10.0.0.5", "0.0.0.0:8471", "10.0.0.5:8471"},
		{"node2.example", "0.0.0.0:9000", "node2.example:9000"},
		{"10.0.0.5:18471", "0.0.0.0:8471", "10.0.0.5:18471"},
		{"fd00::5", "[::]:8471", "[fd00::5]:8471"},
	} {
		c := defaultConfig()
		c.Advertise, c.RaftAddr = tc.advertise, tc.raft
		got, err := c.raftAdvertise()
		if err != nil || got != tc.want {
			t.Errorf("advertise %q raft %q: %q, %v; want %q", tc.advertise, tc.raft, got, err, tc.want)
		}
	}
	c := defaultConfig()
	c.Advertise = "0.0.0.0"
	if _, err := c.raftAdvertise(); err == nil {
		t.Error("a wildcard advertise address was accepted")
	}
}

func TestResolveNodeID(t *testing.T) {
	dir := t.TempDir()
	c := defaultConfig()
	c.DataDir = dir
	c.NodeID = "n7"
	if err := resolveNodeID(&c); err != nil {
		t.Fatal(err)
	}
	// Later starts without --node-id take the recorded id.
	d := defaultConfig()
	d.DataDir = dir
	if err := resolveNodeID(&d); err != nil || d.NodeID != "n7" {
		t.Fatalf("recorded id: %q, %v", d.NodeID, err)
	}
	// An explicit, different id is refused.
	e := defaultConfig()
	e.DataDir, e.NodeID, e.explicit["node-id"] = dir, "n8", true
	if err := resolveNodeID(&e); err == nil || !strings.Contains(err.Error(), `belongs to node "n7"`) {
		t.Fatalf("different id: %v", err)
	}
}

// With the operator's PKI, gossip on a network address needs the
// operator's key (or an explicit opt-out); with the cluster's own
// identity, the cluster makes one.
func TestConfigGossipNeedsKeyOffLoopback(t *testing.T) {
	ca := testpki.NewCA(t, "cluster")
	p := ca.Issue("node1")
	byo := []string{"--tls-cert-file", p.CertFile, "--tls-key-file", p.KeyFile, "--tls-ca-file", ca.CertFile}
	_, err := loadConfig(append([]string{"--gossip-addr", "0.0.0.0:8472", "--advertise", "10.0.0.2"}, byo...), env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "gossip-key-file") {
		t.Fatalf("unencrypted gossip on 0.0.0.0 with the operator's PKI: %v", err)
	}
	if _, err := loadConfig(append([]string{"--gossip-addr", "127.0.0.1:9472"}, byo...), env(nil), io.Discard); err != nil {
		t.Fatalf("loopback gossip without a key: %v", err)
	}
	if _, err := loadConfig([]string{"--gossip-addr", "0.0.0.0:8472", "--advertise", "10.0.0.2"}, env(nil), io.Discard); err != nil {
		t.Fatalf("gossip off loopback with the cluster's identity: %v", err)
	}
}

// The API serves plain HTTP only where nothing but the host reaches it.
func TestConfigAPITLSOffLoopback(t *testing.T) {
	for _, c := range []struct {
		args []string
		tls  bool
	}{
		{nil, false},
		{[]string{"--http-addr", "0.0.0.0:8470", "--advertise", "127.0.0.1"}, true},
		{[]string{"--http-addr", "10.0.0.2:8470"}, true},
		{[]string{"--http-addr", "127.0.0.1:8470", "--advertise", "10.0.0.2"}, true},
		{[]string{"--insecure"}, false},
	} {
		cfg, err := loadConfig(c.args, env(nil), io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := cfg.apiTLSOnly(); got != c.tls {
			t.Errorf("%v: TLS only %v, want %v", c.args, got, c.tls)
		}
	}
}

// --insecure is refused off loopback and beside the operator's PKI.
func TestConfigInsecureOnlyOnLoopback(t *testing.T) {
	if _, err := loadConfig([]string{"--insecure"}, env(nil), io.Discard); err != nil {
		t.Fatalf("--insecure on the loopback defaults: %v", err)
	}
	for _, args := range [][]string{
		{"--insecure", "--raft-addr", "10.0.0.2:8471"},
		{"--insecure", "--gossip-addr", "0.0.0.0:8472", "--advertise", "10.0.0.2"},
		{"--insecure", "--http-addr", "192.168.1.1:8470"},
		{"--insecure", "--advertise", "10.0.0.2"},
	} {
		if _, err := loadConfig(args, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := loadConfig([]string{"--ca-fingerprint", "sha256:xyz", "--join", "http://127.0.0.1:1", "--token", "t"}, env(nil), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--ca-fingerprint") {
		t.Errorf("a malformed fingerprint: %v", err)
	}
}

func TestConfigCluster(t *testing.T) {
	c, err := loadConfig([]string{"--join", "http://10.0.0.1:8470", "--token-file", "/run/op.token", "--advertise", "10.0.0.2",
		"--http-addr", "0.0.0.0:8470", "--raft-addr", "0.0.0.0:8471", "--gossip-addr", "0.0.0.0:8472", "--dead-server-grace", "72h",
		"--voter=false", "--region", "eu", "--gossip-insecure"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	gossip, _ := c.gossipAdvertise()
	raft, _ := c.raftAdvertise()
	bound := &net.TCPAddr{IP: net.IPv4zero, Port: 8470}
	if c.bootstrap() || c.Voter || c.DeadServerGrace != 72*time.Hour || gossip != "10.0.0.2:8472" || raft != "10.0.0.2:8471" ||
		c.apiURL(bound) != "https://10.0.0.2:8470" {
		t.Fatalf("config %+v gossip %s raft %s api %s", c, gossip, raft, c.apiURL(bound))
	}
	if tok, err := c.joinToken(); err == nil || tok != "" {
		t.Errorf("token from a missing file: %q %v", tok, err)
	}
	c, err = loadConfig([]string{"--join", "http://10.0.0.1:8470"}, env(map[string]string{"TRUSTLEDGER_TOKEN": "tl_x"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.joinToken(); err != nil || tok != "tl_x" {
		t.Errorf("token from the environment: %q %v", tok, err)
	}
	if c.apiURL(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}) != "http://127.0.0.1:9000" {
		t.Errorf("api url without --advertise: %s", c.apiURL(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9000}))
	}
	for _, bad := range [][]string{
		{"--join", "http://10.0.0.1:8470"},
		{"--http-addr", "0.0.0.0:8470"},
		{"--dead-server-grace", "-1s"},
	} {
		if _, err := loadConfig(bad, env(nil), io.Discard); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

func TestConfigGossipKey(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.key"), filepath.Join(dir, "bad.key")
	if err := os.WriteFile(good, []byte("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig([]string{"--gossip-key-file", good}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := c.gossipKey(); err != nil || len(key) != 32 {
		t.Fatalf("key: %d bytes, %v", len(key), err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing.key")} {
		if _, err := loadConfig([]string{"--gossip-key-file", f}, env(nil), io.Discard); err == nil {
			t.Errorf("%s accepted", f)
		}
	}
}

func TestConfigEncryptionKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.key", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w=\n")
	c, err := loadConfig([]string{"--encryption-key-file", good}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := c.encryptionKeys(); err != nil || len(keys) != 1 || len(keys[0]) != 32 {
		t.Fatalf("keys: %d, %v", len(keys), err)
	}
	// A keyring: the primary first, comments and blank lines ignored.
	ring := write("ring.key", "# new primary\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n# old\nq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w=\n")
	c, err = loadConfig([]string{"--encryption-key-file", ring}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := c.encryptionKeys(); err != nil || len(keys) != 2 || keys[0][31] != 31 || keys[1][0] != 0xab {
		t.Fatalf("ring: %d keys, %v", len(keys), err)
	}
	for _, tc := range []struct{ file, want string }{
		{write("empty.key", "# nothing yet\n\n"), "no key in the file"},
		{write("second-short.key", "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8w=\nq83vEjRWeJq83vEjRWeJqw==\n"), "line 2: the key is 16 bytes"},
		{write("short.key", "q83vEjRWeJq83vEjRWeJqw==\n"), "the key is 16 bytes; want 32"},
		{write("text.key", "not base64!\n"), "not base64"},
		{filepath.Join(dir, "missing.key"), "--encryption-key-file"},
	} {
		_, err := loadConfig([]string{"--encryption-key-file", tc.file}, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--encryption-key-file") {
			t.Errorf("%s: %v, want an error naming --encryption-key-file with %q", tc.file, err, tc.want)
		}
	}
}
