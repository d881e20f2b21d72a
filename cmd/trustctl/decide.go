package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/trustledger/trustledger/api/client"
)

func decide(fs *flag.FlagSet, c *cli) prepare {
	action := fs.String("action", "", "the action asked for, e.g. read or deploy (required)")
	sens := fs.String("sensitivity", "", "low, medium, high or critical (default: the policy's for the action; required for an action the policy does not map)")
	reqCtx := fs.String("context", "", "request context JSON object (or @FILE)")
	rf := addReadFlags(fs, true)
	return func(pos []string) (call, error) {
		if *action == "" {
			return nil, usagef("--action is required")
		}
		switch *sens {
		case "", "low", "medium", "high", "critical":
		default:
			return nil, usagef("--sensitivity must be low, medium, high or critical, not %q", *sens)
		}
		rc, err := c.jsonValue("context", *reqCtx, '{')
		if err != nil {
			return nil, err
		}
		opts, err := rf.options(c)
		if err != nil {
			return nil, err
		}
		req := client.DecisionRequest{PrincipalID: pos[0], Action: *action, Sensitivity: *sens, Context: rc}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			d, _, err := cl.Decide(ctx, req, opts)
			return show(d, err, func(w io.Writer) { writeDecision(w, d) })
		}, nil
	}
}

func writeDecision(w io.Writer, d *client.Decision) {
	row(w, "Decision", strings.ToUpper(d.Decision))
	row(w, "Principal", fmt.Sprintf("%s: score %d (%s)", d.PrincipalID, d.TrustScore, d.TrustLevel))
	row(w, "Request", fmt.Sprintf("%s at %s sensitivity", d.Action, d.Sensitivity))
	if d.RequiredPermission != "" {
		row(w, "Needs", "permission "+d.RequiredPermission)
	}
	row(w, "Decision id", d.DecisionID)
	row(w, "Authentication", d.RequiredAuthentication)
	row(w, "Session", fmt.Sprintf("max %s, idle timeout %s", seconds(d.SessionMaxDuration), seconds(d.IdleTimeout)))
	row(w, "Audit", d.AuditIntensity)
	row(w, "Permissions", d.ActivatedPermissions)
	row(w, "Evaluated at", fmt.Sprintf("%s (ledger index %d, policy version %d)", d.EvaluatedAt, d.LedgerIndex, d.PolicyVersion))
	if len(d.Reasons) > 0 {
		fmt.Fprintln(w, "\nReasons:")
		for _, r := range d.Reasons {
			fmt.Fprintf(w, "  %s [%s]\n", r.Message, r.Code)
		}
	}
	if len(d.WhatWouldChange) > 0 {
		fmt.Fprintln(w, "\nWhat would change it:")
		for _, r := range d.WhatWouldChange {
			fmt.Fprintf(w, "  %s [%s]\n", r.Message, r.Code)
		}
	}
}

// seconds shows a duration given in seconds, e.g. "8h0m0s" → "8h".
func seconds(s int64) string {
	switch {
	case s <= 0:
		return "0s"
	case s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

func simulate(fs *flag.FlagSet, c *cli) prepare {
	var specs stringList
	fs.Var(&specs, "signal", "a hypothetical signal `EVENT:CATEGORY:IMPACT`, e.g. login_failed:authentication:-5 (repeatable)")
	file := fs.String("file", "", "hypothetical signals from `FILE` of JSON lines (- for standard input)")
	factors := fs.String("factors", "", `hypothetical factor report JSON (or @FILE), e.g. {"riskIndicators":["new_device"]}`)
	at := fs.String("at", "", "evaluate at `TIME`: RFC 3339 or an offset like +24h")
	return func(pos []string) (call, error) {
		req, err := c.simulation(pos[0], specs, *file, *factors)
		if err != nil {
			return nil, err
		}
		when, err := c.instant("at", *at)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			sim, _, err := cl.Simulate(ctx, req, &client.ReadOptions{At: when})
			return show(sim, err, func(w io.Writer) { writeSimulation(w, sim) })
		}, nil
	}
}

// simulation builds the simulation of the hypothetical signals (specs
// EVENT:CATEGORY:IMPACT, then those of file) and factor report on id.
func (c *cli) simulation(id string, specs []string, file, factors string) (client.SimulateRequest, error) {
	req := client.SimulateRequest{PrincipalID: id}
	for _, s := range specs {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			return req, usagef("--signal %q: want EVENT:CATEGORY:IMPACT", s)
		}
		impact, err := number("signal", parts[2])
		if err != nil {
			return req, err
		}
		req.Signals = append(req.Signals, client.Signal{PrincipalID: id, Event: parts[0], Category: parts[1], Impact: impact})
	}
	if file != "" {
		more, err := c.readSignals(file)
		if err != nil {
			return req, err
		}
		req.Signals = append(req.Signals, more...)
	}
	if factors != "" {
		raw, err := c.jsonValue("factors", factors, '{')
		if err != nil {
			return req, err
		}
		if req.Factors, err = c.factorsFromJSON(raw); err != nil {
			return req, err
		}
	}
	return req, nil
}

func writeSimulation(w io.Writer, sim *client.Simulation) {
	fmt.Fprintln(w, "Simulated — nothing was written.")
	fmt.Fprintln(w)
	after := sim.Before
	if sim.Record != nil {
		after = client.SimulatedScore{TrustScore: sim.Record.TrustScore, TrustLevel: sim.Record.TrustLevel,
			ScoreComponents: sim.Record.ScoreComponents}
	}
	row(w, " ", "SCORE", "LEVEL", "AUTHENTICATION", "BEHAVIOR", "COMPLIANCE", "HISTORY", "CONTEXT")
	for _, s := range []struct {
		name  string
		score client.SimulatedScore
	}{{"before", sim.Before}, {"after", after}} {
		sc := s.score.ScoreComponents
		row(w, s.name, s.score.TrustScore, s.score.TrustLevel, sc.Authentication, sc.Behavior, sc.Compliance, sc.History, sc.Context)
	}
	fmt.Fprintf(w, "\nChange: %+d\n", sim.Delta)
	if len(sim.Signals) > 0 {
		fmt.Fprintln(w, "\nSignals:")
		row(w, "  EVENT ID", "STATUS", "REASON")
		for _, s := range sim.Signals {
			row(w, "  "+s.EventID, s.Status, s.Reason)
		}
	}
	if sim.Factors != nil {
		fmt.Fprintf(w, "\nFactor report: %s", sim.Factors.Status)
		if sim.Factors.Reason != "" {
			fmt.Fprintf(w, " (%s)", sim.Factors.Reason)
		}
		fmt.Fprintln(w)
	}
	if sim.Record != nil && len(sim.Record.Explanation.Summary) > 0 {
		fmt.Fprintln(w, "\nWhy:")
		for _, s := range sim.Record.Explanation.Summary {
			fmt.Fprintln(w, "  "+s)
		}
	}
}

func alertsList(fs *flag.FlagSet, _ *cli) query {
	var f client.AlertFilter
	fs.StringVar(&f.Status, "status", "", "open, acknowledged, remediated, dismissed, confirmed_compromised or confirmed_safe")
	fs.StringVar(&f.PrincipalID, "principal", "", "only alerts of this principal `ID`")
	return func(ctx context.Context, cl *client.Client, _ []string, opts *client.ReadOptions) (*output, error) {
		alerts, _, err := cl.Alerts(ctx, f, opts)
		if alerts == nil {
			alerts = []client.Alert{}
		}
		return show(map[string]any{"alerts": alerts}, err, func(w io.Writer) {
			if len(alerts) == 0 {
				fmt.Fprintln(w, "No alerts.")
				return
			}
			row(w, "ALERT", "PRINCIPAL", "SEVERITY", "TYPE", "STATUS", "RAISED", "MESSAGE")
			for _, a := range alerts {
				row(w, a.AlertID, a.PrincipalID, a.Severity, a.Type, a.Status, a.RaisedAt, a.Message)
			}
		})
	}
}

func alertsReview(fs *flag.FlagSet, _ *cli) prepare {
	action := fs.String("action", "", orList(reviewActions)+" (required); "+
		"the status each sets (acknowledged, remediated, dismissed, confirmed_compromised, confirmed_safe) is accepted too")
	note := fs.String("note", "", "reviewer's note")
	return func(pos []string) (call, error) {
		act, err := reviewAction(*action)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.ReviewAlert(ctx, pos[0], client.Review{Action: act, Note: *note})
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Alert %s: %s recorded at index %d.\n", pos[0], act, res.Index)
				if res.Alert != nil {
					fmt.Fprintf(w, "Status now %s.\n", res.Alert.Status)
				}
			})
		}, nil
	}
}
