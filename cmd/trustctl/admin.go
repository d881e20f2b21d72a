package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

func importCommand() *command {
	return &command{name: "import", args: "FILE|- [--batch 100]",
		summary: "import PrincipalTrust records in the original format (a JSON array, {\"records\": [...]}, one record, or JSON lines)",
		run:     importRecords}
}

func importRecords(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl import")
	batch := fs.Int("batch", 100, "records per request")
	pos, err := c.parseArgs(fs, args, importCommand().args, 1, "FILE (or - for standard input)")
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > client.MaxImportBatch {
		return usagef("--batch must be within 1..%d", client.MaxImportBatch)
	}
	b, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	records, err := splitRecords(b)
	if err != nil {
		return usagef("%s: %v", displayName(pos[0]), err)
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	total := client.ImportResult{Results: []client.ImportedRecord{}}
	for start := 0; start < len(records); start += *batch {
		res, err := cl.Import(ctx, records[start:min(start+*batch, len(records))])
		if err != nil {
			if start > 0 {
				fmt.Fprintf(c.stderr, "%d of %d records were sent before the failure (%d imported).\n",
					start, len(records), total.Imported)
			}
			return err
		}
		total.Index = max(total.Index, res.Index)
		total.Imported += res.Imported
		total.Results = append(total.Results, res.Results...)
	}
	if err := c.emit(total, func(w io.Writer) {
		row(w, "PRINCIPAL", "STATUS", "INDEX", "REASON")
		for _, r := range total.Results {
			reason := r.Reason
			if len(r.Warnings) > 0 {
				reason = strings.TrimPrefix(reason+"; warnings: "+strings.Join(r.Warnings, "; "), "; ")
			}
			row(w, r.PrincipalID, r.Status, r.Index, reason)
		}
		fmt.Fprintf(w, "\n%d of %d record(s) imported, last at index %d.\n", total.Imported, len(records), total.Index)
	}); err != nil {
		return err
	}
	if total.Imported < len(records) {
		return &silentError{exitError}
	}
	return nil
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

func ledgerCommand() *command {
	return &command{name: "ledger", args: "[--after SEQ] [--limit N]",
		summary: "show ledger entries in order, for audit", run: ledgerList}
}

func ledgerList(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl ledger")
	var page client.Page
	fs.Uint64Var(&page.After, "after", 0, "only entries after this sequence `SEQ`")
	fs.IntVar(&page.Limit, "limit", 0, "at most `N` entries (server default when 0)")
	rf := addReadFlags(fs, false)
	_, err := c.parseArgs(fs, args, ledgerCommand().args, 0, "")
	if err != nil {
		return err
	}
	opts, err := rf.options(c)
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	lp, _, err := cl.Ledger(ctx, page, opts)
	if err != nil {
		return err
	}
	return c.emit(lp, func(w io.Writer) { writeEntries(w, lp.Entries, lp.Next) })
}

func statusCommand() *command {
	return &command{name: "status", args: "", summary: "show the node's role, leader, applied index, state digest and region", run: status}
}

func status(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl status")
	_, err := c.parseArgs(fs, args, "", 0, "")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	st, _, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	return c.emit(st, func(w io.Writer) {
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
