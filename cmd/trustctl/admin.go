package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

func importRecords(fs *flag.FlagSet, c *cli) prepare {
	batch := fs.Int("batch", 100, "records per request")
	quiet := fs.Bool("quiet", false, "print only the records that were not imported, and the summary")
	return func(pos []string) (call, error) {
		if *batch < 1 || *batch > client.MaxImportBatch {
			return nil, usagef("--batch must be within 1..%d", client.MaxImportBatch)
		}
		b, err := c.readInput(pos[0])
		if err != nil {
			return nil, err
		}
		records, err := splitRecords(b)
		if err != nil {
			return nil, usagef("%s: %v", displayName(pos[0]), err)
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			return c.importBatches(ctx, cl, records, *batch, *quiet)
		}, nil
	}
}

// importBatches sends records in batches of size and sums up the answers.
func (c *cli) importBatches(ctx context.Context, cl *client.Client, records []json.RawMessage, size int, quiet bool) (*output, error) {
	total := client.ImportResult{Results: []client.ImportedRecord{}}
	bar := c.startProgress("records imported", len(records))
	defer bar.finish()
	for start := 0; start < len(records); start += size {
		res, err := cl.Import(ctx, records[start:min(start+size, len(records))])
		bar.update(min(start+size, len(records)))
		if err != nil {
			if start > 0 {
				fmt.Fprintf(c.stderr, "%d of %d records were sent before the failure (%d imported).\n",
					start, len(records), total.Imported)
			}
			return nil, err
		}
		total.Index = max(total.Index, res.Index)
		total.Imported += res.Imported
		total.Results = append(total.Results, res.Results...)
	}
	return &output{v: total, status: failedIf(total.Imported < len(records)), table: func(w io.Writer) {
		row(w, "PRINCIPAL", "STATUS", "INDEX", "REASON")
		for _, r := range total.Results {
			if quiet && r.Status == client.ImportImported {
				continue
			}
			reason := r.Reason
			if len(r.Warnings) > 0 {
				reason = strings.TrimPrefix(reason+"; warnings: "+strings.Join(r.Warnings, "; "), "; ")
			}
			row(w, r.PrincipalID, r.Status, r.Index, reason)
		}
		fmt.Fprintf(w, "\n%d of %d record(s) imported, last at index %d.\n", total.Imported, len(records), total.Index)
	}}, nil
}

// splitRecords accepts a JSON array of records, an object {"records":
// [...]}, a single record, or a stream of records (JSON lines).
func splitRecords(b []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		v = bytes.TrimSpace(v)
		switch v[0] {
		case '[':
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, err
			}
			out = append(out, list...)
		case '{':
			var wrapper struct {
				Records []json.RawMessage `json:"records"`
			}
			if err := json.Unmarshal(v, &wrapper); err == nil && wrapper.Records != nil {
				out = append(out, wrapper.Records...)
			} else {
				out = append(out, v)
			}
		default:
			return nil, fmt.Errorf("expected records as JSON objects, got %.20s", v)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no records")
	}
	return out, nil
}

func ledgerList(fs *flag.FlagSet, _ *cli) query {
	page := addPageFlags(fs, "only entries after this sequence `SEQ`")
	return func(ctx context.Context, cl *client.Client, _ []string, opts *client.ReadOptions) (*output, error) {
		lp, _, err := cl.Ledger(ctx, *page, opts)
		return show(lp, err, func(w io.Writer) { writeEntries(w, lp.Entries, lp.Next) })
	}
}

func status(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	st, _, err := cl.Status(ctx)
	return show(st, err, func(w io.Writer) {
		row(w, "Address", cl.Address())
		row(w, "Node", st.NodeID)
		row(w, "State", st.State)
		row(w, "Leader", st.LeaderID)
		row(w, "Region", st.Region)
		row(w, "Applied index", st.AppliedIndex)
		row(w, "Digest", st.Digest)
		row(w, "Sequence", st.Sequence)
		row(w, "Ledger time", st.LedgerTime)
		row(w, "Principals", st.Principals)
		row(w, "Policy / model", fmt.Sprintf("policy v%d, scoring model v%d", st.PolicyVersion, st.ModelVersion))
		if st.Version != "" {
			row(w, "Version", st.Version)
		}
		if st.State != "leader" {
			contact := "never"
			if st.LastContact >= 0 {
				contact = (time.Duration(st.LastContact) * time.Millisecond).String() + " ago"
			}
			row(w, "Last contact", contact)
		}
		if len(st.Counters) > 0 {
			keys := make([]string, 0, len(st.Counters))
			for k := range st.Counters {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s %d", k, st.Counters[k]))
			}
			row(w, "Counters", strings.Join(parts, ", "))
		}
	})
}

func policyGet(_ *flag.FlagSet, c *cli) query {
	return func(ctx context.Context, cl *client.Client, _ []string, opts *client.ReadOptions) (*output, error) {
		raw, _, err := cl.GetPolicy(ctx, opts)
		if err != nil {
			return nil, err
		}
		// The policy is a document, shown as indented JSON in both formats.
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return nil, fmt.Errorf("policy: the server sent invalid JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err = c.stdout.Write(escapeJSONText(buf.Bytes()))
		return nil, err
	}
}

func policySet(_ *flag.FlagSet, c *cli) prepare {
	return func(pos []string) (call, error) {
		b, err := c.readInput(pos[0])
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, usagef("%s: not valid JSON", displayName(pos[0]))
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.SetPolicy(ctx, bytes.TrimSpace(b))
			return show(res, err, func(w io.Writer) {
				if !res.Changed {
					fmt.Fprintf(w, "Policy unchanged (in force since index %d).\n", res.Index)
					return
				}
				fmt.Fprintf(w, "Policy set at index %d.\n", res.Index)
			})
		}, nil
	}
}

func tokenCreate(fs *flag.FlagSet, _ *cli) prepare {
	var req client.TokenRequest
	var orgs stringList
	fs.StringVar(&req.Role, "role", "", "admin, operator, writer, reader, partner, auditor, gateway or analyst (required)")
	fs.StringVar(&req.PartnerID, "partner", "", "federation partner `ID` a partner token is bound to")
	fs.Var(&orgs, "org", "organization a writer token is limited to (repeatable, or comma-separated)")
	fs.StringVar(&req.Description, "description", "", "what the token is for")
	fs.StringVar(&req.ID, "id", "", "token `ID` (default: a random one)")
	return func([]string) (call, error) {
		if req.Role == "" {
			return nil, usagef("--role is required")
		}
		req.Orgs = orgs
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			tok, err := cl.CreateToken(ctx, req)
			return show(tok, err, func(w io.Writer) {
				row(w, "ID", tok.ID)
				row(w, "Role", req.Role)
				row(w, "Token", tok.Secret)
				fmt.Fprintln(w, "\nThe token is shown only this once: store it now.")
			})
		}, nil
	}
}

func tokenList(ctx context.Context, _ *cli, cl *client.Client, _ []string) (*output, error) {
	toks, err := cl.ListTokens(ctx)
	if toks == nil {
		toks = []client.Token{}
	}
	return show(map[string]any{"tokens": toks}, err, func(w io.Writer) {
		row(w, "ID", "ROLE", "PARTNER", "ORGS", "CREATED", "REVOKED", "DESCRIPTION")
		for _, t := range toks {
			revoked := ""
			if t.Revoked {
				revoked = "yes " + t.RevokedAt
			}
			row(w, t.ID, t.Role, t.PartnerID, t.Orgs, t.CreatedAt, revoked, t.Description)
		}
	})
}

func tokenRevoke(ctx context.Context, _ *cli, cl *client.Client, pos []string) (*output, error) {
	res, err := cl.RevokeToken(ctx, pos[0])
	return show(res, err, func(w io.Writer) { fmt.Fprintf(w, "Token %s revoked at index %d.\n", pos[0], res.Index) })
}
