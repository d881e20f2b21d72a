package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// SSF event types the jose receiver is sent.
const (
	joseVerification    = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	joseRiskLevelChange = "https://schemas.openid.net/secevent/caep/event-type/risk-level-change"
	joseTrustAssessment = "https://trustledger.dev/secevent/trust-assessment"
)

// receiverLine is one JSON line testdata/ssf-jose/receiver.mjs prints.
type receiverLine struct {
	Event string `json:"event"`
	Error string `json:"error"`
	// discovered, keys
	Issuer string `json:"issuer"`
	Jose   string `json:"jose"`
	Node   string `json:"node"`
	Keys   []struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	} `json:"keys"`
	// stream and set
	Via      string          `json:"via"`
	StreamID string          `json:"stream_id"`
	Aud      json.RawMessage `json:"aud"`
	// set
	Duplicate bool              `json:"duplicate"`
	JTI       string            `json:"jti"`
	Iss       string            `json:"iss"`
	Type      string            `json:"type"`
	SubID     map[string]string `json:"sub_id"`
	Payload   map[string]any    `json:"payload"`
	Alg       string            `json:"alg"`
	Kid       string            `json:"kid"`
	// negative-checks
	Rejected []string `json:"rejected"`
}

// TestSSFJoseReceiver runs an SSF receiver of another implementation
// against a real trustd: testdata/ssf-jose/receiver.mjs, which verifies
// every SET with the npm jose library (.ci/run installs the version
// package.json pins, sets TRUSTLEDGER_JOSE to the directory holding its
// node_modules and TRUSTLEDGER_REQUIRE_JOSE=1; elsewhere the test skips
// without node or jose). The receiver discovers the transmitter from its
// well-known URL, creates a push stream to a server of its own and a poll
// stream with a receiver token, and verifies both; then a principal's
// violation must reach it on both streams as a risk-level-change and a
// trust-assessment it could verify. Any SET it cannot verify makes it exit
// non-zero, and the test fail.
func TestSSFJoseReceiver(t *testing.T) {
	t.Parallel()
	required := os.Getenv("TRUSTLEDGER_REQUIRE_JOSE") == "1"
	joseDir := os.Getenv("TRUSTLEDGER_JOSE")
	nodeBin, nerr := exec.LookPath("node")
	installed, jerr := installedJose(joseDir)
	if nerr != nil || jerr != nil {
		msg := fmt.Sprintf("the jose receiver test needs node (%v) and jose in $TRUSTLEDGER_JOSE=%q/node_modules (%v); .ci/run installs both", nerr, joseDir, jerr)
		if required {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	pinned, err := pinnedJose()
	if err != nil {
		t.Fatal(err)
	}
	if installed != pinned {
		if required {
			t.Fatalf("$TRUSTLEDGER_JOSE holds jose %s, testdata/ssf-jose/package.json pins %s: keep .ci/run's JOSE_VERSION and the pin the same", installed, pinned)
		}
		t.Logf("jose %s, not the %s testdata/ssf-jose/package.json pins", installed, pinned)
	}
	script, err := filepath.Abs("testdata/ssf-jose/receiver.mjs")
	if err != nil {
		t.Fatal(err)
	}

	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt, err := n.client.CreateToken(ctx, client.TokenRequest{Role: "receiver", Description: "jose SSF receiver (e2e)"})
	if err != nil {
		t.Fatal(err)
	}
	const principal = "jose-alice"
	wellKnown := n.url() + "/.well-known/ssf-configuration"
	cmd := exec.CommandContext(ctx, nodeBin, script, wellKnown, principal) // #nosec G204 -- node from PATH, the test's own script
	cmd.Env = cleanEnv("SSF_TOKEN="+rt.Secret, "TRUSTLEDGER_JOSE="+joseDir, "SSF_TIMEOUT_MS=150000")
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Lines as they come, and the exit once stdout is closed.
	var (
		mu  sync.Mutex
		raw []string
	)
	linec := make(chan receiverLine, 1024)
	exitc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			mu.Lock()
			raw = append(raw, sc.Text())
			mu.Unlock()
			var l receiverLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = receiverLine{Event: "unparsed", Error: sc.Text()}
			}
			linec <- l
		}
		close(linec)
		exitc <- cmd.Wait()
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(raw, "\n")
	}
	defer func() {
		cancel() // ends the receiver if it still runs
		if t.Failed() {
			t.Logf("receiver stdout:\n%s\nreceiver stderr:\n%s", output(), stderr.String())
		}
	}()

	var got []receiverLine
	// readUntil collects lines until stop says so, the receiver exits or d
	// passes; it returns whether stop did.
	readUntil := func(d time.Duration, stop func(receiverLine) bool) (bool, error) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		for {
			select {
			case l, ok := <-linec:
				if !ok {
					return false, <-exitc
				}
				got = append(got, l)
				if stop != nil && stop(l) {
					return true, nil
				}
			case <-timer.C:
				return false, fmt.Errorf("no answer within %s", d)
			}
		}
	}

	// The streams are created and verified: now the events.
	ready, err := readUntil(90*time.Second, func(l receiverLine) bool { return l.Event == "ready" })
	if !ready {
		t.Fatalf("the receiver did not report its streams created and verified (%v)", exitErr(err, &stderr))
	}
	if _, err := n.client.RegisterPrincipal(ctx, client.Registration{PrincipalID: principal, PrincipalType: "user", BaseTrustScore: "95"}); err != nil {
		t.Fatal(err)
	}
	res, err := n.client.SendSignals(ctx, []client.Signal{{EventID: "ssf-jose-violation", PrincipalID: principal,
		Event: "policy_violation", Category: "behavior", Impact: "-60"}})
	if err != nil {
		t.Fatal(err)
	}
	if acc, _, _ := res.Counts(); acc != 1 {
		t.Fatalf("signal results %+v", res.Results)
	}
	if _, err := readUntil(30*time.Second, nil); err != nil {
		t.Fatalf("the receiver, after the violation: %v", exitErr(err, &stderr))
	}

	// It exited 0: what it saw must also be what the ledger says.
	rec, _, err := n.client.GetPrincipal(ctx, principal, nil)
	if err != nil {
		t.Fatal(err)
	}
	var (
		disc     receiverLine
		streams  = map[string]receiverLine{}
		sets     = map[string][]receiverLine{}
		negative []string
		done     bool
	)
	for _, l := range got {
		switch l.Event {
		case "discovered":
			disc = l
		case "keys":
			disc.Keys = l.Keys
		case "stream":
			streams[l.Via] = l
		case "set":
			if !l.Duplicate {
				sets[l.Via] = append(sets[l.Via], l)
			}
		case "negative-checks":
			negative = l.Rejected
		case "done":
			done = true
		case "error", "unparsed":
			t.Errorf("receiver: %s", l.Error)
		}
	}
	if !done {
		t.Fatal("the receiver exited 0 without reporting done")
	}
	if disc.Issuer != n.url() || disc.Jose != installed {
		t.Errorf("discovered issuer %q with jose %q; want %q and %q", disc.Issuer, disc.Jose, n.url(), installed)
	}
	kids := map[string]string{}
	for _, k := range disc.Keys {
		kids[k.Kid] = k.Alg
	}
	if len(negative) != 4 {
		t.Errorf("negative checks %v: jose must have refused four altered SETs", negative)
	}
	t.Logf("jose %s on node %s: push %d SETs, poll %d SETs; refused altered SETs: %s", disc.Jose, disc.Node,
		len(sets["push"]), len(sets["poll"]), strings.Join(negative, ", "))
	for _, via := range []string{"push", "poll"} {
		st, ok := streams[via]
		if !ok {
			t.Errorf("no %s stream reported", via)
			continue
		}
		var types []string
		for _, s := range sets[via] {
			if s.StreamID != st.StreamID || s.Iss != disc.Issuer || !bytes.Equal(s.Aud, st.Aud) {
				t.Errorf("%s SET %s: stream %s, iss %s, aud %s; the stream is %s with aud %s", via, s.JTI, s.StreamID, s.Iss, s.Aud, st.StreamID, st.Aud)
			}
			if s.Alg != "RS256" || kids[s.Kid] != s.Alg {
				t.Errorf("%s SET %s: alg %s, kid %s (a %q key of the JWKS); want RS256, trustd's default", via, s.JTI, s.Alg, s.Kid, kids[s.Kid])
			}
			if !strings.HasPrefix(s.JTI, st.StreamID+"-") {
				t.Errorf("%s SET jti %q is not of stream %s", via, s.JTI, st.StreamID)
			}
			switch {
			case s.Type == joseVerification:
				if s.SubID["id"] != st.StreamID {
					t.Errorf("%s verification sub_id %v", via, s.SubID)
				}
			case s.SubID["id"] != principal:
				t.Errorf("%s SET %s about %v", via, s.JTI, s.SubID)
			case s.Type == joseRiskLevelChange:
				if s.Payload["current_level"] != "HIGH" || s.Payload["previous_level"] != "LOW" || s.Payload["principal"] != "USER" {
					t.Errorf("%s risk-level-change %v, want LOW → HIGH for a USER", via, s.Payload)
				}
			case s.Type == joseTrustAssessment:
				if score, _ := s.Payload["score"].(float64); int64(score) != rec.TrustScore || s.Payload["level"] != rec.TrustLevel {
					t.Errorf("%s trust-assessment %v; the record is %d %s", via, s.Payload, rec.TrustScore, rec.TrustLevel)
				}
			}
			types = append(types, s.Type)
		}
		// A push stream is delivered in order; a poll answer is a JSON
		// object, whose SETs have none.
		want := []string{joseVerification, joseRiskLevelChange, joseTrustAssessment}
		if via == "poll" {
			slices.Sort(types)
			slices.Sort(want)
		}
		if !slices.Equal(types, want) {
			t.Errorf("%s stream: SETs %v, want %v", via, types, want)
		}
	}
}

// exitErr describes how the receiver ended: its exit status and the end of
// its stderr.
func exitErr(err error, stderr *bytes.Buffer) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Sprintf("exit status %d: %s", ee.ExitCode(), tail(stderr.String(), 10))
	}
	if err == nil {
		return "it exited 0"
	}
	return err.Error()
}

// installedJose is the version of jose installed in dir/node_modules.
func installedJose(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("not set")
	}
	return packageVersion(filepath.Join(dir, "node_modules", "jose", "package.json"), "version")
}

// pinnedJose is the jose version testdata/ssf-jose/package.json pins.
func pinnedJose() (string, error) {
	return packageVersion("testdata/ssf-jose/package.json", "dependencies")
}

// packageVersion reads a package.json: its version, or the jose version
// among its dependencies.
func packageVersion(path, member string) (string, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the test's own files and the jose it is pointed at
	if err != nil {
		return "", err
	}
	var pkg struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	v := pkg.Version
	if member == "dependencies" {
		v = pkg.Dependencies["jose"]
	}
	if v == "" {
		return "", fmt.Errorf("%s: no %s", path, member)
	}
	return v, nil
}
