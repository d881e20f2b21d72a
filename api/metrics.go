package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus metrics.
type metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	handler http.Handler
	streams prometheus.Gauge
	// forwarded counts requests this node handed to the leader.
	forwarded prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, node Backend) *metrics {
	// The Go runtime and process collectors; a registry that already has
	// them (AlreadyRegisteredError) keeps its own.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		_ = reg.Register(c)
	}
	m := &metrics{
		reg: reg,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "trustledger",
			Subsystem: "api",
			Name:      "request_duration_seconds",
			Help:      "API request latency by route pattern, method and status code.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "trustledger",
			Subsystem: "api",
			Name:      "streams_open",
			Help:      "Open /v1/ledger/stream connections.",
		}),
	}
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "trustledger",
		Subsystem: "api",
		Name:      "forwarded_total",
		Help:      "Requests this node forwarded to the leader.",
	})
	_ = reg.Register(m.forwarded)
	// Registration fails only when the collectors are registered already
	// (a second Server on the same registry): the first set then serves.
	_ = reg.Register(m.latency)
	_ = reg.Register(m.streams)
	_ = reg.Register(&ledgerCollector{node: node})
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.latency.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// ledgerCollector reports the ledger's counters from ledger.Status() at
// scrape time.
type ledgerCollector struct {
	node Backend
}

var (
	descEntries = prometheus.NewDesc("trustledger_ledger_entries_total",
		"Ledger entries applied, by outcome.", []string{"outcome"}, nil)
	descSignals = prometheus.NewDesc("trustledger_ledger_signals_total",
		"Signals processed, by per-signal status.", []string{"status"}, nil)
	descAlerts = prometheus.NewDesc("trustledger_ledger_alerts_total",
		"Trust alerts raised.", nil, nil)
	descApplied = prometheus.NewDesc("trustledger_ledger_applied_index",
		"Raft index the state machine has applied.", nil, nil)
	descSequence = prometheus.NewDesc("trustledger_ledger_sequence",
		"Sequence number of the last ledger event.", nil, nil)
	descLedgerTime = prometheus.NewDesc("trustledger_ledger_time_seconds",
		"Ledger time (Unix seconds).", nil, nil)
	descPrincipals = prometheus.NewDesc("trustledger_ledger_principals",
		"Registered principals.", nil, nil)
	descPolicy = prometheus.NewDesc("trustledger_ledger_policy_version",
		"Version of the replicated policy.", nil, nil)
)

// Describe sends the descriptors of the ledger metrics.
func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEntries, descSignals, descAlerts, descApplied, descSequence,
		descLedgerTime, descPrincipals, descPolicy} {
		ch <- d
	}
}

// Collect reads a consistent ledger status and sends it.
func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Ledger().Status()
	k := st.Counters
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
			ch <- m
		}
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		send(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) { send(d, prometheus.GaugeValue, v) }
	counter(descEntries, k.Entries-k.Rejected, "applied")
	counter(descEntries, k.Rejected, "rejected")
	counter(descSignals, k.SignalsAccepted, "accepted")
	counter(descSignals, k.SignalsDuplicate, "duplicate")
	counter(descSignals, k.SignalsRejected, "rejected")
	counter(descAlerts, k.Alerts)
	gauge(descApplied, float64(st.AppliedIndex))
	gauge(descSequence, float64(st.Sequence))
	gauge(descLedgerTime, float64(st.LedgerTime)/1000)
	gauge(descPrincipals, float64(st.Principals))
	gauge(descPolicy, float64(st.PolicyVersion))
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler.ServeHTTP(w, r)
}
