package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trustledger/trustledger/api/client"
	"github.com/trustledger/trustledger/fsm"
)

// simulateInput is the body of POST /v1/simulate: hypothetical signals and
// a factor report for one principal. Nothing is written.
type simulateInput struct {
	PrincipalID string            `json:"principalId"`
	Signals     []json.RawMessage `json:"signals"`
	Factors     *factorsInput     `json:"factors"`
}

func (s *Server) simulate(w http.ResponseWriter, r *http.Request) error {
	var in simulateInput
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	var errs fieldErrors
	id := errs.id("principalId", in.PrincipalID, true)
	var cmds []fsm.Command
	if len(in.Signals) > fsm.MaxSignalsPerCmd {
		errs.invalid("signals", "at most %d signals", fsm.MaxSignalsPerCmd)
	}
	var sigs []fsm.Signal
	for i, raw := range in.Signals {
		prefix := fmt.Sprintf("signals[%d].", i)
		var si signalInput
		if err := decodeStrict(raw, &si, prefix); err != nil {
			errs.merge(err)
			continue
		}
		sig := si.signal(&errs, prefix, false)
		if sig.EventID == "" {
			sig.EventID = fmt.Sprintf("simulated-%d", i)
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) > 0 {
		cmds = append(cmds, &fsm.RecordSignals{Signals: sigs})
	}
	if in.Factors != nil {
		cmds = append(cmds, in.Factors.command(&errs, "factors.", id))
	}
	if err := errs.err(); err != nil {
		return err
	}
	noteSubject(r, id)
	t := s.evalTime(w, r)
	before, ok := s.ledger().Record(id, t)
	if !ok {
		return s.requirePrincipal(id, "principalId")
	}
	after, results, ok := s.ledger().Simulate(id, cmds, t)
	if !ok {
		return s.requirePrincipal(id, "principalId")
	}
	out := client.Simulation{
		PrincipalID: id,
		Before:      client.SimulatedScore{TrustScore: before.TrustScore, TrustLevel: before.TrustLevel, ScoreComponents: before.ScoreComponents},
		Record:      after,
		Delta:       after.TrustScore - before.TrustScore,
		Signals:     []fsm.SignalResult{},
	}
	out.Baseline = out.Before // the deprecated name, until API v2
	for i, res := range results {
		switch cmds[i].(type) {
		case *fsm.RecordSignals:
			if res.Signals != nil {
				out.Signals = res.Signals
			}
		case *fsm.ReportFactors:
			out.Factors = &client.SimulatedStep{Status: "applied"}
			if res.Err != nil {
				out.Factors = &client.SimulatedStep{Status: "rejected", Reason: res.Err.Error()}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
