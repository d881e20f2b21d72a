package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func alertsCommand() *command {
	alerts := group("alerts",
		&command{name: "list", args: "[--status S] [--principal ID]",
			summary: "list trust alerts (also: trustctl alerts)", setup: readsWith(false, alertsList)},
		&command{name: "review", args: "ALERT_ID --action acknowledge|dismiss|confirm-compromised|confirm-safe [--note TEXT]",
			summary: "record a review of an alert", pos: one("ALERT_ID"), setup: alertsReview},
	)
	alerts.fallback = "list"
	return alerts
}

func alertsList(fs *flag.FlagSet, _ *cli) query {
	var f client.AlertFilter
	fs.StringVar(&f.Status, "status", "", "open, acknowledged, dismissed, confirmed_compromised or confirmed_safe")
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
	action := fs.String("action", "", "acknowledge, dismiss, confirm-compromised or confirm-safe (required)")
	note := fs.String("note", "", "reviewer's note")
	return func(pos []string) (call, error) {
		switch *action {
		case client.ReviewAcknowledge, client.ReviewDismiss, client.ReviewConfirmCompromised, client.ReviewConfirmSafe:
		case "":
			return nil, usagef("--action is required")
		default:
			return nil, usagef("--action must be acknowledge, dismiss, confirm-compromised or confirm-safe, not %q", *action)
		}
		return func(ctx context.Context, cl *client.Client) (*output, error) {
			res, err := cl.ReviewAlert(ctx, pos[0], client.Review{Action: *action, Note: *note})
			return show(res, err, func(w io.Writer) {
				fmt.Fprintf(w, "Alert %s: %s recorded at index %d.\n", pos[0], *action, res.Index)
				if res.Alert != nil {
					fmt.Fprintf(w, "Status now %s.\n", res.Alert.Status)
				}
			})
		}, nil
	}
}
