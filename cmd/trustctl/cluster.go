package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/trustledger/trustledger/api/client"
)

func clusterCommand() *command {
	return &command{name: "cluster", subs: []*command{
		{name: "join", args: "--node-id ID --raft-addr HOST:PORT --api-addr URL [--gossip-addr HOST:PORT] [--voter=false] [--region R] [--wait 15s]",
			summary: "add a node to the cluster through any member (--addr); --voter=false adds a read replica", run: clusterJoin},
		{name: "members", args: "", summary: "list the members: region, role, gossip state, applied index and lag", run: clusterMembers},
		{name: "remove", args: "NODE_ID", summary: "remove a node from the cluster (refused if a quorum would be lost)", run: clusterRemove},
		{name: "transfer-leadership", args: "[NODE_ID]", summary: "hand leadership to a voter (default: the most up-to-date one)", run: clusterTransfer},
		{name: "status", args: "", summary: "the cluster's health: leader, quorum, failure tolerance, lag", run: clusterStatus},
	}}
}

func clusterJoin(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl cluster join")
	var req client.JoinRequest
	fs.StringVar(&req.NodeID, "node-id", "", "the joining node's `ID` (its --node-id; required)")
	fs.StringVar(&req.RaftAddr, "raft-addr", "", "the joining node's Raft `HOST:PORT`, as other nodes dial it (required)")
	fs.StringVar(&req.APIAddr, "api-addr", "", "the joining node's API `URL`, such as http://10.0.0.2:8470 (required)")
	fs.StringVar(&req.GossipAddr, "gossip-addr", "", "the joining node's gossip `HOST:PORT`; the leader contacts it")
	fs.StringVar(&req.Region, "region", "", "the joining node's region")
	voter := fs.Bool("voter", true, "join as a voter; --voter=false joins a read replica (a Raft non-voter)")
	wait := fs.Duration("wait", 15*time.Second, "retry this long while the member answers 503 (no leader yet, or it does not know the leader's address yet); 0 tries once")
	_, err := c.parseArgs(fs, args, clusterCommand().subs[0].args, 0, "")
	if err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--node-id", req.NodeID}, {"--raft-addr", req.RaftAddr}, {"--api-addr", req.APIAddr}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	req.Voter = voter
	cl, err := c.connect()
	if err != nil {
		return err
	}
	// Joining is idempotent, so retrying it is safe.
	deadline := time.Now().Add(*wait)
	res, err := cl.Join(ctx, req)
	for err != nil && client.StatusCode(err) == 503 && time.Now().Before(deadline) {
		pause := time.Second
		var pe *client.Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 && pe.RetryAfter < pause {
			pause = pe.RetryAfter
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(pause, time.Until(deadline))):
		}
		res, err = cl.Join(ctx, req)
	}
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		role := "voter"
		if !*voter {
			role = "read replica"
		}
		switch res.Action {
		case client.JoinAdded:
			fmt.Fprintf(w, "Node %s joined as a %s at index %d (leader %s).\n", req.NodeID, role, res.Index, res.LeaderID)
		case client.JoinPromoted, client.JoinDemoted:
			fmt.Fprintf(w, "Node %s %s to %s at index %d (leader %s).\n", req.NodeID, res.Action, role, res.Index, res.LeaderID)
		default:
			fmt.Fprintf(w, "Node %s is already a member as a %s; nothing changed.\n", req.NodeID, role)
		}
	})
}

func clusterMembers(ctx context.Context, c *cli, args []string) error {
	cl, view, err := c.clusterView(ctx, "trustctl cluster members", args)
	if err != nil {
		return err
	}
	return c.emit(view, func(w io.Writer) {
		row(w, "NODE", "REGION", "ROLE", "SUFFRAGE", "STATE", "GOSSIP", "APPLIED", "LAG", "LAST CONTACT", "API", "RAFT")
		for _, m := range view.Members {
			id := m.ID
			if m.Leader {
				id += " *"
			}
			state, applied, lag := m.State, "", ""
			if m.Reachable {
				applied = fmt.Sprint(m.AppliedIndex)
				if m.Lag >= 0 {
					lag = fmt.Sprint(m.Lag)
				}
			} else {
				state = "unreachable"
			}
			row(w, id, m.Region, m.Role, m.Suffrage, state, m.Gossip, applied, lag, contact(m), m.APIAddr, m.RaftAddr)
		}
		fmt.Fprintf(w, "\n* leader. Seen from %s at %s.\n", view.NodeID, cl.Address())
	})
}

func contact(m client.ClusterMember) string {
	switch {
	case !m.Reachable:
		return ""
	case m.State == "leader":
		return "-"
	case m.LastContact < 0:
		return "never"
	}
	return (time.Duration(m.LastContact) * time.Millisecond).String() + " ago"
}

func (c *cli) clusterView(ctx context.Context, name string, args []string) (*client.Client, *client.Cluster, error) {
	fs := c.flagSet(name)
	pos, err := c.parse(fs, args, "")
	if err != nil {
		return nil, nil, err
	}
	if err := need(pos, 0, ""); err != nil {
		return nil, nil, err
	}
	cl, err := c.connect()
	if err != nil {
		return nil, nil, err
	}
	view, err := cl.Cluster(ctx)
	return cl, view, err
}

func clusterRemove(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl cluster remove")
	pos, err := c.parseArgs(fs, args, "NODE_ID", 1, "NODE_ID")
	if err != nil {
		return err
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	if err := cl.RemoveNode(ctx, pos[0]); err != nil {
		return err
	}
	out := map[string]any{"nodeId": pos[0], "removed": true}
	return c.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "Node %s removed from the cluster. Stop it if it still runs; it may join again later.\n", pos[0])
	})
}

func clusterTransfer(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("trustctl cluster transfer-leadership")
	pos, err := c.parse(fs, args, "[NODE_ID]")
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("too many arguments: %s", strings.Join(pos[1:], " "))
	}
	id := ""
	if len(pos) == 1 {
		id = pos[0]
	}
	cl, err := c.connect()
	if err != nil {
		return err
	}
	res, err := cl.TransferLeadership(ctx, id)
	if err != nil {
		return err
	}
	return c.emit(res, func(w io.Writer) {
		fmt.Fprintf(w, "Leadership moved from %s to %s.\n", res.PreviousLeaderID, res.LeaderID)
	})
}

// clusterHealth is trustctl cluster status's summary.
type clusterHealth struct {
	Healthy          bool           `json:"healthy"`
	LeaderID         string         `json:"leaderId"`
	Term             uint64         `json:"term"`
	Voters           int            `json:"voters"`
	Replicas         int            `json:"replicas"`
	Quorum           int            `json:"quorum"`
	FailureTolerance int            `json:"failureTolerance"`
	Unreachable      []string       `json:"unreachable"`
	MaxLag           int64          `json:"maxLag"`
	Regions          map[string]int `json:"regions"`
	CommitIndex      uint64         `json:"commitIndex"`
	SeenFrom         string         `json:"seenFrom"`
}

func clusterStatus(ctx context.Context, c *cli, args []string) error {
	_, view, err := c.clusterView(ctx, "trustctl cluster status", args)
	if err != nil {
		return err
	}
	h := clusterHealth{LeaderID: view.LeaderID, Term: view.Term, Voters: view.Voters, Quorum: view.Quorum,
		FailureTolerance: view.FailureTolerance, Unreachable: []string{}, Regions: map[string]int{},
		CommitIndex: view.CommitIndex, SeenFrom: view.NodeID}
	for _, m := range view.Members {
		if m.Suffrage == "none" {
			continue
		}
		if m.Suffrage == "nonvoter" {
			h.Replicas++
		}
		h.Regions[m.Region]++
		if !m.Reachable {
			h.Unreachable = append(h.Unreachable, m.ID)
		}
		h.MaxLag = max(h.MaxLag, m.Lag)
	}
	h.Healthy = h.LeaderID != "" && len(h.Unreachable) == 0
	err = c.emit(h, func(w io.Writer) {
		health := "healthy"
		if !h.Healthy {
			health = "DEGRADED"
		}
		leader := h.LeaderID
		if leader == "" {
			leader = "none (no quorum, or an election is under way)"
		}
		regions := make([]string, 0, len(h.Regions))
		for r, n := range h.Regions {
			regions = append(regions, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(regions)
		row(w, "Cluster", health)
		row(w, "Leader", fmt.Sprintf("%s (term %d)", leader, h.Term))
		row(w, "Voters", fmt.Sprintf("%d (quorum %d, %d more may fail)", h.Voters, h.Quorum, h.FailureTolerance))
		row(w, "Read replicas", h.Replicas)
		row(w, "Regions", strings.Join(regions, ", "))
		row(w, "Unreachable", strings.Join(h.Unreachable, ", "))
		row(w, "Max lag", fmt.Sprintf("%d entries", h.MaxLag))
		row(w, "Commit index", h.CommitIndex)
		row(w, "Seen from", h.SeenFrom)
	})
	if err == nil && !h.Healthy {
		return &silentError{exitError}
	}
	return err
}
