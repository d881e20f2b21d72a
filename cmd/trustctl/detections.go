package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/trustledger/trustledger/api/client"
)

// Detections (docs/scoring.md, "12. Detections and review"): typed alerts
// with a source, a review state machine and the holds they place on a
// principal's decisions.

// detectionStates and detectionSources are the values --state and
// --source accept; the server checks them too, but a typo is a usage
// error before anything is sent.
var (
	detectionStates = []string{client.DetectionOpen, client.DetectionAcknowledged, client.DetectionRemediated,
		client.DetectionDismissed, client.DetectionConfirmedCompromised, client.DetectionConfirmedSafe}
	detectionSources = []string{client.SourceRule, client.SourceSignal, client.SourcePartner, client.SourceImport}
	reviewActions    = []string{client.ReviewAcknowledge, client.ReviewRemediate, client.ReviewDismiss,
		client.ReviewConfirmCompromised, client.ReviewConfirmSafe}
)

// checkOneOf is nil when v is empty or one of allowed, else the usage
// error naming them.
func checkOneOf(flagName, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return usagef("--%s must be %s, not %q", flagName, orList(allowed), v)
}

// orList is "a, b or c".
func orList(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}

func detectionsList(fs *flag.FlagSet, c *cli) prepare {
	var f client.DetectionFilter
	fs.StringVar(&f.State, "state", "", "only detections in this state: "+orList(detectionStates))
	fs.StringVar(&f.PrincipalID, "principal", "", "only detections of this principal `ID`")
	fs.StringVar(&f.Type, "type", "", "only detections of this type, e.g. sharp_drop or anomaly_score")
	fs.StringVar(&f.Source, "source", "", "only detections raised by this source: "+orList(detectionSources))
	rf := addReadFlags(fs, false)
	return func([]string) (call, error) {
		if err := checkOneOf("state", f.State, detectionStates); err != nil {
			return nil, err
		}
		if err := checkOneOf("source", f.Source, detectionSources); err != nil {
			return nil, err
		}
		opts, err := rf.options(c)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			ds, _, err := cl.Detections(ctx, f, opts)
			if ds == nil {
				ds = []client.Detection{}
			}
			return show(map[string]any{"detections": ds}, err, func(w io.Writer) { writeDetections(w, ds) })
		}, nil
	}
}

func writeDetections(w io.Writer, ds []client.Detection) {
	if len(ds) == 0 {
		fmt.Fprintln(w, "No detections.")
		return
	}
	row(w, "DETECTION", "PRINCIPAL", "TYPE", "SOURCE", "LEVEL", "STATE", "HOLDS", "DETECTED", "EVIDENCE")
	for _, d := range ds {
		row(w, d.DetectionID, d.PrincipalID, d.Type, d.Source, d.Level, d.State, d.Holds, d.DetectedAt, d.Evidence)
	}
}

func detectionGet(ctx context.Context, cl *client.Client, pos []string, opts *client.ReadOptions) (*output, error) {
	d, _, err := cl.Detection(ctx, pos[0], opts)
	return show(d, err, func(w io.Writer) { writeDetection(w, d) })
}

// writeDetection prints one detection and the transitions of its review.
func writeDetection(w io.Writer, d *client.Detection) {
	row(w, "Detection", d.DetectionID)
	row(w, "Principal", d.PrincipalID)
	row(w, "Type", fmt.Sprintf("%s (source %s, level %s)", d.Type, d.Source, d.Level))
	row(w, "State", d.State)
	holds := "no"
	if d.Holds {
		holds = "yes: the principal's decisions are held until it is remediated"
	}
	row(w, "Holds", holds)
	row(w, "Detected at", d.DetectedAt)
	row(w, "Events", d.EventIDs)
	row(w, "Evidence", d.Evidence)
	if len(d.Transitions) > 0 {
		fmt.Fprintln(w, "\nTransitions:")
		row(w, "  STATE", "AT", "BY", "REASON")
		for _, t := range d.Transitions {
			row(w, "  "+t.State, t.At, t.By, t.Reason)
		}
	}
}

func detectionReview(fs *flag.FlagSet, _ *cli) prepare {
	action := fs.String("action", "", orList(reviewActions)+" (required); "+
		"the state each sets (acknowledged, remediated, dismissed, confirmed_compromised, confirmed_safe) is accepted too")
	reason := fs.String("reason", "", "the reviewer's reason, kept in the detection's transitions")
	return func(pos []string) (call, error) {
		act, err := reviewAction(*action)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.ReviewDetection(ctx, pos[0], act, *reason)
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Detection %s: %s recorded at index %d.\n", pos[0], act, res.Index)
				if d := res.Detection; d != nil {
					fmt.Fprintf(w, "State now %s.\n", d.State)
					if d.Holds {
						fmt.Fprintf(w, "It holds %s's decisions until it is remediated.\n", d.PrincipalID)
					}
				}
			})
		}, nil
	}
}

// reviewAction checks --action of a review: an action, or the state it
// sets (confirmed_safe for confirm-safe).
func reviewAction(action string) (string, error) {
	if a, ok := client.ReviewActionFor(action); ok {
		action = a
	}
	switch {
	case action == "":
		return "", usagef("--action is required (%s)", orList(reviewActions))
	case !slices.Contains(reviewActions, action):
		return "", usagef("--action must be %s, not %q", orList(reviewActions), action)
	}
	return action, nil
}
