package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/trustledger/trustledger/api/client"
)

// The detection commands and principal list --overdue against a real
// node: the filters reach the server and select what they say, a review
// moves a detection through the server's state machine, and a transition
// the state machine refuses ends in exit 1 with the 409 problem's detail.
func TestDetectionsAgainstANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft node")
	}
	t.Parallel()
	clearEnv(t)
	addr, token := startNode(t)

	// run runs trustctl with the real clock (--at offsets are from now).
	run := func(args ...string) (code int, stdout, stderr string) {
		t.Helper()
		var out, errb strings.Builder
		c := newCLI(strings.NewReader(""), &out, &errb)
		code = c.run(context.Background(), append([]string{"--addr", addr, "--token", token}, args...))
		return code, out.String(), errb.String()
	}
	ctl := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(args...)
		if code != 0 {
			t.Fatalf("trustctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	list := func(args ...string) []client.Detection {
		t.Helper()
		var v struct{ Detections []client.Detection }
		if err := json.Unmarshal([]byte(ctl(append([]string{"detections", "list", "-o", "json"}, args...)...)), &v); err != nil {
			t.Fatal(err)
		}
		return v.Detections
	}
	ids := func(ds []client.Detection) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.PrincipalID+"/"+d.Type)
		}
		return out
	}

	// alice: a signal carrying a high anomaly score raises anomaly_score
	// (source signal); bob, registered inactive, raises inactive_activity
	// (source rule) on his first signal; carol raises nothing.
	ctl("principal", "register", "alice", "--type", "user", "--frequency", "hourly")
	ctl("principal", "register", "bob", "--type", "service", "--inactive", "--frequency", "monthly")
	ctl("principal", "register", "carol", "--type", "user", "--frequency", "monthly")
	ctl("signal", "send", "alice", "--event", "login_anomaly", "--category", "behavior", "--impact", "-1",
		"--event-id", "evt-anomaly", "--attributes", `{"anomaly_score": 95}`)
	ctl("signal", "send", "bob", "--event", "login_success", "--category", "authentication", "--impact", "1", "--event-id", "evt-bob")

	if out := ctl("detections"); !strings.Contains(out, "DETECTION") || !strings.Contains(out, "anomaly_score") ||
		!strings.Contains(out, "inactive_activity") || !strings.Contains(out, "signal") || strings.Contains(out, "carol") {
		t.Fatalf("detections (table):\n%s", out)
	}
	all := list()
	if got := strings.Join(ids(all), " "); got != "alice/anomaly_score bob/inactive_activity" {
		t.Fatalf("detections list: %s", got)
	}
	for _, f := range []struct {
		args []string
		want string
	}{
		{[]string{"--principal", "alice"}, "alice/anomaly_score"},
		{[]string{"--principal", "carol"}, ""},
		{[]string{"--source", "signal"}, "alice/anomaly_score"},
		{[]string{"--source", "rule"}, "bob/inactive_activity"},
		{[]string{"--type", "inactive_activity"}, "bob/inactive_activity"},
		{[]string{"--state", "open", "--source", "signal", "--principal", "alice"}, "alice/anomaly_score"},
		{[]string{"--state", "acknowledged"}, ""},
	} {
		if got := strings.Join(ids(list(f.args...)), " "); got != f.want {
			t.Errorf("detections list %s: %q, want %q", strings.Join(f.args, " "), got, f.want)
		}
	}
	if out := ctl("detections", "list", "--state", "dismissed"); !strings.Contains(out, "No detections.") {
		t.Errorf("an empty list: %q", out)
	}

	anomaly := all[0]
	if anomaly.Source != client.SourceSignal || anomaly.State != client.DetectionOpen || anomaly.Level != "high" ||
		len(anomaly.EventIDs) != 1 || anomaly.EventIDs[0] != "evt-anomaly" {
		t.Fatalf("anomaly detection: %+v", anomaly)
	}
	out := ctl("detections", "get", anomaly.DetectionID)
	for _, want := range []string{"Detection    " + anomaly.DetectionID, "Principal    alice", "anomaly_score (source signal, level high)",
		"State        open", "Holds        no", "evt-anomaly", "anomaly score 95"} {
		if !strings.Contains(out, want) {
			t.Errorf("detections get lacks %q:\n%s", want, out)
		}
	}
	var got client.Detection
	if err := json.Unmarshal([]byte(ctl("detections", "get", anomaly.DetectionID, "-o", "json")), &got); err != nil ||
		got.DetectionID != anomaly.DetectionID || got.Evidence != anomaly.Evidence {
		t.Fatalf("detections get -o json: %v %+v", err, got)
	}
	if code, _, errOut := run("detections", "get", "det-nope"); code != 1 || !strings.Contains(errOut, "not found: unknown detection") {
		t.Errorf("an unknown detection: exit %d, stderr %q", code, errOut)
	}

	// A review moves it, and the transition carries who and why.
	out = ctl("detections", "review", anomaly.DetectionID, "--action", "acknowledge", "--reason", "looking into it")
	if !strings.Contains(out, "Detection "+anomaly.DetectionID+": acknowledge recorded at index") || !strings.Contains(out, "State now acknowledged.") {
		t.Fatalf("detections review:\n%s", out)
	}
	if got := strings.Join(ids(list("--state", "acknowledged")), " "); got != "alice/anomaly_score" {
		t.Errorf("acknowledged after the review: %q", got)
	}
	out = ctl("detections", "get", anomaly.DetectionID)
	if !strings.Contains(out, "Transitions:") || !strings.Contains(out, "acknowledged") || !strings.Contains(out, "looking into it") {
		t.Errorf("the review's transition:\n%s", out)
	}

	// The state machine refuses acknowledging it again: 409, its detail
	// shown, exit 1, nothing written.
	code, stdout, errOut := run("detections", "review", anomaly.DetectionID, "--action", "acknowledge")
	if code != 1 || stdout != "" ||
		!strings.Contains(errOut, "Conflict: detection "+anomaly.DetectionID+" is acknowledged: acknowledge is not allowed from it") ||
		!strings.Contains(errOut, "409") {
		t.Errorf("a refused transition: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	// From acknowledged it may be confirmed compromised (which holds the
	// principal's decisions), then remediated, the state given by name.
	var res client.DetectionReviewResult
	if err := json.Unmarshal([]byte(ctl("detections", "review", anomaly.DetectionID, "--action", "confirm-compromised", "-o", "json")), &res); err != nil ||
		res.Index == 0 || res.Detection == nil || res.Detection.State != client.DetectionConfirmedCompromised || !res.Detection.Holds {
		t.Fatalf("confirm-compromised -o json: %v %+v", err, res)
	}
	if out := ctl("detections", "list", "--state", "confirmed_compromised"); !strings.Contains(out, "confirmed_compromised  yes") {
		t.Errorf("a held detection in the table:\n%s", out)
	}
	out = ctl("detections", "review", anomaly.DetectionID, "--action", "remediated", "--reason", "password reset")
	if !strings.Contains(out, "remediate recorded") || !strings.Contains(out, "State now remediated.") {
		t.Errorf("remediate:\n%s", out)
	}
	if d := list("--principal", "alice")[0]; d.State != client.DetectionRemediated || d.Holds || len(d.Transitions) != 3 {
		t.Errorf("after remediation: %+v", d)
	}
	// A remediated detection is final.
	if code, _, errOut := run("detections", "review", anomaly.DetectionID, "--action", "dismiss"); code != 1 ||
		!strings.Contains(errOut, "is remediated: dismiss is not allowed from it") {
		t.Errorf("a review of a final state: exit %d, stderr %q", code, errOut)
	}

	// principal list --overdue: alice is assessed hourly, bob and carol
	// monthly, so three hours from now only alice is overdue, and now
	// none is.
	principals := func(args ...string) string {
		t.Helper()
		var v client.PrincipalList
		if err := json.Unmarshal([]byte(ctl(append([]string{"principal", "list", "-o", "json"}, args...)...)), &v); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range v.Principals {
			out = append(out, r.PrincipalID)
		}
		return strings.Join(out, " ")
	}
	if got := principals("--overdue", "--at", "+3h"); got != "alice" {
		t.Errorf("principal list --overdue --at +3h: %q", got)
	}
	if got := principals("--overdue=false", "--at", "+3h"); got != "bob carol" {
		t.Errorf("principal list --overdue=false --at +3h: %q", got)
	}
	if got := principals("--overdue"); got != "" {
		t.Errorf("principal list --overdue now: %q", got)
	}
	if out := ctl("principal", "get", "alice", "--at", "+3h"); !strings.Contains(out, "(overdue)") {
		t.Errorf("principal get --at +3h does not say the assessment is overdue:\n%s", out)
	}
	if out := ctl("principal", "get", "carol", "--at", "+3h"); strings.Contains(out, "(overdue)") {
		t.Errorf("carol is not overdue:\n%s", out)
	}
	out = ctl("principal", "list", "--overdue", "--at", "+3h")
	if !strings.Contains(out, "OVERDUE") || !strings.Contains(out, "alice") || strings.Contains(out, "carol") {
		t.Errorf("principal list --overdue (table):\n%s", out)
	}
}
