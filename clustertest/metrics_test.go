package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/trustledger/trustledger/api/client"
)

// TestMetricsThroughALeaderChange scrapes /metrics of three trustd
// processes before and after a leadership transfer, under writes: every
// Raft, cluster, gossip and snapshot family is there on every node, with
// sane values (one leader, three voters alive, leader changes counted on
// every node, replication lag bounded), and `promtool check metrics`
// accepts the exposition (Debian's prometheus package; .ci/run installs
// it and sets TRUSTLEDGER_REQUIRE_PROMTOOL=1).
func TestMetricsThroughALeaderChange(t *testing.T) {
	t.Parallel()
	c := startProcCluster(t, 3, "--snapshot-threshold", "64", "--trailing-logs", "16", "--snapshot-interval", "200ms")
	ctx := ctxT(t, 90*time.Second)
	cl := c.client(c.procs[0])
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := cl.SendSignals(ctx, signals("alice", fmt.Sprintf("m%d", i), 5, "1")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: "alice", PrincipalType: "user"}); err != nil {
		t.Fatal(err)
	}
	write(0, 100)
	before := c.scrapeAll(t)
	leader := ""
	for id, fams := range before {
		if gauge(t, fams, "trustledger_raft_state", "state", "leader") == 1 {
			leader = id
		}
	}
	if leader == "" {
		t.Fatal("no node reports trustledger_raft_state{state=\"leader\"} 1")
	}
	if _, err := c.client(c.procs[0]).TransferLeadership(ctx, ""); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	write(100, 200)

	var after map[string]map[string]*dto.MetricFamily
	pollUntil(t, 30*time.Second, func() bool {
		after = c.scrapeAll(t)
		leaders, lastMax, lastMin := 0, 0.0, -1.0
		for id, fams := range after {
			leaders += int(gauge(t, fams, "trustledger_raft_state", "state", "leader"))
			if counter(t, fams, "trustledger_raft_leader_changes_total") <= counter(t, before[id], "trustledger_raft_leader_changes_total") ||
				counter(t, fams, "trustledger_snapshots_total", "op", "persisted") < 1 {
				return false
			}
			last := gauge(t, fams, "trustledger_raft_last_index")
			lastMax = max(lastMax, last)
			if lastMin < 0 || last < lastMin {
				lastMin = last
			}
		}
		return leaders == 1 && lastMax-lastMin <= 5
	}, "one new leader, the change counted on every node, a snapshot persisted by each (200 writes, --snapshot-threshold 64), followers within 5 entries of the leader")

	for id, fams := range after {
		for _, name := range []string{
			"trustledger_raft_term", "trustledger_raft_commit_index", "trustledger_raft_last_index",
			"trustledger_raft_last_contact_seconds", "trustledger_raft_has_leader", "trustledger_raft_leader_changes_total",
			"trustledger_raft_fsm_apply",
			"trustledger_cluster_voters", "trustledger_cluster_nonvoters", "trustledger_cluster_failure_tolerance",
			"trustledger_gossip_members", "trustledger_snapshots_total", "trustledger_snapshot_last_bytes",
			"trustledger_build_info", "trustledger_ledger_applied_index", "trustledger_api_requests_total",
		} {
			if fams[name] == nil {
				t.Errorf("%s: no %s", id, name)
			}
		}
		if v := gauge(t, fams, "trustledger_cluster_voters"); v != 3 {
			t.Errorf("%s: %v voters", id, v)
		}
		if v := gauge(t, fams, "trustledger_gossip_members", "state", "alive"); v != 3 {
			t.Errorf("%s: %v members alive in gossip", id, v)
		}
		if v := gauge(t, fams, "trustledger_raft_has_leader"); v != 1 {
			t.Errorf("%s: has_leader %v", id, v)
		}
		if v := gauge(t, fams, "trustledger_raft_last_contact_seconds"); v < 0 || v > 5 {
			t.Errorf("%s: last contact %vs ago", id, v)
		}
		if gauge(t, fams, "trustledger_raft_state", "state", "leader") == 1 {
			// The leader times commits and replicates to both followers.
			for _, name := range []string{"trustledger_raft_commit_time", "trustledger_raft_commit_num_logs"} {
				if fams[name] == nil {
					t.Errorf("%s (leader): no %s", id, name)
				}
			}
			if f := fams["trustledger_raft_replication_append_entries_rpc"]; f == nil || len(f.Metric) < 2 {
				t.Errorf("%s (leader): trustledger_raft_replication_append_entries_rpc per follower: %v", id, f)
			}
		}
		if v := gauge(t, fams, "trustledger_snapshot_last_bytes", "op", "persisted"); v <= 0 {
			t.Errorf("%s: last snapshot of %v bytes", id, v)
		}
	}
	c.promtoolCheck(t)
	checkExamples(t, after)
}

// checkExamples: every trustledger metric the example alert rules and
// Grafana dashboard (docs/examples) query is one a node exports, and
// promtool accepts the rules and, as recording rules, the dashboard's
// queries.
func checkExamples(t *testing.T, scraped map[string]map[string]*dto.MetricFamily) {
	t.Helper()
	rules, err := os.ReadFile("../docs/examples/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	dash, err := os.ReadFile("../docs/examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("grafana-dashboard.json: %v (%d panels)", err, len(d.Panels))
	}
	recording := "groups:\n  - name: dashboard\n    rules:\n"
	exprs := []string{string(rules)}
	for i, p := range d.Panels {
		for j, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			q, _ := json.Marshal(tg.Expr)
			recording += fmt.Sprintf("      - record: dashboard:panel%d_%d\n        expr: %s\n", i, j, q)
		}
	}
	exported := map[string]bool{}
	for _, fams := range scraped {
		for name := range fams {
			exported[name] = true
		}
	}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !exported[name] && !exported[base] {
				t.Errorf("docs/examples query %s, which no node exports", name)
			}
		}
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		return // promtoolCheck said so
	}
	tmp := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(tmp, []byte(recording), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"../docs/examples/prometheus-rules.yml", tmp} {
		if out, err := exec.Command(path, "check", "rules", f).CombinedOutput(); err != nil { // #nosec G204 -- promtool from PATH, our own files
			t.Errorf("promtool check rules %s: %v\n%s", f, err, out)
		}
	}
}

var metricName = regexp.MustCompile(`trustledger_[a-z0-9_]+`)

// scrapeAll parses /metrics of every node, by node id.
func (c *procCluster) scrapeAll(t *testing.T) map[string]map[string]*dto.MetricFamily {
	t.Helper()
	out := map[string]map[string]*dto.MetricFamily{}
	for _, p := range c.procs {
		body := c.scrape(t, p)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: parse /metrics: %v", p.id, err)
		}
		out[p.id] = fams
	}
	return out
}

func (c *procCluster) scrape(t *testing.T, p *proc) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, p.url()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: scrape: %v", p.id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: scrape: %d %v", p.id, resp.StatusCode, err)
	}
	return body
}

// promtoolCheck runs `promtool check metrics` on each node's exposition.
func (c *procCluster) promtoolCheck(t *testing.T) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("TRUSTLEDGER_REQUIRE_PROMTOOL") == "1" {
			t.Fatal("promtool is required (TRUSTLEDGER_REQUIRE_PROMTOOL=1) and not on PATH")
		}
		t.Log("promtool not on PATH: the exposition was not linted (.ci/run installs it)")
		return
	}
	for _, p := range c.procs {
		cmd := exec.Command(path, "check", "metrics") // #nosec G204 -- promtool from PATH, fixed arguments
		cmd.Stdin = bytes.NewReader(c.scrape(t, p))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", p.id, err, out)
		}
	}
}

// gauge is the value of the family's sample whose labels include the
// given name/value pairs (0 when there is none).
func gauge(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := sample(fams, name, labels...)
	if m == nil || m.Gauge == nil {
		return 0
	}
	return m.Gauge.GetValue()
}

func counter(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m := sample(fams, name, labels...)
	if m == nil || m.Counter == nil {
		return 0
	}
	return m.Counter.GetValue()
}

func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}
