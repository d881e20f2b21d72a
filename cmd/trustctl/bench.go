package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// benchConfig is one bench run's settings.
type benchConfig struct {
	producer    bool // batches as producer sessions
	mode        string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	batch       int
	principals  int
	prefix      string
	consistency string
}

// Bench modes.
const (
	benchSignals = "signals"
	benchReads   = "reads"
	// benchDecisions asks POST /v1/decisions about the principals in turn;
	// benchAuthz asks GET /v1/authz as a gateway does.
	benchDecisions = "decisions"
	benchAuthz     = "authz"
)

func bench(fs *flag.FlagSet, c *cli) prepare {
	var cfg benchConfig
	fs.StringVar(&cfg.mode, "mode", benchSignals, "signals (POST /v1/signals batches), reads (GET /v1/principals/{id}), decisions (POST /v1/decisions) or authz (GET /v1/authz, as a gateway)")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "requests in flight at once (one goroutine and one connection each)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to measure")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load run before measuring, not counted")
	fs.IntVar(&cfg.batch, "batch", 100, "signals per request (signals mode)")
	fs.BoolVar(&cfg.producer, "producer", false, "send each worker's batches as an idempotent producer session (signals mode): the ledger keeps a state per producer, not every event id")
	fs.IntVar(&cfg.principals, "principals", 1000, "principals the load is spread over; those missing are registered first")
	fs.StringVar(&cfg.prefix, "prefix", "bench-", "principal id prefix: the principals are PREFIX0, PREFIX1, ...")
	fs.StringVar(&cfg.consistency, "consistency", "", "read consistency (reads and decisions modes): default, stale or linearizable")
	return func([]string) (call, error) {
		if err := cfg.validate(); err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ *client.Client) (*output, error) { return nil, c.bench(ctx, cfg) }, nil
	}
}

// bench runs the load test and prints its result as JSON (whatever
// --output says).
func (c *cli) bench(ctx context.Context, cfg benchConfig) error {
	cl, err := c.benchClient(cfg.concurrency)
	if err != nil {
		return err
	}
	b, err := newBencher(cl, cfg)
	if err != nil {
		return err
	}
	progress := func(format string, a ...any) { fmt.Fprintf(c.stderr, "trustctl bench: "+format+"\n", a...) }
	progress("%s on %s: %d principals (%s0..%s%d)", cfg.mode, cl.Address(), cfg.principals, cfg.prefix, cfg.prefix, cfg.principals-1)
	created, err := b.register(ctx)
	if err != nil {
		return err
	}
	if created > 0 {
		progress("registered %d principals", created)
	}
	progress("%s warm-up, then %s measured at concurrency %d", cfg.warmup, cfg.duration, cfg.concurrency)
	res, err := b.run(ctx)
	if err != nil {
		return err
	}
	if err := writeJSON(c.stdout, res); err != nil {
		return err
	}
	if res.Ops == 0 {
		return fmt.Errorf("no operation succeeded (%d errors: %v)", res.Errors, res.ErrorKinds)
	}
	return nil
}

func (b *benchConfig) validate() error {
	switch b.mode {
	case benchSignals, benchReads, benchDecisions, benchAuthz:
	default:
		return usagef("--mode must be %s, %s, %s or %s, not %q", benchSignals, benchReads, benchDecisions, benchAuthz, b.mode)
	}
	switch b.consistency {
	case "", client.ConsistencyDefault, client.ConsistencyStale, client.ConsistencyLinearizable:
	default:
		return usagef("--consistency must be default, stale or linearizable, not %q", b.consistency)
	}
	if b.consistency != "" && (b.mode == benchSignals || b.mode == benchAuthz) {
		return usagef("--consistency applies to --mode reads and decisions only")
	}
	switch {
	case b.concurrency < 1 || b.concurrency > 10000:
		return usagef("--concurrency must be within 1..10000")
	case b.duration <= 0:
		return usagef("--duration must be positive")
	case b.warmup < 0:
		return usagef("--warmup must not be negative")
	case b.batch < 1 || b.batch > 10000:
		return usagef("--batch must be within 1..10000")
	case b.principals < 1:
		return usagef("--principals must be at least 1")
	}
	return nil
}

// benchClient is a client whose transport keeps a connection per worker.
func (c *cli) benchClient(concurrency int) (*client.Client, error) {
	cfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	cfg.MaxIdleConnsPerHost = concurrency
	return client.New(cfg)
}

// bencher runs one load test.
type bencher struct {
	cl    *client.Client
	cfg   benchConfig
	runID string // makes event ids unique to this run
	epoch int64  // the producer sessions' start, Unix ms
}

func newBencher(cl *client.Client, cfg benchConfig) (*bencher, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("make a run id: %w", err)
	}
	return &bencher{cl: cl, cfg: cfg, runID: hex.EncodeToString(r[:]), epoch: time.Now().UnixMilli()}, nil
}

func (b *bencher) principal(i int) string { return b.cfg.prefix + strconv.Itoa(i) }

// register registers the principals that do not exist yet, from
// concurrency goroutines, and returns how many it created.
func (b *bencher) register(ctx context.Context) (int, error) {
	var (
		mu       sync.Mutex
		created  int
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(b.cfg.concurrency, b.cfg.principals) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				_, err := b.cl.RegisterPrincipal(ctx, client.Registration{PrincipalID: b.principal(i), PrincipalType: "user"})
				mu.Lock()
				switch {
				case err == nil:
					created++
				case client.StatusCode(err) == http.StatusConflict:
				case firstErr == nil:
					firstErr = fmt.Errorf("register %s: %w", b.principal(i), err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range b.cfg.principals {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return created, firstErr
}

// benchResult is what bench prints.
type benchResult struct {
	Mode        string `json:"mode"`
	Address     string `json:"address"`
	Concurrency int    `json:"concurrency"`
	// Duration and Warmup are the settings; ElapsedSeconds is the measured
	// window, from its start to the end of the last operation in it.
	Duration       string  `json:"duration"`
	Warmup         string  `json:"warmup"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	Batch          int     `json:"batch,omitempty"`
	Consistency    string  `json:"consistency,omitempty"`
	Principals     int     `json:"principals"`
	// Ops counts the requests that succeeded; errors are counted apart.
	Ops       uint64  `json:"ops"`
	OpsPerSec float64 `json:"opsPerSec"`
	// SignalsPerSec counts the signals of successful batches (signals
	// mode); Signals says how the node answered them.
	SignalsPerSec *float64      `json:"signalsPerSec,omitempty"`
	Signals       *signalCounts `json:"signals,omitempty"`
	// Latency is that of successful requests, in milliseconds.
	Latency    latencySummary    `json:"latency"`
	Errors     uint64            `json:"errors"`
	ErrorKinds map[string]uint64 `json:"errorKinds"`
}

type signalCounts struct {
	Accepted  uint64 `json:"accepted"`
	Duplicate uint64 `json:"duplicate"`
	Rejected  uint64 `json:"rejected"`
}

type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// workerStats is one worker's tally of the measured window; workers merge
// theirs at the end, so the hot path takes no lock.
type workerStats struct {
	ops     uint64
	sum     time.Duration
	hist    latencyHistogram
	signals signalCounts
	errors  map[string]uint64
	last    time.Time // when the worker's last measured operation ended
}

// run drives the node for warmup+duration and returns the result of the
// measured part.
func (b *bencher) run(ctx context.Context) (*benchResult, error) {
	start := time.Now()
	measure := start.Add(b.cfg.warmup)
	end := measure.Add(b.cfg.duration)
	stats := make([]*workerStats, b.cfg.concurrency)
	var wg sync.WaitGroup
	for w := range stats {
		st := &workerStats{errors: map[string]uint64{}}
		stats[w] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.work(ctx, w, st, measure, end)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &benchResult{Mode: b.cfg.mode, Address: b.cl.Address(), Concurrency: b.cfg.concurrency,
		Duration: b.cfg.duration.String(), Warmup: b.cfg.warmup.String(), Principals: b.cfg.principals,
		ErrorKinds: map[string]uint64{}}
	var (
		hist latencyHistogram
		sum  time.Duration
		last = end
		sigs signalCounts
	)
	for _, st := range stats {
		res.Ops += st.ops
		sum += st.sum
		hist.merge(&st.hist)
		sigs.Accepted += st.signals.Accepted
		sigs.Duplicate += st.signals.Duplicate
		sigs.Rejected += st.signals.Rejected
		for k, v := range st.errors {
			res.ErrorKinds[k] += v
			res.Errors += v
		}
		if st.last.After(last) {
			last = st.last
		}
	}
	elapsed := last.Sub(measure).Seconds()
	res.ElapsedSeconds = round3(elapsed)
	res.OpsPerSec = round3(float64(res.Ops) / elapsed)
	if b.cfg.mode == benchSignals {
		res.Batch = b.cfg.batch
		perSec := round3(float64(sigs.Accepted+sigs.Duplicate+sigs.Rejected) / elapsed)
		res.SignalsPerSec, res.Signals = &perSec, &sigs
	} else {
		res.Consistency = b.cfg.consistency
		if res.Consistency == "" {
			res.Consistency = client.ConsistencyDefault
		}
	}
	ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
	res.Latency = latencySummary{P50: ms(hist.quantile(0.50)), P90: ms(hist.quantile(0.90)),
		P99: ms(hist.quantile(0.99)), Max: ms(hist.max)}
	if res.Ops > 0 {
		res.Latency.Mean = round3(float64(sum) / float64(res.Ops) / float64(time.Millisecond))
	}
	return res, nil
}

// work is one worker: it issues operations back to back until end, and
// tallies those that started at or after measure.
func (b *bencher) work(ctx context.Context, w int, st *workerStats, measure, end time.Time) {
	var (
		body []byte
		seq  uint64
		// A worker's principals start at a different place than its
		// neighbours', so concurrent batches touch different principals.
		next = w * b.cfg.batch % b.cfg.principals
	)
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		var (
			sc  signalCounts
			err error
		)
		switch b.cfg.mode {
		case benchSignals:
			body, seq, next = b.signalBatch(body[:0], w, seq, next)
			sc, err = b.sendSignals(ctx, body)
		case benchDecisions:
			err = b.decide(ctx, next)
			next = (next + 1) % b.cfg.principals
		case benchAuthz:
			err = b.authorize(ctx, next)
			next = (next + 1) % b.cfg.principals
		default:
			err = b.readRecord(ctx, next)
			next = (next + 1) % b.cfg.principals
		}
		t1 := time.Now()
		if t0.Before(measure) {
			continue
		}
		st.last = t1
		if err != nil {
			if ctx.Err() == nil {
				st.errors[errorKind(err)]++
			}
			continue
		}
		d := t1.Sub(t0)
		st.ops++
		st.sum += d
		st.hist.record(d)
		st.signals.Accepted += sc.Accepted
		st.signals.Duplicate += sc.Duplicate
		st.signals.Rejected += sc.Rejected
	}
}

// Signal names the load rotates through, one per score component, with a
// mild negative signal every tenth.
var benchEvents = [...]struct{ event, category string }{
	{"login_success", client.CategoryAuthentication},
	{"normal_activity", client.CategoryBehavior},
	{"patch_compliant", client.CategoryCompliance},
	{"tenure_milestone", client.CategoryHistory},
	{"known_device", client.CategoryContext},
}

// signalBatch appends the JSON body of one batch to buf. Event ids are
// bench-RUN-WORKER-SEQ, unique to this run; principals rotate from next.
func (b *bencher) signalBatch(buf []byte, w int, seq uint64, next int) ([]byte, uint64, int) {
	batchNo := seq/uint64(b.cfg.batch) + 1 // #nosec G115 -- the batch size is positive
	buf = append(buf, `{"signals":[`...)
	for i := range b.cfg.batch {
		if i > 0 {
			buf = append(buf, ',')
		}
		ev := benchEvents[seq%uint64(len(benchEvents))]
		impact := "1"
		if seq%10 == 9 {
			ev.event, impact = "failed_mfa", "-1"
		}
		buf = append(buf, `{"eventId":"bench-`...)
		buf = append(buf, b.runID...)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(w), 10)
		buf = append(buf, '-')
		buf = strconv.AppendUint(buf, seq, 10)
		buf = append(buf, `","principalId":`...)
		buf = strconv.AppendQuote(buf, b.principal(next))
		buf = append(buf, `,"event":"`...)
		buf = append(buf, ev.event...)
		buf = append(buf, `","category":"`...)
		buf = append(buf, ev.category...)
		buf = append(buf, `","impact":`...)
		buf = append(buf, impact...)
		buf = append(buf, '}')
		seq++
		next = (next + 1) % b.cfg.principals
	}
	buf = append(buf, ']')
	if b.cfg.producer {
		buf = append(buf, `,"producer":{"id":"bench-`...)
		buf = append(buf, b.runID...)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(w), 10)
		buf = append(buf, `","epoch":`...)
		buf = strconv.AppendInt(buf, b.epoch, 10)
		buf = append(buf, `,"sequence":`...)
		buf = strconv.AppendUint(buf, batchNo, 10)
		buf = append(buf, '}')
	}
	return append(buf, '}'), seq, next
}

func (b *bencher) sendSignals(ctx context.Context, body []byte) (signalCounts, error) {
	var out struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	var sc signalCounts
	if _, err := b.cl.Do(ctx, http.MethodPost, "/v1/signals", nil, body, &out); err != nil {
		return sc, err
	}
	for _, r := range out.Results {
		switch r.Status {
		case client.SignalAccepted:
			sc.Accepted++
		case client.SignalDuplicate:
			sc.Duplicate++
		default:
			sc.Rejected++
		}
	}
	return sc, nil
}

func (b *bencher) readRecord(ctx context.Context, i int) error {
	var q url.Values
	if b.cfg.consistency != "" {
		q = url.Values{"consistency": {b.cfg.consistency}}
	}
	var raw json.RawMessage
	_, err := b.cl.Do(ctx, http.MethodGet, "/v1/principals/"+url.PathEscape(b.principal(i)), q, nil, &raw)
	return err
}

// decide asks for a decision about principal i: an action the default
// policy maps, from a compliant device on the corporate network, so that
// the action map and a context rule are evaluated.
func (b *bencher) decide(ctx context.Context, i int) error {
	var q url.Values
	if b.cfg.consistency != "" {
		q = url.Values{"consistency": {b.cfg.consistency}}
	}
	body := map[string]any{"principalId": b.principal(i), "action": "read_sensitive",
		"context": map[string]any{"device": map[string]any{"compliant": true}, "network": map[string]any{"ip": "10.1.2.3"}}}
	var raw json.RawMessage
	_, err := b.cl.Do(ctx, http.MethodPost, "/v1/decisions", q, body, &raw)
	return err
}

// authorize asks GET /v1/authz about principal i, as a gateway in front of
// an application does (a DELETE: the delete action); allow, step up and
// deny are all answers.
func (b *bencher) authorize(ctx context.Context, i int) error {
	_, _, err := b.cl.Authorize(ctx, client.AuthzRequest{Principal: b.principal(i), Method: http.MethodDelete, URI: "/notes/1",
		ClientIP: "10.1.2.3", DeviceCompliant: "true"})
	return err
}

// errorKind names an error for the errorKinds tally: the HTTP status and
// problem type ("503 no-leader"), "unreachable: <reason>", "timeout", or
// the error text.
func errorKind(err error) string {
	var pe *client.Error
	if errors.As(err, &pe) {
		kind := pe.Problem.Type
		if i := strings.LastIndexByte(kind, '/'); i >= 0 {
			kind = kind[i+1:]
		}
		if kind == "" || kind == "about:blank" {
			kind = strings.ToLower(strings.ReplaceAll(http.StatusText(pe.StatusCode), " ", "-"))
		}
		return strconv.Itoa(pe.StatusCode) + " " + kind
	}
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		return "unreachable: " + ue.Reason()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// latencyHistogram counts durations (in nanoseconds) in log-linear
// buckets: exact below 256 ns, then 128 buckets per power of two, so a
// quantile is off by less than 1%. Its size is fixed whatever the run's
// length. The zero value is empty and ready to use.
type latencyHistogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	// histBuckets covers every positive int64: 2*histSub exact values,
	// then histSub buckets for each shift from 1 to 63-histSubBits.
	histBuckets = 2*histSub + (63-histSubBits)*histSub
)

func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1)
	// top is within [histSub, 2*histSub).
	top := v >> uint(shift)
	return 2*histSub + (shift-1)*histSub + int(top-histSub) // #nosec G115 -- top-histSub < histSub
}

// histUpper is the largest value bucket i holds.
func histUpper(i int) uint64 {
	if i < 2*histSub {
		return uint64(i) // #nosec G115 -- 0 <= i < 2*histSub
	}
	shift := uint((i-2*histSub)/histSub + 1)
	top := uint64((i-2*histSub)%histSub + histSub)
	return (top+1)<<shift - 1
}

func (h *latencyHistogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))]++
	h.total++
	h.max = max(h.max, d)
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the duration at or below which a fraction q of the
// recorded durations fall (the upper edge of its bucket, at most the
// maximum); 0 when the histogram is empty.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			return min(time.Duration(histUpper(i)), h.max) // #nosec G115 -- bucket bounds are within int64
		}
	}
	return h.max
}
