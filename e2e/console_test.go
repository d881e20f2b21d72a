package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// The console in headless Chromium (Debian's chromium, driven by npm's
// playwright-core; .ci/run installs both and sets
// TRUSTLEDGER_REQUIRE_BROWSER=1): against a real trustd it signs in with
// a token, shows a principal's score, breakdown bars and history plot with
// as many points as the API's history, reviews the principal's alert from
// the queue and then shows the record with the alert's new status, and
// asks for a decision. Screenshots go to $TRUSTLEDGER_ARTIFACTS_DIR (else a
// temporary directory).
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	chromium, pw := os.Getenv("CHROMIUM"), os.Getenv("TRUSTLEDGER_PLAYWRIGHT")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	nodeBin, err := exec.LookPath("node")
	_, cerr := os.Stat(chromium)
	_, perr := os.Stat(filepath.Join(pw, "playwright-core"))
	if err != nil || cerr != nil || pw == "" || perr != nil {
		if os.Getenv("TRUSTLEDGER_REQUIRE_BROWSER") == "1" {
			t.Fatalf("the console test needs node (%v), %s (%v) and playwright-core in $TRUSTLEDGER_PLAYWRIGHT=%q (%v)", err, chromium, cerr, pw, perr)
		}
		t.Log("no headless browser here: the console was not tested in Chromium (.ci/run installs it)")
		return
	}
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := n.client
	if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range []client.Signal{
		{Event: "mfa_success", Category: "authentication", Impact: "6"},
		{Event: "training_completed", Category: "compliance", Impact: "4"},
		{Event: "impossible_travel", Category: "context", Impact: "-20", Attributes: json.RawMessage(`{"anomaly_score":95}`)},
		{Event: "login", Category: "behavior", Impact: "2"},
	} {
		s.PrincipalID, s.EventID = "alice", "console-"+strconv.Itoa(i)
		if _, err := cl.SendSignals(ctx, []client.Signal{s}); err != nil {
			t.Fatal(err)
		}
	}
	hist, _, err := cl.History(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("TRUSTLEDGER_ARTIFACTS_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o750); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/console.mjs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, nodeBin, script, n.url(), n.token, "alice", shots) // #nosec G204 -- node from PATH, the test's own script
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_DIR="+pw, "CHROMIUM="+chromium)
	outb, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("console driver: %v\n%s\n%s", err, outb, stderr)
	}
	var got struct {
		Errors          []string
		Who, Score      string
		Points, Bars    int
		AlertsBefore    string
		AlertsAfter     string
		OpenAlerts      int
		OpenAlertsAfter int
		Decision        string
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("driver output %s: %v", outb, err)
	}
	t.Logf("console: %+v; screenshots in %s", got, shots)
	if len(got.Errors) > 0 {
		t.Fatalf("the page failed: %v", got.Errors)
	}
	rec, _, err := cl.GetPrincipal(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !strings.Contains(got.Who, "leader"):
		t.Errorf("signed in as %q", got.Who)
	case got.Points != len(hist.History) || got.Points < 3:
		t.Errorf("the plot has %d points, the API's history %d", got.Points, len(hist.History))
	case got.Bars != 6:
		t.Errorf("%d breakdown bars, want 6 (the five components and the adjustment)", got.Bars)
	case got.Score != strconv.FormatInt(rec.TrustScore, 10):
		t.Errorf("the page shows score %q, the API %d", got.Score, rec.TrustScore)
	case !strings.Contains(got.AlertsBefore, ":open") || !strings.Contains(got.AlertsAfter, ":confirmed_safe"):
		t.Errorf("alert statuses before %q, after the review %q", got.AlertsBefore, got.AlertsAfter)
	case got.OpenAlertsAfter != got.OpenAlerts-1:
		t.Errorf("open alerts %d → %d", got.OpenAlerts, got.OpenAlertsAfter)
	case got.Decision == "":
		t.Error("no decision shown")
	}
	for _, f := range []string{"principal.png", "alerts.png", "decision.png"} {
		if fi, err := os.Stat(filepath.Join(shots, f)); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s: %v", f, err)
		}
	}
}
