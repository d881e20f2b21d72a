package api

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// NewProcessRegistry returns a Prometheus registry for api.Config.Registry
// with the process's go-metrics bridged into it (BridgeGoMetrics).
func NewProcessRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	return reg, BridgeGoMetrics(reg)
}

// BridgeGoMetrics exports what hashicorp/raft and memberlist measure with
// go-metrics (commit and FSM apply times, replication RPCs per peer,
// snapshot timings, gossip probes; docs/operations.md, "Metrics") to reg,
// as trustledger_raft_* and trustledger_memberlist_* families. go-metrics
// has one global sink per process: call it once, from the process that
// runs one node (trustd), not from tests that run several.
func BridgeGoMetrics(reg prometheus.Registerer) error {
	// A metric not updated for a minute goes (a peer removed, a timer no
	// longer emitted), so the series stay those of the current cluster.
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{Expiration: time.Minute, Registerer: reg,
		Name: "trustledger_gometrics"})
	if err != nil {
		return fmt.Errorf("go-metrics bridge: %w", err)
	}
	cfg := gometrics.DefaultConfig("trustledger")
	cfg.EnableHostname = false       // the scrape target names the node
	cfg.EnableHostnameLabel = false  // likewise
	cfg.EnableRuntimeMetrics = false // the Go collector exports them
	cfg.EnableServiceLabel = false
	if _, err := gometrics.NewGlobal(cfg, promNames{sink}); err != nil {
		return fmt.Errorf("go-metrics bridge: %w", err)
	}
	return nil
}

// promNames renames go-metrics keys the Prometheus way before the sink
// sees them: camelCase parts and label names in snake_case
// (raft.commitTime → raft_commit_time), counters ending in _total.
type promNames struct{ sink *gmprom.PrometheusSink }

func (p promNames) SetGauge(key []string, val float32) { p.sink.SetGauge(snakeKey(key), val) }
func (p promNames) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	p.sink.SetGaugeWithLabels(snakeKey(key), val, snakeLabels(labels))
}
func (p promNames) SetPrecisionGauge(key []string, val float64) {
	p.sink.SetPrecisionGauge(snakeKey(key), val)
}
func (p promNames) SetPrecisionGaugeWithLabels(key []string, val float64, labels []gometrics.Label) {
	p.sink.SetPrecisionGaugeWithLabels(snakeKey(key), val, snakeLabels(labels))
}
func (p promNames) EmitKey(key []string, val float32) { p.sink.EmitKey(snakeKey(key), val) }
func (p promNames) IncrCounter(key []string, val float32) {
	p.sink.IncrCounter(append(snakeKey(key), "total"), val)
}
func (p promNames) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	p.sink.IncrCounterWithLabels(append(snakeKey(key), "total"), val, snakeLabels(labels))
}
func (p promNames) AddSample(key []string, val float32) { p.sink.AddSample(snakeKey(key), val) }
func (p promNames) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	p.sink.AddSampleWithLabels(snakeKey(key), val, snakeLabels(labels))
}

// snakeKey is key with every part in snake_case, in a new slice.
func snakeKey(key []string) []string {
	out := make([]string, len(key), len(key)+1)
	for i, k := range key {
		out[i] = snake(k)
	}
	return out
}

// snakeLabels is labels with snake_case names (rpcType → rpc_type).
func snakeLabels(labels []gometrics.Label) []gometrics.Label {
	out := make([]gometrics.Label, len(labels))
	for i, l := range labels {
		out[i] = gometrics.Label{Name: snake(l.Name), Value: l.Value}
	}
	return out
}

func snake(s string) string {
	var b strings.Builder
	for j, r := range s {
		if unicode.IsUpper(r) {
			if j > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
