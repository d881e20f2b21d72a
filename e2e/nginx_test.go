package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/internal/testnet"
)

// nginxBinary is Debian's nginx, which .ci/run installs (and requires
// with TRUSTLEDGER_REQUIRE_NGINX=1); "" when it is not there.
func nginxBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("TRUSTLEDGER_REQUIRE_NGINX") == "1" {
		t.Fatal("nginx is required (TRUSTLEDGER_REQUIRE_NGINX=1) and not installed")
	}
	t.Log("nginx is not installed: the gateway example was not run through it (.ci/run installs it)")
	return ""
}

// The nginx configuration of docs/examples/nginx, as shipped (placeholders
// filled in), in front of a small application: principals at high,
// medium and degraded trust get 200 (the obligations reach the
// application), 401 with RFC 9470's step-up challenge, and 403; a
// principal header the client sends itself changes nothing; with trustd
// down, nginx fails closed (503, Retry-After).
func TestNginxGatewayExample(t *testing.T) {
	t.Parallel()
	bin := nginxBinary(t)
	if bin == "" {
		return
	}
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for id, base := range map[string]string{"ann": "90", "bob": "60", "eve": "20"} {
		if _, err := n.client.RegisterPrincipal(ctx, client.Registration{PrincipalID: id, PrincipalType: "user", BaseTrustScore: json.Number(base)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.client.SetPolicy(ctx, json.RawMessage(`{"decision": {"routes": [{"methods": ["POST"], "path": "/deploy/*", "action": "deploy"}]}}`)); err != nil {
		t.Fatal(err)
	}
	tok, err := n.client.CreateToken(ctx, client.TokenRequest{Role: client.RoleGateway, Description: "nginx"})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan http.Header, 16)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		fmt.Fprintln(w, "application answer")
	}))
	defer app.Close()

	listen := testnet.FreeAddr(t)
	conf := writeNginxConf(t, listen, n.httpAddr, strings.TrimPrefix(app.URL, "http://"), tok.Secret)
	cmd := exec.Command(bin, "-p", filepath.Dir(conf), "-c", conf, "-e", "stderr", // #nosec G204 -- nginx from PATH, the test's own configuration
		"-g", "daemon off; pid "+filepath.Join(filepath.Dir(conf), "nginx.pid")+";")
	logPath := filepath.Join(filepath.Dir(conf), "nginx.log")
	logFile, err := os.Create(logPath) // #nosec G304 -- the test's own directory
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// SIGTERM: the master stops its workers and exits.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath) // #nosec G304 -- the test's own file
			t.Logf("nginx output:\n%s", b)
		}
	}()
	waitListening(t, listen)

	get := func(method, user string, extra ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+listen+"/notes/1", nil)
		if user != "" {
			req.SetBasicAuth(user, "pw-"+user)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("through nginx: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	// DELETE is the action delete: permission write, high sensitivity.
	r := get("DELETE", "ann")
	if r.StatusCode != 200 || r.Header.Get("X-Trust-Decision") != "allow" || r.Header.Get("X-Trust-Decision-Id") == "" {
		t.Fatalf("ann (90): %d %v", r.StatusCode, r.Header)
	}
	select {
	case h := <-seen:
		if h.Get("X-Trust-Required-Aal") != "aal2" || h.Get("X-Trust-Session-Max") == "" || h.Get("X-Trust-Decision-Id") == "" ||
			h.Get("X-Authenticated-User") != "ann" || h.Get("Authorization") != "" {
			t.Fatalf("the application got obligations %v", h)
		}
	default:
		t.Fatal("an allowed request did not reach the application")
	}
	r = get("DELETE", "bob")
	if www := r.Header.Get("WWW-Authenticate"); r.StatusCode != 401 || r.Header.Get("X-Trust-Decision") != "step_up" ||
		r.Header.Get("X-Trust-Required-Aal") != "aal2" || !strings.Contains(www, `error="insufficient_user_authentication"`) ||
		!strings.Contains(www, `acr_values="aal2"`) {
		t.Fatalf("bob (60): %d %v", r.StatusCode, r.Header)
	}
	r = get("DELETE", "eve", "X-Trust-Principal", "ann", "X-Auth-Request-User", "ann", "X-Trust-Device-Compliant", "true",
		"X-Trust-Context", `{"device":{"compliant":true}}`)
	if r.StatusCode != 403 || r.Header.Get("X-Trust-Decision") != "deny" || !strings.Contains(r.Header.Get("X-Trust-Reasons"), "below_threshold") {
		t.Fatalf("eve (20), claiming to be ann: %d %v", r.StatusCode, r.Header)
	}
	// Nobody authenticated: nginx refuses before asking trustledger.
	if r = get("DELETE", "", "X-Trust-Principal", "ann", "X-Auth-Request-User", "ann"); r.StatusCode != 401 || r.Header.Get("X-Trust-Decision") != "" {
		t.Fatalf("an anonymous client naming ann: %d %v", r.StatusCode, r.Header)
	}
	// Dot segments and doubled slashes do not get around a route.
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+listen+"/public/../deploy/prod", nil)
	req.SetBasicAuth("bob", "pw-bob")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 || resp.Header.Get("X-Trust-Reasons") == "" {
		t.Fatalf("bob: POST /public/../deploy/prod: %v %v", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	if len(seen) != 0 {
		t.Fatal("a refused request reached the application")
	}

	n.kill()
	r = get("GET", "ann")
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" || len(seen) != 0 {
		t.Fatalf("with trustd down: %d %v; want nginx to fail closed with 503 and Retry-After", r.StatusCode, r.Header)
	}
}

// writeNginxConf fills in docs/examples/nginx/trustledger.conf and keeps
// nginx's files in a temporary prefix.
func writeNginxConf(t *testing.T, listen, trustd, app, token string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/examples/nginx/trustledger.conf")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is 0700, and nginx's workers (another user
	// when the test runs as root) must reach the password file.
	dir, err := os.MkdirTemp("", "trustledger-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// nginx reads {PLAIN} passwords (test users only). Its workers run
	// as another user when the test runs as root: they must be able to
	// read the file.
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("ann:{PLAIN}pw-ann\nbob:{PLAIN}pw-bob\neve:{PLAIN}pw-eve\n"), 0o644); err != nil { // #nosec G306 -- test passwords, read by nginx's workers
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // #nosec G302 -- the test's own directory, traversed by nginx's workers
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"listen 8080;", "listen " + listen + ";"},
		{"server 127.0.0.1:8470;", "server " + trustd + ";"},
		{"server APP_UPSTREAM;", "server " + app + ";"},
		{"auth_basic_user_file /etc/nginx/trustledger.htpasswd;", "auth_basic_user_file " + htpasswd + ";"},
		{"Bearer REPLACE_WITH_GATEWAY_TOKEN", "Bearer " + token},
		{"http {", "http {\n    client_body_temp_path " + dir + "/body;\n    proxy_temp_path " + dir + "/proxy;\n" +
			"    fastcgi_temp_path " + dir + "/fastcgi;\n    uwsgi_temp_path " + dir + "/uwsgi;\n    scgi_temp_path " + dir + "/scgi;\n"},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("docs/examples/nginx/trustledger.conf has no %q", r[0])
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
