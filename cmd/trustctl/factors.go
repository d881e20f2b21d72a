package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func factorsCommand() *command {
	return group("factors",
		&command{name: "set", args: "ID [--authentication JSON] [--behavior JSON] [--compliance JSON] [--risk JSON] [--context JSON] | --file F.json|-",
			summary: "report a principal's factors (each given kind replaces the previous report)", pos: one("ID"), setup: factorsSet},
	)
}

func factorsSet(fs *flag.FlagSet, c *cli) prepare {
	auth := fs.String("authentication", "", "authenticationFactors JSON object (or @FILE)")
	behavior := fs.String("behavior", "", "behaviorMetrics JSON object (or @FILE)")
	compliance := fs.String("compliance", "", "complianceStatus JSON object (or @FILE)")
	risk := fs.String("risk", "", "riskIndicators JSON array (or @FILE)")
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
