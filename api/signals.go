package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/trustledger/trustledger/fsm"
)

// signalInput is one signal of POST /v1/signals.
type signalInput struct {
	EventID     string  `json:"eventId"`
	PrincipalID string  `json:"principalId"`
	Event       string  `json:"event"`
	Category    string  `json:"category"`
	Impact      decimal `json:"impact"`
	ObservedAt  string  `json:"observedAt"`
	Attributes  jsonDoc `json:"attributes"`
}

// signal validates one signal; field names in faults start with prefix.
// eventId is required unless generated is true.
func (in *signalInput) signal(errs *fieldErrors, prefix string, eventIDRequired bool) fsm.Signal {
	sig := fsm.Signal{
		EventID:     errs.text(prefix+"eventId", in.EventID, eventIDRequired, fsm.MaxIDLen),
		PrincipalID: errs.id(prefix+"principalId", in.PrincipalID, true),
		Event:       errs.text(prefix+"event", in.Event, true, fsm.MaxEventNameLen),
		ObservedAt:  errs.timestamp(prefix+"observedAt", in.ObservedAt, false),
		Attributes:  in.Attributes.bytesOf(errs, prefix+"attributes", '{', fsm.MaxJSONFieldBytes),
	}
	sig.Category = errs.category(prefix+"category", in.Category, true)
	sig.Impact = errs.scaled(prefix+"impact", in.Impact, true, -maxPoints, maxPoints).V
	if sig.Impact%1000 != 0 {
		// The ledger keeps signal impacts in milli-points.
		errs.invalid(prefix+"impact", "at most three decimal places, got %s", in.Impact.text)
	}
	return sig
}

// producerInput is the producer session of an idempotent batch.
type producerInput struct {
	ID       string `json:"id"`
	Epoch    int64  `json:"epoch"`
	Sequence uint64 `json:"sequence"`
}

func (p *producerInput) producer(errs *fieldErrors) *fsm.Producer {
	if p == nil {
		return nil
	}
	out := &fsm.Producer{ID: errs.id("producer.id", p.ID, true), Epoch: p.Epoch, Sequence: p.Sequence}
	if p.Epoch < 1 {
		errs.invalid("producer.epoch", "must be the session's start, a positive Unix time in milliseconds")
	}
	if p.Sequence < 1 {
		errs.invalid("producer.sequence", "must be positive: the batch's number in the session, from 1")
	}
	return out
}

// parseSignals decodes a signals request: {"signals": [...]}, with an
// optional "producer" session, or one bare signal object. Every signal is
// validated; any fault rejects the whole request.
func parseSignals(body []byte, eventIDRequired bool) ([]fsm.Signal, []string, error) {
	c, prefixes, err := parseSignalBatch(body, eventIDRequired)
	if err != nil {
		return nil, nil, err
	}
	return c.Signals, prefixes, nil
}

// parseSignalBatch is parseSignals with the batch's producer.
func parseSignalBatch(body []byte, eventIDRequired bool) (*fsm.RecordSignals, []string, error) {
	if c, prefixes, ok := parseSignalBatchFast(body, eventIDRequired); ok {
		return c, prefixes, nil
	}
	sigs, prefixes, producer, err := parseSignalsCarefully(body, eventIDRequired)
	if err != nil {
		return nil, nil, err
	}
	return &fsm.RecordSignals{Signals: sigs, Producer: producer}, prefixes, nil
}

// parseSignalsCarefully decodes a signals request field by field, naming
// the field at fault.
func parseSignalsCarefully(body []byte, eventIDRequired bool) ([]fsm.Signal, []string, *fsm.Producer, error) {
	var top map[string]json.RawMessage
	if err := decodeStrict(body, &top, ""); err != nil {
		return nil, nil, nil, err
	}
	var raws []json.RawMessage
	prefixes := []string{}
	var errs fieldErrors
	var producer *fsm.Producer
	if list, batch := top["signals"]; batch {
		for k := range top {
			if k != "signals" && k != "producer" {
				return nil, nil, nil, withCode(newProblem(ProblemUnknownField, k,
					"%s: unknown field; a batch is {\"signals\": [...]}, with an optional \"producer\"", k), "unknown")
			}
		}
		if raw, ok := top["producer"]; ok {
			var in producerInput
			if err := decodeStrict(raw, &in, "producer."); err != nil {
				return nil, nil, nil, err
			}
			producer = in.producer(&errs)
		}
		if jsonKind(list) != "array" {
			return nil, nil, nil, withCode(newProblem(ProblemInvalidField, "signals", "signals: must be an array, got %s",
				jsonKind(list)), "type")
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return nil, nil, nil, decodeProblem(err, "signals", list)
		}
		if len(raws) == 0 || len(raws) > fsm.MaxSignalsPerCmd {
			return nil, nil, nil, withCode(newProblem(ProblemInvalidField, "signals", "signals: need 1 to %d signals, got %d",
				fsm.MaxSignalsPerCmd, len(raws)), "invalid")
		}
		for i := range raws {
			prefixes = append(prefixes, fmt.Sprintf("signals[%d].", i))
		}
	} else {
		raws = []json.RawMessage{bytes.TrimSpace(body)}
		prefixes = append(prefixes, "")
	}
	out := make([]fsm.Signal, 0, len(raws))
	for i, raw := range raws {
		var in signalInput
		if err := decodeStrict(raw, &in, prefixes[i]); err != nil {
			errs.merge(err)
			continue
		}
		out = append(out, in.signal(&errs, prefixes[i], eventIDRequired))
	}
	return out, prefixes, producer, errs.err()
}

// parseSignalBatchFast decodes a well-formed batch in one pass — scanned
// without reflection when it has the common shape (scanSignalBatch), else
// strictly decoded. Any fault — malformed JSON, an unknown field, a bad
// value — makes it give up (ok false) so that the careful path above can
// name the field at fault; well-formed batches, the common case, never pay
// for that.
func parseSignalBatchFast(body []byte, eventIDRequired bool) (*fsm.RecordSignals, []string, bool) {
	var batch struct {
		Producer json.RawMessage `json:"producer"`
		Signals  []signalInput   `json:"signals"`
	}
	var scanned *producerInput
	if in, producer, ok := scanSignalBatchProducer(body); ok {
		batch.Signals, scanned = in, producer
	} else if decodeStrict(body, &batch, "") != nil || batch.Producer != nil {
		// A producer the scanner did not read (null, another spelling,
		// another member order): the careful path decides, by the exact
		// name.
		return nil, nil, false
	}
	if len(batch.Signals) == 0 || len(batch.Signals) > fsm.MaxSignalsPerCmd {
		return nil, nil, false
	}
	var perrs fieldErrors
	producer := scanned.producer(&perrs)
	if perrs.err() != nil {
		return nil, nil, false
	}
	out := make([]fsm.Signal, len(batch.Signals))
	prefixes := make([]string, len(batch.Signals))
	for i := range batch.Signals {
		var errs fieldErrors
		out[i] = batch.Signals[i].signal(&errs, "", eventIDRequired)
		if errs.err() != nil {
			return nil, nil, false
		}
		prefixes[i] = "signals[" + strconv.Itoa(i) + "]."
	}
	return &fsm.RecordSignals{Signals: out, Producer: producer}, prefixes, true
}

// signalsResult is the answer to POST /v1/signals.
type signalsResult struct {
	Index   uint64             `json:"index"`
	Results []fsm.SignalResult `json:"results"`
}

func (s *Server) recordSignals(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	cmd, prefixes, err := parseSignalBatch(body, true)
	if err != nil {
		return err
	}
	if len(cmd.Signals) == 1 {
		noteSubject(r, cmd.Signals[0].PrincipalID)
	}
	if err := s.requireLeader(); err != nil {
		return err
	}
	if err := s.checkSignals(r, cmd, prefixes); err != nil {
		return err
	}
	res, err := s.propose(r, cmd)
	if err != nil {
		return err
	}
	out := signalsResult{Index: res.Index, Results: res.Signals}
	if out.Results == nil {
		out.Results = []fsm.SignalResult{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
