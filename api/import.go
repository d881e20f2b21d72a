package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/trustledger/trustledger/api/client"
)

// maxImportRecords bounds the records of one import request.
const maxImportRecords = 1000

// splitImport reads an import body: one record, an array of records, or
// {"records": [...]}. batch is false for a single record.
func splitImport(body []byte) (raws []json.RawMessage, batch bool, err error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return nil, false, newProblem(ProblemMalformedJSON, "", "the request body is empty")
	}
	if !json.Valid(t) {
		var v any
		return nil, false, decodeProblem(json.Unmarshal(t, &v), "", t)
	}
	prefix := "" // fields are named records[i].x in a batch given as an array too
	if jsonKind(t) == "array" {
		prefix = "records."
	}
	if err := checkBody(t, prefix); err != nil {
		return nil, false, err
	}
	switch jsonKind(t) {
	case "array":
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, false, decodeProblem(err, "", t)
		}
		batch = true
	case "object":
		var top map[string]json.RawMessage
		if err := json.Unmarshal(t, &top); err != nil {
			return nil, false, decodeProblem(err, "", t)
		}
		list, envelope := top["records"]
		if !envelope {
			return []json.RawMessage{t}, false, nil
		}
		if len(top) != 1 {
			for k := range top {
				if k != "records" {
					return nil, false, withCode(newProblem(ProblemUnknownField, k,
						"%s: unknown field; a batch is {\"records\": [...]} and nothing else", k), "unknown")
				}
			}
		}
		if jsonKind(list) != "array" {
			return nil, false, withCode(newProblem(ProblemInvalidField, "records", "records: must be an array"), "type")
		}
		if err := json.Unmarshal(list, &raws); err != nil {
			return nil, false, decodeProblem(err, "records", list)
		}
		batch = true
	default:
		return nil, false, withCode(newProblem(ProblemInvalidField, "", "the body must be a record, an array of records "+
			"or {\"records\": [...]}"), "type")
	}
	if len(raws) == 0 || len(raws) > maxImportRecords {
		return nil, false, withCode(newProblem(ProblemInvalidField, "records", "records: need 1 to %d records, got %d",
			maxImportRecords, len(raws)), "invalid")
	}
	return raws, batch, nil
}

func (s *Server) importRecords(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	raws, batch, err := splitImport(body)
	if err != nil {
		return err
	}
	pol := s.ledger().Policy()
	var errs fieldErrors
	recs := make([]*importedRecord, 0, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		prefix := ""
		if batch {
			prefix = fmt.Sprintf("records[%d].", i)
		}
		rec := parseImportRecord(raw, prefix, &pol, s.stamp(), &errs)
		if rec == nil {
			continue
		}
		if id := rec.cmd.PrincipalID; id != "" && seen[id] {
			errs.invalid(prefix+"principalId", "principal %q appears twice in this import", id)
		}
		seen[rec.cmd.PrincipalID] = true
		recs = append(recs, rec)
	}
	if err := errs.err(); err != nil {
		return err
	}
	if err := s.requireLeader(); err != nil {
		return err
	}
	if !batch {
		return s.importOne(w, r, recs[0])
	}
	results := make([]client.ImportedRecord, 0, len(recs))
	var last uint64
	imported := 0
	for _, rec := range recs {
		res := client.ImportedRecord{PrincipalID: rec.cmd.PrincipalID, Warnings: rec.warnings}
		out, err := s.proposeChecked(r, rec.cmd)
		if err != nil {
			p := problemFor(err)
			if p.Status >= 500 {
				// The node cannot commit any more: stop, reporting what
				// was imported so far.
				return err
			}
			res.Status, res.Code, res.Field, res.Reason = client.ImportRejected, p.Code, p.Field, p.Detail
			if out != nil {
				res.Index, last = out.Index, out.Index
			}
		} else {
			res.Status, res.Index, last = client.ImportImported, out.Index, out.Index
			imported++
		}
		results = append(results, res)
	}
	status := http.StatusOK
	if imported == len(recs) {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"index": last, "imported": imported, "results": results})
	return nil
}

// importOne imports a single record: 201 with the record, or a problem.
func (s *Server) importOne(w http.ResponseWriter, r *http.Request, rec *importedRecord) error {
	id := rec.cmd.PrincipalID
	noteSubject(r, id)
	res, err := s.proposeChecked(r, rec.cmd)
	if err != nil {
		return err
	}
	out := map[string]any{"index": res.Index, "imported": 1,
		"results": []client.ImportedRecord{{PrincipalID: id, Status: client.ImportImported, Index: res.Index, Warnings: rec.warnings}}}
	if record, ok := s.ledger().Record(id, s.evalTime(w, r)); ok {
		out["record"] = record
	}
	w.Header().Set("Location", "/v1/principals/"+id)
	writeJSON(w, http.StatusCreated, out)
	return nil
}
