package main

import (
	"context"
	"fmt"
	"io"

	"github.com/trustledger/trustledger/api/client"
)

func alertsCommand() *command {
	return &command{name: "alerts", fallback: "list", subs: []*command{
		{name: "list", args: "[--status S] [--principal ID]",
			summary: "list trust alerts (also: trustctl alerts)", run: alertsList},
		{name: "review", args: "ALERT_ID --action acknowledge|dismiss|confirm-compromised|confirm-safe [--note TEXT]",
			summary: "record a review of an alert", run: alertsReview},
	}}
}

func alertsList(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl alerts list")
	var f client.AlertFilter
	fs.StringVar(&f.Status, "status", "", "open, acknowledged, dismissed, confirmed_compromised or confirmed_safe")
	fs.StringVar(&f.PrincipalID, "principal", "", "only alerts of this principal `ID`")
	rf := addReadFlags(fs, false)
	_, err := c.parseArgs(fs, args, alertsCommand().subs[0].args, 0, "")
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
	alerts, _, err := cl.Alerts(ctx, f, opts)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []client.Alert{}
	}
	return c.emit(map[string]any{"alerts": alerts}, func(w io.Writer) {
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

func alertsReview(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl alerts review")
	action := fs.String("action", "", "acknowledge, dismiss, confirm-compromised or confirm-safe (required)")
	note := fs.String("note", "", "reviewer's note")
	pos, err := c.parseArgs(fs, args, alertsCommand().subs[1].args, 1, "ALERT_ID")
	if err != nil {
		return err
	}
	switch *action {
	case client.ReviewAcknowledge, client.ReviewDismiss, client.ReviewConfirmCompromised, client.ReviewConfirmSafe:
	case "":
		return usagef("--action is required")
	default:
		return usagef("--action must be acknowledge, dismiss, confirm-compromised or confirm-safe, not %q", *action)
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.ReviewAlert(ctx, pos[0], client.Review{Action: *action, Note: *note})
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Alert %s: %s recorded at index %d.\n", pos[0], *action, res.Index)
		if res.Alert != nil {
			fmt.Fprintf(w, "Status now %s.\n", res.Alert.Status)
		}
	})
}
