package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

// readFlags are the flags of reads.
type readFlags struct {
	at, consistency string
	index           uint64
	wait            time.Duration
}

func addReadFlags(fs *flag.FlagSet, withAt bool) *readFlags {
	r := &readFlags{}
	if withAt {
		fs.StringVar(&r.at, "at", "", "evaluate at `TIME`: RFC 3339, or an offset from now such as +48h, +7d or -1h")
	}
	fs.StringVar(&r.consistency, "consistency", "", "read consistency: default, stale or linearizable")
	fs.Uint64Var(&r.index, "index", 0, "blocking read: wait until the ledger index passes `N`")
	fs.DurationVar(&r.wait, "wait", 0, "blocking read: wait at most this long (with --index)")
	return r
}

func (r *readFlags) options(c *cli) (*client.ReadOptions, error) {
	switch r.consistency {
	case "", client.ConsistencyDefault, client.ConsistencyStale, client.ConsistencyLinearizable:
	default:
		return nil, usagef("--consistency must be default, stale or linearizable, not %q", r.consistency)
	}
	at, err := c.instant("at", r.at)
	if err != nil {
		return nil, err
	}
	return &client.ReadOptions{Consistency: r.consistency, At: at, WaitIndex: r.index, WaitTime: r.wait}, nil
}

// settingsFlags are the flags shared by register and update.
type settingsFlags struct {
	org, min, max, decay, recovery, frequency, metadata string
}

func addSettingsFlags(fs *flag.FlagSet) *settingsFlags {
	s := &settingsFlags{}
	fs.StringVar(&s.org, "org", "", "organization `ID`")
	fs.StringVar(&s.min, "min", "", "minTrustScore, the floor (points)")
	fs.StringVar(&s.max, "max", "", "maxTrustScore, the ceiling (points)")
	fs.StringVar(&s.decay, "decay-rate", "", "trustDecayRate (points per hour of inactivity)")
	fs.StringVar(&s.recovery, "recovery-rate", "", "trustRecoveryRate (points per hour)")
	fs.StringVar(&s.frequency, "frequency", "", "assessmentFrequency: continuous, hourly, daily, weekly or monthly")
	fs.StringVar(&s.metadata, "metadata", "", "metadata JSON object (or @FILE)")
	return s
}

type settings struct {
	min, max, decay, recovery string
	metadata                  []byte
}

func (s *settingsFlags) parse(c *cli) (out settings, err error) {
	nums := []struct {
		name, in string
		out      *string
	}{{"min", s.min, &out.min}, {"max", s.max, &out.max}, {"decay-rate", s.decay, &out.decay},
		{"recovery-rate", s.recovery, &out.recovery}}
	for _, n := range nums {
		v, err := number(n.name, n.in)
		if err != nil {
			return out, err
		}
		*n.out = string(v)
	}
	out.metadata, err = c.jsonValue("metadata", s.metadata, '{')
	return out, err
}

func principalRegister(fs *flag.FlagSet, c *cli) prepare {
	typ := fs.String("type", "", "principal type: user, service, device, application or network (required)")
	base := fs.String("base", "", "baseTrustScore (points); default: the organization's baseline, else the type's")
	inactive := fs.Bool("inactive", false, "register as inactive (isActive=false)")
	sf := addSettingsFlags(fs)
	return func(pos []string) (call, error) {
		if *typ == "" {
			return nil, usagef("--type is required (user, service, device, application or network)")
		}
		s, err := sf.parse(c)
		if err != nil {
			return nil, err
		}
		b, err := number("base", *base)
		if err != nil {
			return nil, err
		}
		reg := client.Registration{PrincipalID: pos[0], PrincipalType: *typ, OrgID: sf.org, BaseTrustScore: b,
			MinTrustScore: jsonNum(s.min), MaxTrustScore: jsonNum(s.max), TrustDecayRate: jsonNum(s.decay),
			TrustRecoveryRate: jsonNum(s.recovery), AssessmentFrequency: sf.frequency, Metadata: s.metadata}
		if *inactive {
			f := false
			reg.IsActive = &f
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.RegisterPrincipal(ctx, reg)
			return show(res, err, func(w io.Writer) { writeRecordResult(w, "Registered", pos[0], res) })
		}, nil
	}
}

func principalUpdate(fs *flag.FlagSet, c *cli) prepare {
	var active optBool
	fs.Var(&active, "active", "set isActive (true or false)")
	sf := addSettingsFlags(fs)
	return func(pos []string) (call, error) {
		orgGiven := false
		fs.Visit(func(f *flag.Flag) { orgGiven = orgGiven || f.Name == "org" })
		s, err := sf.parse(c)
		if err != nil {
			return nil, err
		}
		upd := client.PrincipalUpdate{MinTrustScore: jsonNum(s.min), MaxTrustScore: jsonNum(s.max),
			TrustDecayRate: jsonNum(s.decay), TrustRecoveryRate: jsonNum(s.recovery), AssessmentFrequency: sf.frequency,
			IsActive: active.ptr(), Metadata: s.metadata}
		if orgGiven {
			upd.OrgID = &sf.org
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.UpdatePrincipal(ctx, pos[0], upd)
			return show(res, err, func(w io.Writer) { writeRecordResult(w, "Updated", pos[0], res) })
		}, nil
	}
}

// writeRecordResult prints the answer to a write that returns the record.
func writeRecordResult(w io.Writer, verb, id string, res *client.RecordResult) {
	fmt.Fprintf(w, "%s %s at index %d.\n\n", verb, id, res.Index)
	if res.Record != nil {
		writeRecord(w, res.Record)
	}
}

func principalGet(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
	rec, _, err := cl.GetPrincipal(ctx, pos[0], opts)
	return show(rec, err, func(w io.Writer) { writeRecord(w, rec) })
}

func principalList(fs *flag.FlagSet, c *cli) query {
	var f client.ListFilter
	var review, overdue optBool
	fs.StringVar(&f.Type, "type", "", "only principals of this type")
	fs.StringVar(&f.Level, "level", "", "only principals at this trust level (untrusted, low, medium, high, verified)")
	fs.StringVar(&f.OrgID, "org", "", "only principals of this organization")
	fs.Var(&review, "requires-review", "only principals whose requiresReview is true (or =false)")
	fs.Var(&overdue, "overdue", "only principals whose assessment is overdue: nextAssessmentAt passed without new evidence (or =false)")
	fs.IntVar(&f.Limit, "limit", 0, "page size (server default when 0)")
	fs.StringVar(&f.Cursor, "cursor", "", "start after this cursor (nextCursor of the previous page)")
	all := fs.Bool("all", false, "follow the cursor through every page")
	return func(ctx context.Context, cl *client.Client, _ []string, opts *client.ReadOptions) (*output, error) {
		f.RequiresReview, f.Overdue = review.ptr(), overdue.ptr()
		if *all && opts.At.IsZero() {
			opts.At = c.now() // one instant for every page
		}
		var out client.PrincipalList
		for {
			page, _, err := cl.ListPrincipals(ctx, f, opts)
			if err != nil {
				return nil, err
			}
			out.Principals = append(out.Principals, page.Principals...)
			out.NextCursor = page.NextCursor
			if !*all || page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if out.Principals == nil {
			out.Principals = []client.Record{}
		}
		return show(out, nil, func(w io.Writer) { writePrincipals(w, &out) })
	}
}

func writePrincipals(w io.Writer, out *client.PrincipalList) {
	row(w, "PRINCIPAL", "TYPE", "ORG", "SCORE", "LEVEL", "TREND", "REVIEW", "ACTIVE", "OVERDUE")
	for i := range out.Principals {
		r := &out.Principals[i]
		row(w, r.PrincipalID, r.PrincipalType, r.OrgID, r.TrustScore, r.TrustLevel, r.TrustTrend, r.RequiresReview, r.IsActive,
			r.AssessmentOverdue)
	}
	if out.NextCursor != "" {
		fmt.Fprintf(w, "\nMore: --cursor %s (or --all)\n", out.NextCursor)
	}
}

func principalHistory(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
	h, _, err := cl.History(ctx, pos[0], opts)
	return show(h, err, func(w io.Writer) {
		row(w, "TIMESTAMP", "SCORE")
		for _, p := range h.History {
			row(w, p.Timestamp, p.Score)
		}
	})
}

func principalEvents(fs *flag.FlagSet, _ *cli) query {
	page := addPageFlags(fs, "only entries after this ledger sequence `SEQ`")
	return func(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
		ev, _, err := cl.Events(ctx, pos[0], *page, opts)
		return show(ev, err, func(w io.Writer) { writeEntries(w, ev.Entries, ev.Next) })
	}
}

// addPageFlags registers --after (described by after) and --limit.
func addPageFlags(fs *flag.FlagSet, after string) *client.Page {
	var page client.Page
	fs.Uint64Var(&page.After, "after", 0, after)
	fs.IntVar(&page.Limit, "limit", 0, "at most `N` entries (server default when 0)")
	return &page
}

// writeEntries prints ledger entries as a table.
func writeEntries(w io.Writer, entries []client.LedgerEntry, next uint64) {
	row(w, "SEQ", "INDEX", "TIME", "KIND", "STATUS", "ACTOR", "SUBJECTS", "ERROR")
	for _, e := range entries {
		row(w, e.Sequence, e.Index, e.Time, e.Kind, e.Status, e.Actor, strings.Join(e.Subjects, ","), e.Error)
	}
	if next > 0 && len(entries) > 0 {
		fmt.Fprintf(w, "\nMore: --after %d\n", next)
	}
}

func orgSet(fs *flag.FlagSet, _ *cli) prepare {
	base := fs.String("base", "", "baseTrustScore in points (required)")
	name := fs.String("name", "", "display name")
	return func(pos []string) (call, error) {
		if *base == "" {
			return nil, usagef("--base is required")
		}
		b, err := number("base", *base)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.PutOrg(ctx, pos[0], client.OrgSpec{BaseTrustScore: b, Name: *name})
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Organization %s baseline set to %s at index %d.\n", pos[0], b, res.Index)
			})
		}, nil
	}
}

func orgGet(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
	o, _, err := cl.GetOrg(ctx, pos[0], opts)
	return show(o, err, func(w io.Writer) {
		row(w, "ORG", "NAME", "BASELINE", "UPDATED")
		row(w, o.OrgID, o.Name, o.BaseTrustScore, o.UpdatedAt)
	})
}
