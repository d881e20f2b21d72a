package api

import (
	"net/http"

	"github.com/trustledger/trustledger/fsm"
)

// statusView is the answer to GET /v1/status.
type statusView struct {
	NodeID        string `json:"nodeId"`
	State         string `json:"state"`
	LeaderID      string `json:"leaderId"`
	LeaderAddr    string `json:"leaderAddr,omitempty"`
	AppliedIndex  uint64 `json:"appliedIndex"`
	Digest        string `json:"digest"`
	Region        string `json:"region"`
	Sequence      uint64 `json:"sequence"`
	LedgerTime    string `json:"ledgerTime"`
	Principals    int    `json:"principals"`
	Producers     int    `json:"producers"`
	PolicyVersion int64  `json:"policyVersion"`
	ModelVersion  int    `json:"modelVersion"`
	// LastContact is milliseconds since the node last heard from the
	// leader: 0 on the leader, -1 when it never has.
	LastContact int64        `json:"lastContact"`
	Counters    fsm.Counters `json:"counters"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	st := s.ledger().Status()
	leaderID, leaderAddr := s.node.Leader()
	v := statusView{
		NodeID: s.node.NodeID(), State: s.node.State(), LeaderID: leaderID, LeaderAddr: leaderAddr,
		AppliedIndex: st.AppliedIndex, Digest: st.Digest, Region: s.node.Region(), Sequence: st.Sequence,
		LedgerTime: fsm.FormatTime(st.LedgerTime), Principals: st.Principals, Producers: st.Producers, PolicyVersion: st.PolicyVersion,
		ModelVersion: st.ModelVersion, Counters: st.Counters,
	}
	s.setReadHeaders(w)
	v.LastContact = s.lastContactMS()
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 when the node knows a leader and its state machine is
// within cfg.ReadyMaxLag entries of the commit index, else 503.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	leaderID, _ := s.node.Leader()
	applied := s.node.AppliedIndex()
	out := map[string]any{"nodeId": s.node.NodeID(), "state": s.node.State(), "leaderId": leaderID, "appliedIndex": applied}
	var reason string
	commit := s.node.CommitIndex()
	out["commitIndex"] = commit
	if commit > applied+s.cfg.ReadyMaxLag {
		reason = "the state machine is catching up with the commit index"
	}
	if s.cluster != nil && !s.cluster.CaughtUp() && reason == "" {
		reason = "the node is catching up with what the cluster committed before it started"
	}
	if leaderID == "" {
		reason = "no leader is known"
	}
	if reason != "" {
		p := newProblem(ProblemNotReady, "", "%s", reason)
		p.retryAfter = 1
		writeProblem(w, r, p)
		return nil
	}
	out["status"] = "ready"
	writeJSON(w, http.StatusOK, out)
	return nil
}
