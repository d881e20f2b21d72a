package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// signalFlags describe one signal given on the command line.
type signalFlags struct {
	principal, event, category, impact, eventID, observedAt, attributes string
}

func signalSend(fs *flag.FlagSet, c *cli) prepare {
	var sf signalFlags
	fs.StringVar(&sf.principal, "principal", "", "principal `ID` (or give it as the argument)")
	fs.StringVar(&sf.event, "event", "", "event name, e.g. login_success")
	fs.StringVar(&sf.category, "category", "", "authentication, behavior, compliance, history or context")
	fs.StringVar(&sf.impact, "impact", "", "signed impact in points, e.g. 2 or -10")
	fs.StringVar(&sf.eventID, "event-id", "", "idempotency key (default: a random id)")
	fs.StringVar(&sf.observedAt, "observed-at", "", "when the source saw it: RFC 3339 or an offset like -5m")
	fs.StringVar(&sf.attributes, "attributes", "", "attributes JSON object (or @FILE)")
	file := fs.String("file", "", "read signals from `FILE` of JSON lines (- for standard input)")
	batch := fs.Int("batch", 100, "signals per request when reading a file")
	quiet := fs.Bool("quiet", false, "print only signals that were not accepted, and the summary")
	retries := fs.Int("retries", 3, "retries of a batch when trustd is unreachable or has no leader (safe: event ids dedupe)")
	return func(pos []string) (call, error) {
		if *batch < 1 || *batch > 10000 {
			return nil, usagef("--batch must be within 1..10000")
		}
		signals, err := c.signalsToSend(pos, sf, *file)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			sum, err := c.sendBatches(ctx, cl, signals, *batch, *retries)
			if err != nil {
				return nil, err
			}
			return &output{v: sum, table: func(w io.Writer) { sum.table(w, signals, *quiet) }, status: failedIf(sum.Rejected > 0)}, nil
		}, nil
	}
}

// signalsToSend are the signals of file, or else the one the flags and
// the positional arguments describe.
func (c *cli) signalsToSend(pos []string, sf signalFlags, file string) ([]client.Signal, error) {
	if file != "" {
		if len(pos) > 0 || sf != (signalFlags{}) {
			return nil, usagef("give either --file or one signal's flags, not both")
		}
		return c.readSignals(file)
	}
	if len(pos) > 1 || len(pos) == 1 && sf.principal != "" {
		return nil, usagef("give the principal once, as the argument or with --principal")
	}
	if len(pos) == 1 {
		sf.principal = pos[0]
	}
	s, err := c.signalFromFlags(sf)
	if err != nil {
		return nil, err
	}
	return []client.Signal{s}, nil
}

// sendBatches sends signals in batches of size, each retried up to
// retries times (sendWithRetry), and sums up the answers.
func (c *cli) sendBatches(ctx context.Context, cl *client.Client, signals []client.Signal, size, retries int) (*sendSummary, error) {
	sum := &sendSummary{Results: []client.SignalResult{}}
	bar := c.startProgress("signals sent", len(signals))
	defer bar.finish()
	for start := 0; start < len(signals); start += size {
		chunk := signals[start:min(start+size, len(signals))]
		res, err := sendWithRetry(ctx, cl, chunk, retries, c.stderr)
		bar.update(start + len(chunk))
		if err != nil {
			if start > 0 {
				fmt.Fprintf(c.stderr, "%d of %d signals were sent before the failure (index %d); re-sending the file is safe.\n",
					start, len(signals), sum.Index)
			}
			return nil, err
		}
		sum.add(res)
	}
	return sum, nil
}

// sendSummary gathers the results of all batches.
type sendSummary struct {
	// Index is the ledger index of the last batch.
	Index     uint64                `json:"index"`
	Accepted  int                   `json:"accepted"`
	Duplicate int                   `json:"duplicate"`
	Rejected  int                   `json:"rejected"`
	Batches   int                   `json:"batches"`
	Results   []client.SignalResult `json:"results"`
}

func (s *sendSummary) add(r *client.SignalsResult) {
	a, d, rj := r.Counts()
	s.Accepted, s.Duplicate, s.Rejected = s.Accepted+a, s.Duplicate+d, s.Rejected+rj
	s.Index = max(s.Index, r.Index)
	s.Batches++
	s.Results = append(s.Results, r.Results...)
}

func (s *sendSummary) table(w io.Writer, sent []client.Signal, quiet bool) {
	if len(s.Results) == 1 && len(sent) == 1 {
		r := s.Results[0]
		fmt.Fprintf(w, "Signal %s (%s %s %s): %s at index %d", r.EventID, sent[0].PrincipalID, sent[0].Event,
			signed(sent[0].Impact), r.Status, s.Index)
		if r.Reason != "" {
			fmt.Fprintf(w, ": %s", r.Reason)
		}
		fmt.Fprintln(w, ".")
		return
	}
	shown := 0
	for i, r := range s.Results {
		if quiet && r.Status == client.SignalAccepted {
			continue
		}
		if shown == 0 {
			row(w, "EVENT ID", "PRINCIPAL", "EVENT", "STATUS", "REASON")
		}
		shown++
		var p, e string
		if i < len(sent) {
			p, e = sent[i].PrincipalID, sent[i].Event
		}
		row(w, r.EventID, p, e, r.Status, r.Reason)
	}
	if shown > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%d signals in %d batch(es) at index %d: %d accepted, %d duplicate, %d rejected.\n",
		len(s.Results), s.Batches, s.Index, s.Accepted, s.Duplicate, s.Rejected)
}

// sendWithRetry sends one batch, retrying when trustd is unreachable or
// answers 503 (no leader). Each signal's event id makes a retry of a batch
// that did commit come back as duplicates, not as double counts.
func sendWithRetry(ctx context.Context, cl *client.Client, batch []client.Signal, retries int, stderr io.Writer) (*client.SignalsResult, error) {
	delay := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err := cl.SendSignals(ctx, batch)
		if err == nil || attempt >= retries || !retryable(err) {
			return res, err
		}
		var pe *client.Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			delay = pe.RetryAfter
		}
		fmt.Fprintf(stderr, "retrying in %s: %v\n", delay, err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}

func retryable(err error) bool {
	var ue *client.UnreachableError
	return errors.As(err, &ue) || client.StatusCode(err) == 503 || client.StatusCode(err) == 429
}

func (c *cli) signalFromFlags(sf signalFlags) (client.Signal, error) {
	var missing []string
	for _, f := range [][2]string{{"principal", sf.principal}, {"event", sf.event}, {"category", sf.category}, {"impact", sf.impact}} {
		if f[1] == "" {
			missing = append(missing, "--"+f[0])
		}
	}
	if len(missing) > 0 {
		return client.Signal{}, usagef("missing %s (or use --file)", strings.Join(missing, ", "))
	}
	impact, err := number("impact", sf.impact)
	if err != nil {
		return client.Signal{}, err
	}
	observed, err := c.instantString("observed-at", sf.observedAt)
	if err != nil {
		return client.Signal{}, err
	}
	attrs, err := c.jsonValue("attributes", sf.attributes, '{')
	if err != nil {
		return client.Signal{}, err
	}
	id := sf.eventID
	if id == "" {
		id = newEventID()
	}
	return client.Signal{EventID: id, PrincipalID: sf.principal, Event: sf.event, Category: sf.category,
		Impact: impact, ObservedAt: observed, Attributes: attrs}, nil
}

// maxLine bounds one JSON line of a signal file.
const maxLine = 1 << 20

// readSignals reads JSON lines, one signal object a line; blank lines and
// lines starting with # are skipped. A signal without an eventId gets a
// random one.
func (c *cli) readSignals(name string) ([]client.Signal, error) {
	r, closeFn, err := c.open(name)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	defer closeFn()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var out []client.Signal
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var s client.Signal
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, usagef("%s:%d: %v", displayName(name), line, err)
		}
		if s.EventID == "" {
			s.EventID = newEventID()
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", displayName(name), err)
	}
	if len(out) == 0 {
		return nil, usagef("%s: no signals", displayName(name))
	}
	return out, nil
}

func factorsSet(fs *flag.FlagSet, c *cli) prepare {
	auth := fs.String("authentication", "", "authenticationFactors JSON object (or @FILE); also --authentication-factors")
	behavior := fs.String("behavior", "", "behaviorMetrics JSON object (or @FILE); also --behavior-metrics")
	compliance := fs.String("compliance", "", "complianceStatus JSON object (or @FILE); also --compliance-status")
	risk := fs.String("risk", "", "riskIndicators JSON array (or @FILE); also --risk-indicators")
	// The API's own names, as aliases: a user who read docs/api.md types
	// them.
	fs.StringVar(auth, "authentication-factors", "", "same as --authentication")
	fs.StringVar(behavior, "behavior-metrics", "", "same as --behavior")
	fs.StringVar(compliance, "compliance-status", "", "same as --compliance")
	fs.StringVar(risk, "risk-indicators", "", "same as --risk")
	ctxJSON := fs.String("context", "", "context JSON object (or @FILE)")
	file := fs.String("file", "", "read the whole report from `FILE` (- for standard input): "+
		`{"authenticationFactors": {...}, "riskIndicators": [...], ...}`)
	return func(pos []string) (call, error) {
		f, err := c.factors(*file, *auth, *behavior, *compliance, *risk, *ctxJSON)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, usagef("give at least one factor kind, or --file")
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.SetFactors(ctx, pos[0], *f)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Factors of %s reported at index %d.\n", pos[0], res.Index)
				if res.Record != nil {
					fmt.Fprintln(w)
					writeRecord(w, res.Record)
				}
			})
		}, nil
	}
}

// factors builds a factor report from a file or from per-kind values; nil
// when nothing was given.
func (c *cli) factors(file, auth, behavior, compliance, risk, ctxJSON string) (*client.Factors, error) {
	if file != "" {
		if auth+behavior+compliance+risk+ctxJSON != "" {
			return nil, usagef("give either a factors file or per-kind flags, not both")
		}
		b, err := c.readInput(file)
		if err != nil {
			return nil, err
		}
		f, err := c.factorsFromJSON(b)
		if err != nil {
			return nil, usagef("%s: %v", displayName(file), err)
		}
		return f, nil
	}
	var f client.Factors
	var err error
	parts := []struct {
		name, in string
		kind     byte
		out      *json.RawMessage
	}{
		{"authentication", auth, '{', &f.AuthenticationFactors}, {"behavior", behavior, '{', &f.BehaviorMetrics},
		{"compliance", compliance, '{', &f.ComplianceStatus}, {"risk", risk, '[', &f.RiskIndicators},
		{"context", ctxJSON, '{', &f.Context},
	}
	given := false
	for _, p := range parts {
		if *p.out, err = c.jsonValue(p.name, p.in, p.kind); err != nil {
			return nil, err
		}
		given = given || p.in != ""
	}
	if !given {
		return nil, nil
	}
	return &f, nil
}

// factorsFromJSON decodes a whole factor report, refusing unknown kinds.
func (c *cli) factorsFromJSON(b []byte) (*client.Factors, error) {
	var f client.Factors
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, usagef("factor report: %v (kinds: authenticationFactors, behaviorMetrics, complianceStatus, riskIndicators, context)", err)
	}
	return &f, nil
}

func endorseAdd(fs *flag.FlagSet, c *cli) prepare {
	weight := fs.String("weight", "", "bonus in points (default: the policy's)")
	reason := fs.String("reason", "", "why")
	expires := fs.String("expires", "", "end of the endorsement: RFC 3339 or an offset like +720h")
	return func(pos []string) (call, error) {
		wt, err := number("weight", *weight)
		if err != nil {
			return nil, err
		}
		exp, err := c.instantString("expires", *expires)
		if err != nil {
			return nil, err
		}
		req := client.EndorsementRequest{EndorserID: pos[0], EndorseeID: pos[1], Weight: wt, Reason: *reason, ExpiresAt: exp}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.Endorse(ctx, req)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "%s endorses %s: endorsement %s at index %d.\n", pos[0], pos[1], res.EndorsementID, res.Index)
			})
		}, nil
	}
}

func endorseRevoke(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RevokeEndorsement(ctx, pos[0])
	return show(res, err, func(w io.Writer) { fmt.Fprintf(w, "Endorsement %s revoked at index %d.\n", pos[0], res.Index) })
}

func modifierAdd(fs *flag.FlagSet, c *cli) prepare {
	amount := fs.String("amount", "", "points added to the score while the modifier is in force, e.g. -10 (required)")
	reason := fs.String("reason", "", "why (required)")
	expires := fs.String("expires", "", "end of the modifier: RFC 3339 or an offset like +24h (required)")
	return func(pos []string) (call, error) {
		if *amount == "" || *reason == "" || *expires == "" {
			return nil, usagef("--amount, --reason and --expires are required")
		}
		amt, err := number("amount", *amount)
		if err != nil {
			return nil, err
		}
		exp, err := c.instantString("expires", *expires)
		if err != nil {
			return nil, err
		}
		req := client.ModifierRequest{Amount: amt, Reason: *reason, ExpiresAt: exp}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.AddModifier(ctx, pos[0], req)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Modifier %s (%s points until %s) on %s at index %d.\n", res.ModifierID, amt, exp, pos[0], res.Index)
				if res.Record != nil {
					fmt.Fprintf(w, "Trust score now %d %s.\n", res.Record.TrustScore, res.Record.TrustLevel)
				}
			})
		}, nil
	}
}

func modifierRemove(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RemoveModifier(ctx, pos[0], pos[1])
	return show(res, err, func(w io.Writer) {
		fmt.Fprintf(w, "Modifier %s removed from %s at index %d.\n", pos[1], pos[0], res.Index)
		if res.Record != nil {
			fmt.Fprintf(w, "Trust score now %d %s.\n", res.Record.TrustScore, res.Record.TrustLevel)
		}
	})
}
