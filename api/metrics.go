package api

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trustledger/trustledger/federation"
)

// metrics are the API's Prometheus metrics.
type metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	// requests counts answers by route, method and status; the latency
	// histogram leaves the status out, so that its buckets are not
	// multiplied by every status a route answers with.
	requests *prometheus.CounterVec
	handler  http.Handler
	streams  prometheus.Gauge
	// streamsRefused counts streams refused over a cap, by reason
	// ("token" or "node").
	streamsRefused *prometheus.CounterVec
	// forwarded counts requests this node handed to the leader.
	forwarded prometheus.Counter
	// sets counts pushed SETs by outcome (accepted, ignored, refused) and
	// setErrors the refusals by RFC 8935 error code; rateLimited the
	// requests refused by a rate limit, by limit.
	sets, setErrors, rateLimited *prometheus.CounterVec
}

// setErrorCodes are the RFC 8935 error codes: the only values of
// trustledger_federation_set_refusals_total's code label but "other".
var setErrorCodes = []string{federation.ErrInvalidRequest, federation.ErrInvalidKey, federation.ErrInvalidIssuer,
	federation.ErrInvalidAudience, federation.ErrAuthenticationFailed, federation.ErrAccessDenied}

// refusedSET counts a refused SET by its code ("other" outside RFC 8935's).
func (m *metrics) refusedSET(code string) {
	if !slices.Contains(setErrorCodes, code) {
		code = "other"
	}
	m.sets.WithLabelValues("refused").Inc()
	m.setErrors.WithLabelValues(code).Inc()
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
			Help:      "API request latency by route pattern and method.",
			Buckets:   []float64{.001, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"route", "method"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "trustledger",
			Subsystem: "api",
			Name:      "requests_total",
			Help:      "API requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "trustledger",
			Subsystem: "api",
			Name:      "streams_open",
			Help:      "Open /v1/ledger/stream connections.",
		}),
	}
	m.streamsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "trustledger",
		Subsystem: "api",
		Name:      "streams_refused_total",
		Help:      "/v1/ledger/stream requests refused over the per-token or per-node cap, by reason (token, node).",
	}, []string{"reason"})
	_ = reg.Register(m.streamsRefused)
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "trustledger",
		Subsystem: "api",
		Name:      "forwarded_total",
		Help:      "Requests this node forwarded to the leader.",
	})
	_ = reg.Register(m.forwarded)
	m.sets = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trustledger", Subsystem: "federation", Name: "sets_total",
		Help: "Security Event Tokens pushed to this node, by outcome: accepted, ignored (no event type acted on), refused."}, []string{"outcome"})
	m.setErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trustledger", Subsystem: "federation", Name: "set_refusals_total",
		Help: "Refused Security Event Tokens by RFC 8935 error code."}, []string{"code"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trustledger", Subsystem: "api", Name: "rate_limited_total",
		Help: "Requests refused by a rate limit, by limit: partner_sets, token_streams, node_streams."}, []string{"limit"})
	for _, c := range []*prometheus.CounterVec{m.sets, m.setErrors, m.rateLimited} {
		_ = reg.Register(c)
	}
	for _, o := range []string{"accepted", "ignored", "refused"} {
		m.sets.WithLabelValues(o)
	}
	for _, l := range []string{"partner_sets", "token_streams", "node_streams"} {
		m.rateLimited.WithLabelValues(l)
	}
	// Registration fails only when the collectors are registered already
	// (a second Server on the same registry): the first set then serves.
	_ = reg.Register(m.latency)
	_ = reg.Register(m.requests)
	_ = reg.Register(m.streams)
	_ = reg.Register(&ledgerCollector{node: node})
	_ = reg.Register(&clusterCollector{node: node})
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// observe records one request. Every label comes from a fixed set, so no
// request, however odd its method, path or status, adds a series:
// methodLabel, routeLabel and statusLabel bound them.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	rl, ml := routeLabel(route), methodLabel(method)
	m.latency.WithLabelValues(rl, ml).Observe(d.Seconds())
	m.requests.WithLabelValues(rl, ml, statusLabel(status)).Inc()
}

// labelUnmatched is the route label of requests that match no route.
const labelUnmatched = "unmatched"

// routeLabels are the route labels: the route table's patterns.
var routeLabels = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{labelUnmatched: true}
	for _, rt := range routeTable() {
		out[rt.Pattern] = true
	}
	return out
})

// routeLabel is route when it is a pattern of the route table, else
// "unmatched".
func routeLabel(route string) string {
	if routeLabels()[route] {
		return route
	}
	return labelUnmatched
}

// methodLabel is the method label: one of the standard methods the API
// can answer, or "other" (CONNECT, TRACE and any made-up method).
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
		return method
	}
	return "other"
}

// statusLabel is the status label: the code itself for the codes the API
// answers with (and a forwarded answer may carry), its class ("4xx") for
// other valid codes, "other" for anything else.
func statusLabel(code int) string {
	switch code {
	case 200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 501, 502, 503, 504:
		return strconv.Itoa(code)
	}
	if code >= 100 && code <= 599 {
		return strconv.Itoa(code/100) + "xx"
	}
	return "other"
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

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}
